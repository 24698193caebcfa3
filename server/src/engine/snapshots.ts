/**
 * Verified adapter snapshots and the live adapter pointer (docs/engine.md, "Snapshots and rollback").
 *
 *   snapshots/<id>/             a copy of a successful run's adapter + manifest.json
 *   snapshots/<id>.tmp/         being built (removed at the next start when left by a crash)
 *   snapshots/<id>.corrupt-<t>/ failed verification: moved aside, never used
 *   snapshots/.<id>.deleting/   being pruned (removed at the next start)
 *   snapshots/verified.json     {id: {ok, at, stamp}}: the last whole verification of each snapshot
 *   current.json                the live adapter pointer: current.ts owns it
 *
 * A snapshot is built under <id>.tmp: every file copied and fsynced, hashed into manifest.json,
 * read back and hashed again, checked against the base model (adapterCheck), then renamed into
 * place; only then does current.json switch to it. At each engine start the current snapshot, and
 * any other whose files' sizes, mtimes or inodes changed since it was last hashed whole, is hashed
 * again (rollback.ts hashes its target before using it); a corrupt one is moved aside, and a
 * current.json naming it falls back to the newest good one.
 */
import { closeSync, copyFileSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, join, relative, sep } from 'node:path';
import { checkAdapter, type AdapterReport } from './adapterCheck';
import { fsyncDir, fsyncFile, readJsonQuiet, writeJsonAtomic } from './atomic';
import { baseName, currentAdapter, currentUnreadable, readCurrent, setCurrent, setCurrentAside, type CurrentPointer } from './current';
import { baseIdFromPath, listModels, type LineageDataset } from './models';
import { MANIFEST, snapshotsDir, type RootPaths } from './paths';

export interface SnapshotManifest {
  version: 1;
  id: string;
  runId: string;
  created: string;
  /** Absolute path of the base model folder it was checked against. */
  baseModel: string;
  dataset: string;
  datasetSha256: string | null;
  step: number | null;
  loss: number | null;
  /** Where the adapter was copied from. */
  source: string;
  files: Record<string, { sha256: string; size: number }>;
  /** The model it was trained on: a models/ id, null for the config's baseModel (absent before consolidation existed). */
  base?: string | null;
  /** The snapshot it continued from (its run's init_adapter), or null. */
  parent?: string | null;
  /** The datasets trained into this adapter on its base, oldest first, itself last (parent's lineage + its own). */
  lineage?: LineageDataset[];
}

export interface SnapshotEntry {
  id: string;
  path: string;
  current: boolean;
  /** The last verification: true good, false bad, null never verified. */
  verified: boolean | null;
  verifiedAt: string | null;
  runId: string | null;
  step: number | null;
  loss: number | null;
  dataset: string | null;
  created: string | null;
  /** The model it was trained on (a models/ id), null for the config's baseModel. */
  base: string | null;
}

const verifiedFile = (p: RootPaths): string => join(snapshotsDir(p), 'verified.json');
/** `stamp`: the files' names, sizes, mtimes and inodes when the snapshot was last hashed whole. */
type VerifiedRecord = Record<string, { ok: boolean; at: string; stamp?: string }>;

/**
 * What changes when a file of the snapshot is replaced, cut or touched, without reading it: the
 * start-up check hashes again only a snapshot whose stamp moved (and always the current one).
 */
function filesStamp(dir: string): string {
  const h = createHash('sha256');
  for (const rel of listFiles(dir)) {
    const st = statSync(join(dir, rel));
    h.update(`${rel}\0${st.size}\0${Math.trunc(st.mtimeMs)}\0${st.ino}\n`);
  }
  return h.digest('hex');
}

function stamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

function isSnapshotName(n: string): boolean {
  return !n.startsWith('.') && !n.endsWith('.tmp') && !n.includes('.corrupt-') && n !== 'verified.json';
}

