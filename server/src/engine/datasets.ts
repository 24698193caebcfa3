/**
 * Datasets on disk: safe names, sidecars, and moves between the folders. A dataset and its
 * `<name>.meta.json` move together (data first, then the sidecar); repairPairs mends a pair split
 * by a crash between the two renames.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, linkSync, readdirSync, renameSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { join, sep } from 'node:path';
import { candidateName, fsyncDir, readJsonQuiet, writeJsonAtomic } from './atomic';
import { DATASET_FOLDERS, META_SUFFIX, REASON_SUFFIX, isDatasetName, type DatasetFolder, type RootPaths } from './paths';
import type { DatasetMeta, QueueEntry } from './types';

const MAX_NAME_BYTES = 180;

/**
 * A file name safe to use in every folder: Unicode NFC, no path separators, no control characters
 * (NUL, newline…), no leading dot, at most 180 bytes, ending in .jsonl.
 */
export function safeName(raw: string): string {
  let s = raw.normalize('NFC');
  s = s.slice(Math.max(s.lastIndexOf('/'), s.lastIndexOf('\\')) + 1);
  s = s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '_').replace(/[<>:"|?*]/g, '_');
  s = s.replace(/^[.\s]+/, '').trim();
  if (!/\.jsonl$/i.test(s)) s = `${s.replace(/\.+$/, '')}.jsonl`;
  if (s === '.jsonl' || s === '') s = 'dataset.jsonl';
  while (Buffer.byteLength(s) > MAX_NAME_BYTES) {
    const stem = s.slice(0, -'.jsonl'.length);
    s = `${Array.from(stem).slice(0, -1).join('')}.jsonl`;
  }
  return s;
}

export function folderPath(p: RootPaths, f: DatasetFolder): string {
  return p[f];
}

export function metaPath(dir: string, name: string): string {
  return join(dir, name + META_SUFFIX);
}

export function reasonPath(dir: string, name: string): string {
  return join(dir, name + REASON_SUFFIX);
}

export function readMeta(dir: string, name: string): DatasetMeta | undefined {
  return readJsonQuiet<DatasetMeta>(metaPath(dir, name));
}

export function writeMeta(dir: string, name: string, meta: DatasetMeta): void {
  writeJsonAtomic(metaPath(dir, name), meta);
}

export function listDatasets(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((d) => (d.isFile() || d.isSymbolicLink()) && isDatasetName(d.name)).map((d) => d.name).sort();
  } catch {
    return [];
  }
}

/** The datasets of a folder with their sidecars; `cache` spares re-reading the unchanged ones (the engine's picks). */
export function listEntries(dir: string, cache?: SidecarCache): QueueEntry[] {
  const names = listDatasets(dir);
  cache?.keepOnly(dir, names);
  return names.map((name) => ({ name, meta: (cache ? cache.read(dir, name) : readMeta(dir, name)) ?? fallbackMeta() }));
}

/**
 * Sidecars read before, reused while the file is provably the same: same inode, size, mtime and
 * ctime. A stat instead of open, read, close and a JSON parse: the engine picks the next run
 * from every queued sidecar, and with 10,000 queued the reads took 60–150 ms per pick. A sidecar
 * changed less than a second before it was read is not kept (a second change within the
 * filesystem's timestamp granularity could otherwise go unseen); every write of a sidecar is a new
 * file (writeJsonAtomic), so its inode or ctime changes.
 */
export class SidecarCache {
  private readonly byDir = new Map<string, Map<string, { st: Stats; meta: DatasetMeta }>>();

  read(dir: string, name: string, nowWall: number = Date.now()): DatasetMeta | undefined {
    let entries = this.byDir.get(dir);
    if (!entries) this.byDir.set(dir, (entries = new Map()));
    let st;
    try {
      // Concatenated, not path.join: this runs for every queued dataset at every pick.
      st = statSync(`${dir}${sep}${name}${META_SUFFIX}`);
    } catch {
      entries.delete(name);
      return undefined;
    }
    const hit = entries.get(name);
    // The times as float ms keep sub-microsecond steps: finer than any filesystem's timestamps.
    if (hit && hit.st.ino === st.ino && hit.st.dev === st.dev && hit.st.size === st.size && hit.st.mtimeMs === st.mtimeMs && hit.st.ctimeMs === st.ctimeMs) return { ...hit.meta };
    const meta = readMeta(dir, name);
    if (meta && nowWall - st.ctimeMs > 1000) entries.set(name, { st, meta: { ...meta } });
    else entries.delete(name);
    return meta;
  }

