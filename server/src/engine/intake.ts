/**
 * inbox/ intake. A file is taken once it is complete:
 * - at first sight, when it arrived whole: renamed (or hard-linked) into the inbox rather than
 *   written there, and no process has it open for writing (openWriters.ts). "Renamed in" is known
 *   from the inbox's fs.watch (a file written in place gets `change` events, a renamed one only
 *   `rename`), for files that arrived while the watch ran, or from a ctime later than the mtime
 *   (the rename came after the last write). A file renamed in while its writer still holds it
 *   open is checked again on each scan and taken when the writer closes it, unless it changes;
 * - at first sight, when its mtime is already older than queue.intakeStableSeconds (a file that
 *   was there before the engine started);
 * - otherwise (written or copied in place, a filesystem where writers can hide such as NFS, an
 *   empty file): once its size, mtime and inode stayed unchanged for queue.intakeStableSeconds.
 * Dotfiles and names ending in .part, .tmp, ~ (and other partial-download suffixes) are never
 * taken, nor anything not ending in .jsonl. A symlink is followed only to a regular file inside
 * the inbox, and is copied, never moved through (and always waits for the stability window).
 *
 * admit() is shared with `enqueue`: the file is first moved (or copied) to a hidden staging name
 * in queue/, so the bytes that are validated are the bytes that are queued; then it is validated
 * with the config in force, hashed, and linked under its final, safe, unique name into queue/ or,
 * when it has errors, into failed/ with a reason file holding the diagnostics.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, copyFileSync, fsyncSync, linkSync, lstatSync, openSync, readFileSync, readdirSync, realpathSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import { toJsonDiagnostic, type ValidateOptions } from '../dataset/file';
import { validateFile } from '../dataset/stream';
import { candidateName, fsyncDir, moveNoClobber, writeJsonAtomic } from './atomic';
import { metaPath, nameTaken, sidecarNames, reasonPath, safeName, sha256File, writeMeta } from './datasets';
import { openWriters, writerKey, type Candidate } from './openWriters';
import type { RootPaths } from './paths';
import type { DatasetMeta } from './types';

const PARTIAL = /(\.part|\.tmp|~|\.crdownload|\.partial|\.swp|\.download)$/i;

/** Why a name alone keeps a file out (folders and symlinks are judged from the entry itself). */
export type IgnoreReason = 'hidden' | 'partial' | 'not-jsonl';

export function ignoredName(name: string): IgnoreReason | undefined {
  if (name.startsWith('.')) return 'hidden';
  if (PARTIAL.test(name)) return 'partial';
  if (!/\.jsonl$/i.test(name)) return 'not-jsonl';
  return undefined;
}

/** Why a name is never taken, in words for the log and `status`. */
export function ignoredNameWhy(why: IgnoreReason): string {
  switch (why) {
    case 'hidden': return 'its name starts with a dot, and hidden files are never taken (rename it without the leading dot)';
    case 'partial': return 'a partial or temporary name (.part, .tmp, ~, .crdownload, .partial, .swp, .download): taken once renamed to *.jsonl';
    case 'not-jsonl': return 'only *.jsonl files are taken';
  }
}

/**
 * Hidden and partial names are usually a writer's temporary file, renamed into place a moment
 * later (the safe way to drop a dataset): reported only when one stays this long.
 */
export const REPORT_TRANSIENT_AFTER_MS = 5000;

/**
 * Every inbox entry that is not taken, with why (for `status`; the engine logs the same words once
 * per entry). An entry still being written (a *.jsonl file not yet complete) is not listed: it will be taken.
 */
export function inboxNotTaken(inbox: string): { name: string; why: string }[] {
  let names: string[];
  try {
    names = readdirSync(inbox).sort();
  } catch {
    return [];
  }
  const out: { name: string; why: string }[] = [];
  for (const name of names) {
    const why = entryProblem(inbox, name);
    if (why) out.push({ name, why });
  }
  return out;
}