/** Every file under `dir`, relative, '/'-separated, sorted. Symbolic links are refused. */
function listFiles(dir: string, base: string = dir): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir).sort()) {
    const f = join(dir, n);
    const st = lstatSync(f);
    if (st.isDirectory()) out.push(...listFiles(f, base));
    else if (st.isFile()) out.push(relative(base, f).split(sep).join('/'));
    else throw new Error(`${relative(base, f)} is not a regular file`);
  }
  return out;
}

export function hashFile(file: string): { sha256: string; size: number } {
  const h = createHash('sha256');
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(1 << 20);
  let size = 0;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(n === buf.length ? buf : buf.subarray(0, n));
      size += n;
    }
  } finally {
    closeSync(fd);
  }
  return { sha256: h.digest('hex'), size };
}

export function readManifest(dir: string): SnapshotManifest | undefined {
  const m = readJsonQuiet<SnapshotManifest>(join(dir, MANIFEST));
  return m && typeof m === 'object' && m.files && typeof m.files === 'object' ? m : undefined;
}

/** Hashes every file of a snapshot against its manifest; returns the problems (none: good). */
export function verifySnapshot(dir: string): string[] {
  const m = readManifest(dir);
  if (!m) return [`${MANIFEST} is missing or unreadable`];
  const problems: string[] = [];
  let present: string[];
  try {
    present = listFiles(dir).filter((f) => f !== MANIFEST);
  } catch (e) {
    return [(e as Error).message];
  }
  for (const [f, want] of Object.entries(m.files)) {
    if (!present.includes(f)) {
      problems.push(`${f} is missing`);
      continue;
    }
    const got = hashFile(join(dir, f));
    if (got.size !== want.size) problems.push(`${f}: ${got.size} bytes, manifest says ${want.size}`);
    else if (got.sha256 !== want.sha256) problems.push(`${f}: sha256 differs from the manifest`);
  }
  for (const f of present) if (!(f in m.files) && !basename(f).startsWith('.')) problems.push(`${f} is not in the manifest`);
  return problems;
}

function readVerified(p: RootPaths): VerifiedRecord {
  return readJsonQuiet<VerifiedRecord>(verifiedFile(p)) ?? {};
}

function recordVerified(p: RootPaths, updates: VerifiedRecord, drop: string[] = []): void {
  const v = { ...readVerified(p), ...updates };
  for (const id of drop) delete v[id];
  mkdirSync(snapshotsDir(p), { recursive: true });
  writeJsonAtomic(verifiedFile(p), v);
}

/** The base model a snapshot was trained on: its manifest's `base`, or, in an older manifest, read from its baseModel path. */
export function snapshotBase(p: RootPaths, m: SnapshotManifest): string | null {
  return m.base !== undefined ? m.base : baseIdFromPath(p, m.baseModel);
}

/**
 * The snapshots (not the temporary, corrupt or deleting ones), newest first. `cur`: current.json
 * as the caller read it already (a status read reads it once), by default read here.
 */
export function listSnapshots(p: RootPaths, cur: CurrentPointer | undefined = readCurrent(p)): SnapshotEntry[] {
  let names: string[];
  try {
    names = readdirSync(snapshotsDir(p)).filter(isSnapshotName);
  } catch {
    return [];
  }
  const curId = cur?.snapshot ?? null;
  const ver = readVerified(p);
  const out: SnapshotEntry[] = [];
  for (const id of names) {
    const path = join(snapshotsDir(p), id);
    try {
      if (!statSync(path).isDirectory()) continue;
    } catch {
      continue;
    }
    const m = readManifest(path);
    out.push({
      id, path, current: id === curId, verified: ver[id]?.ok ?? null, verifiedAt: ver[id]?.at ?? null,
      runId: m?.runId ?? null, step: m?.step ?? null, loss: m?.loss ?? null, dataset: m?.dataset ?? null, created: m?.created ?? null,
      base: m ? snapshotBase(p, m) : null,
    });
  }
  return out.sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || b.id.localeCompare(a.id));
}