  /** Forgets the sidecars of datasets no longer in `dir`. */
  keepOnly(dir: string, names: readonly string[]): void {
    const entries = this.byDir.get(dir);
    if (!entries || entries.size <= names.length) return;
    const present = new Set(names);
    for (const n of entries.keys()) if (!present.has(n)) entries.delete(n);
  }
}

export function fallbackMeta(): DatasetMeta {
  return { priority: 0, attempts: 0, added: new Date(0).toISOString(), sha256: '', size: 0, examples: 0 };
}

/** Whether a dataset of this name is anywhere in the dataset folders (names are unique across them). */
export function nameTaken(p: RootPaths, name: string): boolean {
  return DATASET_FOLDERS.some((f) => existsSync(join(p[f], name)) || existsSync(metaPath(p[f], name)));
}

/** The first of `name`, `name-2`… free in every dataset folder. */
export function uniqueName(p: RootPaths, name: string): string {
  for (let n = 1; ; n++) {
    const c = candidateName(name, n);
    if (!nameTaken(p, c)) return c;
  }
}

/**
 * Moves a dataset with its sidecar (and reason, if any) from one folder to another, keeping its
 * name where it is free there and never overwriting. Returns the name in the target folder.
 */
export function moveDataset(p: RootPaths, from: DatasetFolder, to: DatasetFolder, name: string, meta?: DatasetMeta, reason?: object): string {
  const src = p[from];
  const dst = p[to];
  const m = meta ?? readMeta(src, name) ?? fallbackMeta();
  // The sidecar goes first, so whoever sees the dataset in its new folder also sees its sidecar.
  let newName = name;
  for (let n = 1; ; n++) {
    newName = candidateName(name, n);
    if (existsSync(join(dst, newName)) || existsSync(metaPath(dst, newName)) || existsSync(reasonPath(dst, newName))) continue;
    writeMeta(dst, newName, m);
    if (reason) writeJsonAtomic(reasonPath(dst, newName), reason);
    try {
      linkSync(join(src, name), join(dst, newName));
      break;
    } catch (e) {
      try { unlinkSync(metaPath(dst, newName)); } catch { /* gone */ }
      if (reason) try { unlinkSync(reasonPath(dst, newName)); } catch { /* gone */ }
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  unlinkSync(join(src, name));
  fsyncDir(dst);
  try { unlinkSync(metaPath(src, name)); } catch { /* none */ }
  if (to !== 'failed') {
    try { unlinkSync(reasonPath(src, name)); } catch { /* none */ }
  }
  fsyncDir(src);
  return newName;
}

/**
 * After a crash between moving a dataset and its sidecar: a dataset without its sidecar gets the
 * one left behind in another folder, or a fresh one; a sidecar whose dataset is nowhere is kept
 * aside as .orphan. Returns what it mended.
 */
export function repairPairs(p: RootPaths): string[] {
  const fixed: string[] = [];
  for (const f of DATASET_FOLDERS) {
    for (const name of listDatasets(p[f])) {
      if (existsSync(metaPath(p[f], name))) continue;
      const other = DATASET_FOLDERS.find((g) => g !== f && existsSync(metaPath(p[g], name)) && !existsSync(join(p[g], name)));
      if (other) {
        renameSync(metaPath(p[other], name), metaPath(p[f], name));
        fixed.push(`${f}/${name}: its sidecar was left in ${other}/`);
      } else {
        writeMeta(p[f], name, { ...fallbackMeta(), added: new Date().toISOString() });
        fixed.push(`${f}/${name}: had no sidecar; a new one was written`);
      }
    }
  }
  for (const f of DATASET_FOLDERS) {
    for (const ds of sidecarNames(p[f])) {
      if (!DATASET_FOLDERS.some((g) => existsSync(join(p[g], ds)))) {
        const n = ds + META_SUFFIX;
        renameSync(join(p[f], n), join(p[f], `.${n}.orphan`));
        fixed.push(`${f}/${n}: a sidecar without its dataset, kept aside as .${n}.orphan`);
      }
    }
  }
  return fixed;
}

/** The dataset names whose sidecar (`<name>.meta.json`) is in `dir`; none when `dir` cannot be read. */
export function sidecarNames(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith(META_SUFFIX) && !n.startsWith('.')).map((n) => n.slice(0, -META_SUFFIX.length));
}

export function sha256File(path: string): Promise<string> {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path).on('data', (d) => h.update(d)).on('error', rej).on('end', () => res(h.digest('hex')));
  });
}