/** Why the entry `name` of the inbox cannot be taken, or undefined when it can (once complete). */
function entryProblem(inbox: string, name: string): string | undefined {
  const named = ignoredName(name);
  if (named) return ignoredNameWhy(named);
  const path = join(inbox, name);
  try {
    const l = lstatSync(path);
    if (l.isSymbolicLink()) {
      let target: string;
      try {
        target = realpathSync(path);
      } catch {
        return 'a symlink whose target does not exist';
      }
      if (!isInside(realpathSync(inbox), target)) return `a symlink to ${target}, outside the inbox: not followed`;
      if (!statSync(target).isFile()) return `a symlink to ${target}, which is not a regular file`;
      return undefined;
    }
    if (l.isDirectory()) return 'a folder: only regular files are taken';
    if (!l.isFile()) return 'not a regular file (a device, a socket or a pipe)';
  } catch {
    return undefined; // gone meanwhile
  }
  return undefined;
}

function isInside(dir: string, target: string): boolean {
  const rel = relative(dir, target);
  return !(rel === '' || rel.startsWith('..') || rel.startsWith(sep) || rel.includes(`..${sep}`));
}

/** A file of the inbox ready to be taken; `source` differs from `path` for a followed symlink. */
export interface Ready {
  readonly name: string;
  readonly path: string;
  readonly source: string;
  readonly symlink: boolean;
}

interface Seen {
  size: number;
  mtimeMs: number;
  ino: number;
  since: number;
  /** Arrived whole and not changed since: taken as soon as no process has it open for writing. */
  whole: boolean;
}

export class InboxWatcher {
  private readonly seen = new Map<string, Seen>();
  private readonly reported = new Set<string>();
  /** Hidden and partial names, with when they were first seen (monotonic ms). */
  private readonly transient = new Map<string, number>();
  /** Names with a `change` event (written in place) since the last scan. */
  private readonly changed = new Set<string>();
  /** Wall-clock ms since when the inbox's fs.watch reports changes; undefined while it does not. */
  private watchingSince: number | undefined;

  constructor(private readonly inbox: string, private readonly log: (msg: string) => void) {}

  /** The engine's fs.watch on the inbox started (true) or failed (false). */
  setWatching(on: boolean, nowWall: number = Date.now()): void {
    this.watchingSince = on ? nowWall : undefined;
  }

  /** An fs.watch event in the inbox. */
  noteEvent(type: string, name: string | null | undefined): void {
    if (type === 'change' && name) this.changed.add(name);
  }