export interface SnapshotInput {
  runId: string;
  adapterDir: string;
  baseModel: string;
  dataset: string;
  datasetSha256: string | null;
  step: number | null;
  loss: number | null;
  /** The model the run trained on (a models/ id), null for the config's baseModel. */
  base?: string | null;
  /** The run's init_adapter (absolute), or null. */
  startedFrom?: string | null;
}

/** The snapshot id of an adapter path inside snapshots/, or null. */
function snapshotIdOf(p: RootPaths, adapter: string | null | undefined): string | null {
  return adapter && join(adapter, '..') === snapshotsDir(p) ? basename(adapter) : null;
}

export type CreateResult = { ok: true; id: string; manifest: SnapshotManifest; report: AdapterReport } | { ok: false; message: string; report?: AdapterReport };

/** Copies, hashes, reads back, checks against the base model and renames into place. Does not touch current.json. */
export function createSnapshot(p: RootPaths, input: SnapshotInput, now: Date = new Date()): CreateResult {
  const dir = snapshotsDir(p);
  mkdirSync(dir, { recursive: true });
  let id = input.runId;
  for (let n = 2; existsSync(join(dir, id)) || existsSync(join(dir, `${id}.tmp`)); n++) id = `${input.runId}-${n}`;
  const tmp = join(dir, `${id}.tmp`);
  const fail = (message: string, report?: AdapterReport): CreateResult => {
    rmSync(tmp, { recursive: true, force: true });
    return report ? { ok: false, message, report } : { ok: false, message };
  };
  try {
    if (!existsSync(input.adapterDir) || !statSync(input.adapterDir).isDirectory()) return fail(`the adapter ${input.adapterDir} is not a folder`);
    const files = listFiles(input.adapterDir).filter((f) => f !== MANIFEST);
    if (!files.length) return fail(`the adapter ${input.adapterDir} is empty`);
    // The lineage on this base: the parent's (when it was trained on the same base), then this run's dataset.
    const base = input.base ?? null;
    const parent = snapshotIdOf(p, input.startedFrom);
    const pm = parent ? readManifest(join(dir, parent)) : undefined;
    const inherited = pm && snapshotBase(p, pm) === base ? pm.lineage ?? [{ dataset: pm.dataset, sha256: pm.datasetSha256, runId: pm.runId, snapshot: pm.id }] : [];
    const manifest: SnapshotManifest = {
      version: 1, id, runId: input.runId, created: now.toISOString(), baseModel: input.baseModel, dataset: input.dataset, datasetSha256: input.datasetSha256,
      step: input.step, loss: input.loss, source: input.adapterDir, files: {}, base, parent,
      lineage: [...inherited, { dataset: input.dataset, sha256: input.datasetSha256, runId: input.runId, snapshot: id }],
    };
    for (const f of files) {
      const src = join(input.adapterDir, ...f.split('/'));
      const dst = join(tmp, ...f.split('/'));
      mkdirSync(join(dst, '..'), { recursive: true });
      manifest.files[f] = hashFile(src);
      copyFileSync(src, dst);
      fsyncFile(dst);
    }
    writeJsonAtomic(join(tmp, MANIFEST), manifest);
    for (const d of new Set(files.map((f) => join(tmp, ...f.split('/'), '..')))) fsyncDir(d);
    const bad = verifySnapshot(tmp);
    if (bad.length) return fail(`the copy did not read back as written: ${bad.join('; ')}`);
    const report = checkAdapter(tmp, input.baseModel);
    if (!report.ok) return fail(`the adapter does not fit the base model: ${report.problems.filter((x) => x.severity === 'error').map((x) => `${x.code}: ${x.message}`).join('; ')}`, report);
    renameSync(tmp, join(dir, id));
    fsyncDir(dir);
    recordVerified(p, { [id]: { ok: true, at: now.toISOString(), stamp: filesStamp(join(dir, id)) } });
    return { ok: true, id, manifest, report };
  } catch (e) {
    return fail((e as Error).message);
  }
}

/**
 * Keeps the `keep` newest snapshots, the current one, and the newest verified good one; removes
 * the rest (renamed to a dotted name first, so a crash half way leaves nothing that looks valid).
 */
export function pruneSnapshots(p: RootPaths, keep: number): string[] {
  const all = listSnapshots(p);
  const cur = readCurrent(p)?.snapshot ?? null;
  const lastGood = all.find((s) => s.verified === true)?.id;
  const keepIds = new Set([...all.slice(0, Math.max(1, keep)).map((s) => s.id), ...(cur ? [cur] : []), ...(lastGood ? [lastGood] : [])]);
  const removed: string[] = [];
  for (const s of all) {
    if (keepIds.has(s.id)) continue;
    const aside = join(snapshotsDir(p), `.${s.id}.deleting`);
    try {
      renameSync(s.path, aside);
      rmSync(aside, { recursive: true, force: true });
      removed.push(s.id);
    } catch {
      // retried at the next prune
    }
  }
  if (removed.length) recordVerified(p, {}, removed);
  return removed;
}

/** Moves a bad snapshot aside as <id>.corrupt-<time>; returns the new name. */
function moveAside(p: RootPaths, id: string, now: Date): string {
  const name = `${id}.corrupt-${stamp(now)}`;
  renameSync(join(snapshotsDir(p), id), join(snapshotsDir(p), name));
  fsyncDir(snapshotsDir(p));
  recordVerified(p, {}, [id]);
  return name;
}

/**
 * At engine start: removes leftovers of interrupted builds and prunes, hashes every snapshot
 * again, moves corrupt ones aside, and makes current.json fall back to the newest good snapshot
 * when it named a bad or missing one. Returns what it did, for the log (warnings).
 */
export function verifySnapshotsAtStart(p: RootPaths, now: Date = new Date()): string[] {
  const dir = snapshotsDir(p);
  const msgs: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    names = [];
  }
  for (const n of names) {
    if (n.endsWith('.tmp') || (n.startsWith('.') && n.endsWith('.deleting'))) {
      rmSync(join(dir, n), { recursive: true, force: true });
      if (n.endsWith('.tmp')) msgs.push(`snapshots/${n}: an unfinished snapshot from a crash, removed`);
    }
  }
  const updates: VerifiedRecord = {};
  const bad = new Set<string>();
  const known = readVerified(p);
  const live = readCurrent(p)?.snapshot ?? null;
  for (const s of listSnapshots(p)) {
    // Hashing every snapshot at every start costs seconds for large adapters, inside the editor's
    // language server. A snapshot whose files are as they were when it was last hashed whole is not
    // hashed again; the current one always is, and rollback hashes its target before using it.
    let st: string | undefined;
    try {
      st = filesStamp(s.path);
    } catch { /* unreadable: the full check says why */ }
    const prev = known[s.id];
    if (s.id !== live && prev?.ok && st !== undefined && prev.stamp === st) continue;
    const problems = verifySnapshot(s.path);
    if (!problems.length) {
      updates[s.id] = { ok: true, at: now.toISOString(), ...(st !== undefined && { stamp: st }) };
      continue;
    }
    bad.add(s.id);
    try {
      const aside = moveAside(p, s.id, now);
      msgs.push(`snapshot ${s.id} is corrupt (${problems.slice(0, 3).join('; ')}): moved aside as snapshots/${aside}, never used`);
    } catch (e) {
      updates[s.id] = { ok: false, at: now.toISOString() };
      msgs.push(`snapshot ${s.id} is corrupt (${problems.slice(0, 3).join('; ')}) and could not be moved aside: ${(e as Error).message}`);
    }
  }
  if (Object.keys(updates).length) recordVerified(p, updates);
  if (currentUnreadable(p)) msgs.push(rebuildCurrent(p, bad, now));
  const cur = readCurrent(p);
  if (cur?.snapshot && (bad.has(cur.snapshot) || !existsSync(join(dir, cur.snapshot, MANIFEST)))) {
    // Only a snapshot trained on the live base fits it: after a consolidation, falling back to one of
    // an older base would silently undo the consolidation.
    const fallback = listSnapshots(p).find((s) => s.verified === true && s.base === cur.base);
    const why = bad.has(cur.snapshot) ? 'is corrupt' : 'is missing';
    const note = fallback
      ? `current snapshot ${cur.snapshot} ${why}: fell back to ${fallback.id}, the newest verified snapshot (${now.toISOString()})`
      : `current snapshot ${cur.snapshot} ${why} and no verified snapshot on ${cur.base ? `models/${cur.base}` : 'the base model'} is left: the next run starts from that base model (${now.toISOString()})`;
    setCurrent(p, fallback?.id ?? null, note, now);
    msgs.push(note);
  }
  return msgs;
}