  /** One scan: the files that are complete now. */
  scan(stableSeconds: number, nowMono: number = performance.now(), nowWall: number = Date.now()): Ready[] {
    let names: string[];
    try {
      names = readdirSync(this.inbox);
    } catch {
      return [];
    }
    const ready: Ready[] = [];
    const whole: (Candidate & { ready: Ready; entry: Seen })[] = [];
    const present = new Set(names);
    for (const k of this.seen.keys()) if (!present.has(k)) this.seen.delete(k);
    for (const k of this.transient.keys()) if (!present.has(k)) this.transient.delete(k);
    // A name that left and came back is reported again.
    for (const k of this.reported) if (!present.has(k)) this.reported.delete(k);
    const stableMs = stableSeconds * 1000;
    for (const name of names.sort()) {
      const why = ignoredName(name);
      if (why) {
        if (why === 'hidden' || why === 'partial') {
          // A writer's temporary name is usually renamed a moment later: reported only if it stays.
          const first = this.transient.get(name) ?? nowMono;
          this.transient.set(name, first);
          if (nowMono - first < REPORT_TRANSIENT_AFTER_MS) continue;
        }
        this.once(name, `inbox/${name}: not taken: ${ignoredNameWhy(why)}`);
        continue;
      }
      const path = join(this.inbox, name);
      let source = path;
      let symlink = false;
      let st;
      try {
        const l = lstatSync(path);
        if (l.isSymbolicLink()) {
          symlink = true;
          let target: string;
          try {
            target = realpathSync(path);
          } catch {
            this.once(name, `inbox/${name}: not taken: a symlink whose target does not exist`);
            continue;
          }
          if (!isInside(realpathSync(this.inbox), target)) {
            this.once(name, `inbox/${name}: not taken: a symlink to ${target}, outside the inbox: not followed`);
            continue;
          }
          source = target;
          st = statSync(target);
        } else st = l;
      } catch {
        continue;
      }
      if (!st.isFile()) {
        this.once(name, `inbox/${name}: not taken: ${st.isDirectory() ? (symlink ? 'a symlink to a folder' : 'a folder: only regular files are taken') : 'not a regular file (a device, a socket or a pipe)'}`);
        continue;
      }
      const r: Ready = { name, path, source, symlink };
      const writtenHere = this.changed.has(name);
      let entry = this.seen.get(name);
      if (!entry || entry.ino !== st.ino) {
        entry = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, since: nowMono, whole: !symlink && st.size > 0 && !writtenHere && this.arrivedByRename(st) };
        this.seen.set(name, entry);
        if (nowWall - st.mtimeMs >= stableMs) {
          ready.push(r);
          continue;
        }
      } else if (entry.size !== st.size || entry.mtimeMs !== st.mtimeMs) {
        // Written in the inbox: the stability window starts again.
        Object.assign(entry, { size: st.size, mtimeMs: st.mtimeMs, since: nowMono, whole: false });
        continue;
      } else {
        if (writtenHere) entry.whole = false;
        if (nowMono - entry.since >= stableMs) {
          ready.push(r);
          continue;
        }
      }
      if (entry.whole) whole.push({ name, st, ready: r, entry });
    }
    this.changed.clear();
    if (whole.length) {
      const writers = openWriters(this.inbox, whole);
      for (const w of whole) {
        const answer = writers.get(writerKey(w.st));
        if (answer === 'none') ready.push(w.ready);
        // `open`: asked again on the next scan; `unknown`: the stability window decides.
        else if (answer !== 'open') w.entry.whole = false;
      }
      ready.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    }
    return ready;
  }

  /**
   * Whether the file was renamed (or linked) into the inbox rather than written there: a ctime
   * later than its mtime (the rename came after the last write), or it arrived while the watch ran
   * (ctime not before the watch began) and the watch reported no change to it (checked by the caller).
   */
  private arrivedByRename(st: { ctimeMs: number; mtimeMs: number }): boolean {
    if (st.ctimeMs > st.mtimeMs) return true;
    return this.watchingSince !== undefined && st.ctimeMs >= this.watchingSince;
  }

  forget(name: string): void {
    this.seen.delete(name);
    this.reported.delete(name);
  }

  private once(name: string, msg: string): void {
    if (this.reported.has(name)) return;
    this.reported.add(name);
    this.log(msg);
  }
}

export interface AdmitOptions {
  /** move: the source is taken away (inbox); copy: the source stays (enqueue of a file elsewhere). */
  readonly mode: 'move' | 'copy';
  readonly originalName: string;
  readonly priority: number;
  readonly validate: ValidateOptions;
  readonly commandId?: string;
}

export interface AdmitResult {
  readonly folder: 'queue' | 'failed';
  readonly name: string;
  readonly errors: number;
  readonly warnings: number;
  readonly examples: number;
  readonly message: string;
  /** How long validateFile took (the benchmark separates it from the engine's own latency). */
  readonly validateMs: number;
}

const STAGE_PREFIX = '.incoming-';