/**
 * current.json exists but does not read (torn, garbage): it is a pointer the folders can give back.
 * The newest of the verified snapshots and the consolidated models becomes current (a snapshot with
 * the base it was trained on; a model newer than every snapshot with no adapter), the bad file kept
 * aside as current.json.corrupt-<time>. Without this the next run would start from the bare base
 * model, and done/ would no longer be in the live adapter.
 */
function rebuildCurrent(p: RootPaths, bad: ReadonlySet<string>, now: Date): string {
  const aside = setCurrentAside(p, stamp(now));
  const snap = listSnapshots(p).find((x) => x.verified === true && !bad.has(x.id));
  const model = listModels(p).sort((a, b) => (b.created ?? '').localeCompare(a.created ?? ''))[0];
  const modelNewer = model && (!snap || (model.created ?? '') > (snap.created ?? ''));
  const note = `current.json was unreadable (kept aside as ${aside}): rebuilt as ${modelNewer ? `models/${model.id} with no adapter` : snap ? `snapshot ${snap.id}` : 'the base model'}, the newest verified (${now.toISOString()})`;
  if (modelNewer) setCurrent(p, null, note, now, model.id);
  else setCurrent(p, snap?.id ?? null, note, now, snap?.base ?? null);
  return note;
}

/**
 * Hashes a snapshot again before it is used (rollback, consolidation): records the verdict, and
 * moves a corrupt one aside. Returns the problems (none: good) and where a bad one went.
 */
export function reverifySnapshot(p: RootPaths, id: string, now: Date = new Date()): { problems: string[]; aside?: string } {
  const problems = verifySnapshot(join(snapshotsDir(p), id));
  if (!problems.length) {
    recordVerified(p, { [id]: { ok: true, at: now.toISOString() } });
    return { problems };
  }
  try {
    return { problems, aside: moveAside(p, id, now) };
  } catch {
    // left in place, marked bad
    recordVerified(p, { [id]: { ok: false, at: now.toISOString() } });
    return { problems };
  }
}

export interface AfterSuccess {
  readonly log: { level: 'info' | 'warn' | 'error'; message: string }[];
  /** Set when no snapshot was made: why (the run settles as bad_adapter, or disk_full, and the queue pauses). */
  readonly failure?: string;
  /** The snapshot made current, if one was. */
  readonly current?: string;
}

/**
 * After a successful run: snapshot its adapter; make it current unless current was rolled back
 * while it trained (then it started from another adapter than current names); prune.
 */
export function snapshotAfterSuccess(p: RootPaths, input: SnapshotInput & { startedFrom: string | null; keep: number }): AfterSuccess {
  try {
    return snapshotAfterSuccessOrThrow(p, input);
  } catch (e) {
    // current.json could not be written (a full disk): current is unchanged, the queue pauses.
    const message = `run ${input.runId}: snapshot bookkeeping failed: ${(e as Error).message}; current stays ${readCurrent(p)?.snapshot ?? 'none'}; the dataset waits at the head of the queue and the queue is paused`;
    return { log: [{ level: 'error', message }], failure: message };
  }
}

function snapshotAfterSuccessOrThrow(p: RootPaths, input: SnapshotInput & { startedFrom: string | null; keep: number }): AfterSuccess {
  const log: AfterSuccess['log'] = [];
  // A run settled a second time (the engine died between the snapshot and state.json) has its
  // snapshot already: it is not copied again.
  const prior = listSnapshots(p).find((x) => x.runId === input.runId);
  if (prior) {
    log.push({ level: 'info', message: `snapshot ${prior.id} of run ${input.runId} exists already${prior.current ? ' and is current' : ''}` });
    return prior.current ? { log, current: prior.id } : { log };
  }
  const r = createSnapshot(p, input);
  if (!r.ok) {
    const cur = readCurrent(p)?.snapshot ?? null;
    const message = `run ${input.runId}: no snapshot of ${input.adapterDir}: ${r.message}. Current stays ${cur ?? 'none'}; the dataset waits at the head of the queue and the queue is paused (check the adapter with \`lora-queue inspect ${input.adapterDir}\`; after resume the dataset trains again from ${cur ?? 'the base model'})`;
    log.push({ level: 'error', message });
    return { log, failure: message };
  }
  for (const w of r.report.problems) log.push({ level: 'warn', message: `snapshot ${r.id}: ${w.code}: ${w.message}` });
  const pointer = readCurrent(p);
  const live = currentAdapter(p, pointer);
  const liveB = pointer?.base ?? null;
  let made: string | undefined;
  if (live !== (input.startedFrom ?? null) || liveB !== (input.base ?? null)) {
    const was = liveB !== (input.base ?? null) ? `the base model was switched to ${baseName(liveB)}` : `current was switched to ${live ?? 'none'}`;
    log.push({ level: 'warn', message: `snapshot ${r.id} (run ${input.runId}) kept but not made current: the run started from ${input.startedFrom ?? 'the base model'} on ${baseName(input.base ?? null)}, and ${was} meanwhile (rollback ${r.id} makes it current)` });
  } else {
    setCurrent(p, r.id);
    made = r.id;
    log.push({ level: 'info', message: `snapshot ${r.id}: ${Object.keys(r.manifest.files).length} file(s) verified and checked against the base model; now current` });
  }
  const removed = pruneSnapshots(p, input.keep);
  if (removed.length) log.push({ level: 'info', message: `pruned snapshot(s) ${removed.join(', ')} (snapshots.keep ${input.keep})` });
  return made ? { log, current: made } : { log };
}

/** For `lora-queue status`: the live adapter. */
export interface CurrentSnapshotStatus {
  snapshot: string | null;
  adapter: string | null;
  since: string | null;
  previous: string | null;
  verified: boolean | null;
  step: number | null;
  loss: number | null;
  dataset: string | null;
  note: string | null;
  /** The live base model: a models/ id, or null for the config's baseModel. */
  base: string | null;
}

/** `c` and `list`: current.json and the snapshots as the caller read them (once per status read). */
export function currentSnapshotStatus(p: RootPaths, c: CurrentPointer | undefined = readCurrent(p), list?: readonly SnapshotEntry[]): CurrentSnapshotStatus | null {
  if (!c) return null;
  const s = c.snapshot ? (list ?? listSnapshots(p, c)).find((x) => x.id === c.snapshot) : undefined;
  return {
    snapshot: c.snapshot, adapter: currentAdapter(p, c), since: c.since || null, previous: c.previous, verified: s?.verified ?? null,
    step: s?.step ?? null, loss: s?.loss ?? null, dataset: s?.dataset ?? null, note: c.note ?? null, base: c.base,
  };
}

export function formatSnapshots(list: readonly SnapshotEntry[]): string[] {
  if (!list.length) return ['no snapshots yet (one is taken after each successful run)'];
  return list.map((s) => {
    const parts = [
      s.verified === true ? 'verified' : s.verified === false ? 'FAILED verification' : 'not verified yet',
      `step ${s.step ?? '?'}`, `loss ${s.loss === null ? '?' : s.loss.toFixed(4)}`, `dataset ${s.dataset ?? '?'}`, `created ${s.created ?? '?'}`,
      ...(s.base ? [`on models/${s.base}`] : []),
    ];
    return `${s.current ? '*' : ' '} ${s.id}  ${parts.join(', ')}`;
  });
}