/** Validates and files one dataset. Throws on I/O failure (the source is then left where it was). */
export async function admit(p: RootPaths, source: string, o: AdmitOptions): Promise<AdmitResult> {
  const wanted = safeName(o.originalName);
  // The staging name records how to undo it after a crash: a moved file goes back to the inbox, a
  // copy is deleted (its enqueue command is still in control/ and will be applied again).
  const staged = join(p.queue, `${STAGE_PREFIX}${randomUUID()}.${o.mode}--${Buffer.from(wanted).toString('base64url')}`);
  if (o.mode === 'move') renameSync(source, staged);
  else {
    copyFileSync(source, staged);
    const fd = openSync(staged, 'r+');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  }
  try {
    const t0 = performance.now();
    const report = await validateFile(staged, o.validate, { workers: 1 });
    const validateMs = performance.now() - t0;
    const sha256 = await sha256File(staged);
    const size = statSync(staged).size;
    const folder = report.errors > 0 ? 'failed' : 'queue';
    const meta: DatasetMeta = {
      priority: o.priority,
      attempts: 0,
      added: new Date().toISOString(),
      sha256,
      size,
      examples: report.examples,
      ...(wanted !== o.originalName && { originalName: o.originalName }),
      ...(o.commandId && { commandId: o.commandId }),
    };
    const dir = p[folder];
    let failure = '';
    const reasonFor = (name: string): object => {
      const diags = report.diagnostics.map((d) => toJsonDiagnostic(`failed/${name}`, d));
      const first = diags.find((d) => d.severity === 'error');
      failure = `${report.errors} error${report.errors === 1 ? '' : 's'} in the dataset${first ? `; first: line ${first.line}:${first.column} ${first.code}: ${first.message}` : ''}`;
      return { kind: 'invalid', message: failure, at: new Date().toISOString(), errors: report.errors, warnings: report.warnings, diagnostics: diags };
    };
    const name = placeWithMeta(p, staged, dir, wanted, meta, folder === 'failed' ? reasonFor : undefined);
    if (folder === 'failed') return { folder, name, errors: report.errors, warnings: report.warnings, examples: report.examples, message: failure, validateMs };
    return { folder, name, errors: 0, warnings: report.warnings, examples: report.examples, message: `queued as ${name} (${report.examples} examples, ${report.warnings} warnings)`, validateMs };
  } catch (e) {
    undoStaged(p, staged);
    throw e;
  }
}

/**
 * Links the staged file into `dir` under the first name free in every dataset folder. The sidecar
 * is written first, so whoever sees the dataset also sees its sidecar.
 */
function placeWithMeta(p: RootPaths, staged: string, dir: string, wanted: string, meta: DatasetMeta, reason?: (name: string) => object): string {
  for (let n = 1; ; n++) {
    const c = candidateName(wanted, n);
    if (nameTaken(p, c)) continue;
    writeMeta(dir, c, meta);
    if (reason) writeJsonAtomic(reasonPath(dir, c), reason(c));
    try {
      linkSync(staged, join(dir, c));
    } catch (e) {
      try { unlinkSync(metaPath(dir, c)); } catch { /* gone */ }
      if (reason) try { unlinkSync(reasonPath(dir, c)); } catch { /* gone */ }
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw e;
    }
    unlinkSync(staged);
    fsyncDir(dir);
    return c;
  }
}

function undoStaged(p: RootPaths, staged: string): void {
  const m = /\.incoming-[0-9a-f-]+\.(move|copy)--(.*)$/.exec(staged);
  try {
    if (m?.[1] === 'move') moveNoClobber(staged, p.inbox, Buffer.from(m[2] ?? '', 'base64url').toString() || 'dataset.jsonl');
    else unlinkSync(staged);
  } catch {
    // already gone
  }
}

/** At start: staging files left by a crash are undone. Returns how many. */
export function recoverStaged(p: RootPaths): number {
  let n = 0;
  let names: string[];
  try {
    names = readdirSync(p.queue);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (!name.startsWith(STAGE_PREFIX)) continue;
    undoStaged(p, join(p.queue, name));
    n++;
  }
  if (n) fsyncDir(p.queue);
  return n;
}

/** Where the dataset enqueued by this command is, if that enqueue already happened. */
export function findByCommandId(p: RootPaths, id: string, folders: readonly ('queue' | 'processing' | 'done' | 'failed')[] = ['queue', 'processing', 'done', 'failed']): { folder: string; name: string } | undefined {
  for (const f of folders) {
    for (const name of sidecarNames(p[f])) {
      try {
        const text = readFileSync(metaPath(p[f], name), 'utf8');
        if (text.includes(id) && (JSON.parse(text) as DatasetMeta).commandId === id) return { folder: f, name };
      } catch {
        // unreadable sidecar: not ours
      }
    }
  }
  return undefined;
}
