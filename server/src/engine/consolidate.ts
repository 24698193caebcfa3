/**
 * Consolidation (docs/engine.md, "Consolidation"): a snapshot's adapter is merged into the base
 * model it was trained on by the merge command, as models/<id>/ with its lineage in manifest.json;
 * then current.json names that model as the live base, with no adapter, so the next run trains a
 * fresh adapter on it.
 *
 * Never while a run trains: a consolidation asked for during a run is pending (state.json) until the
 * run ends, and no run starts while one is pending or merging. The merge runs in its own process
 * group with its output in models/<id>.log, like a trainer: an engine that exits leaves it running
 * and the next owner adopts it (pid + start time) or settles it from its output. It writes into
 * models/<id>.tmp; only a merge that succeeded is hashed into a manifest and renamed into place, so
 * a failure or a crash never leaves a half-made models/<id>.
 */
import { spawnDetached } from './detached';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { resolveExecutable } from '../config/diagnostics';
import { launcherOf } from '../config/launcher';
import type { Config } from '../config/schema';
import { fsyncDir, fsyncFile, writeJsonAtomic } from './atomic';
import type { EngineLog } from './log';
import {
  checkModel, listModelFiles, listModels, MODEL_MANIFEST, modelDir, modelLog, modelsDir, modelTmpDir, newModelId, readModelManifest, tidyModelsAtStart, type LineageDataset, type MergedAdapter, type ModelManifest,
} from './models';
import { isProcessAlive, processStartTime } from './proc';
import { baseName, readCurrent, setCurrent } from './current';
import { MANIFEST, snapshotsDir, type RootPaths } from './paths';
import { consolidationName as snapName } from './rollback';
import { listSnapshots, readManifest, snapshotBase, verifySnapshot } from './snapshots';
import { withError, type PauseRequest, type StateChange } from './transitions';
import type { ConsolidationOutcome, ConsolidationReason, ConsolidationRecord, EngineState } from './types';

const MAX_OUTCOMES = 20;
/** A merge cut short by an engine crash (no exit status, no result) is started again this many times in all. */
const MAX_MERGE_ATTEMPTS = 2;

/** What the consolidator needs of the engine that owns the root. */
export interface ConsolidationHost {
  readonly paths: RootPaths;
  readonly configFile: string;
  readonly log: EngineLog;
  config(): Config;
  state(): EngineState;
  /** Applies a change to the engine's state and saves it: the engine's one way (Engine.change). */
  apply(change: StateChange): void;
  runInProgress(): boolean;
}

/**
 * The merge command: consolidate.command, or derived from a trainer.command that runs the
 * reference trainer with Python (`python … -m lora_queue_trainer` → `… -m lora_queue_trainer.merge`).
 * Under a launcher (torchrun, accelerate launch, as a script or `python -m …`) the merge is one
 * process of the launcher's own Python: `python -m torch.distributed.run … -m lora_queue_trainer`
 * gives `python -m lora_queue_trainer.merge`, `.venv/bin/torchrun …` gives `.venv/bin/python -m …`.
 */
export function mergeCommandFor(config: Config): { ok: true; argv: string[] } | { ok: false; why: string } {
  if (config.consolidate.command) return { ok: true, argv: [...config.consolidate.command] };
  const t = config.trainer.command;
  const m = t.findIndex((a, i) => a === '-m' && t[i + 1] === 'lora_queue_trainer');
  if (m <= 0 || m !== t.length - 2) return noDerivedMerge(t);
  const launcher = launcherOf(t);
  if (launcher) return launcher.python ? { ok: true, argv: [launcher.python, '-m', 'lora_queue_trainer.merge'] } : noDerivedMerge(t);
  if (/^python[\d.]*$/.test(basename(t[0]!))) return { ok: true, argv: [...t.slice(0, m + 1), 'lora_queue_trainer.merge'] };
  return noDerivedMerge(t);
}

function noDerivedMerge(t: readonly string[]): { ok: false; why: string } {
  return {
    ok: false,
    why: `consolidate.command is not set, and trainer.command (${JSON.stringify(t)}) does not run the reference trainer as \`python -m lora_queue_trainer\` (or under torchrun/accelerate from a venv path), from which it could be derived: set consolidate.command in lora-queue.json to a merge command that takes --base DIR --adapter DIR --out DIR`,
  };
}

async function hashFileAsync(file: string): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

function folderBytes(dir: string): number {
  let n = 0;
  for (const f of listModelFiles(dir)) n += statSync(join(dir, ...f.split('/'))).size;
  return n;
}

/** The merge's last JSON line ({"ok": …}), as the reference merge command prints it; undefined when there is none. */
function mergeSummary(logFile: string): { ok?: boolean; error?: string; [k: string]: unknown } | undefined {
  let text: string;
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n').filter((l) => l.trim().startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const v = JSON.parse(lines[i]!) as unknown;
      if (v && typeof v === 'object' && 'ok' in v) return v as { ok?: boolean; error?: string };
    } catch { /* not JSON */ }
  }
  return undefined;
}

function lastLines(file: string, n: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join(' | ');
  } catch {
    return '';
  }
}

/** The local day (YYYY-MM-DD) and minutes after midnight, for consolidate.dailyAt. */
function localDay(now: Date): { day: string; minutes: number } {
  const day = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}-${String(now.getDate()).padStart(2, '0')}`;
  return { day, minutes: now.getHours() * 60 + now.getMinutes() };
}

interface Target {
  readonly id: string;
  readonly base: string | null;
  readonly generation: number;
}


interface Watched {
  /** undefined while running; null when it ended unobserved (adopted, or gone before this engine). */
  exit: { code: number | null; signal: string | null; spawnError?: string } | null | undefined;
  pid: number | null;
  readonly adopted: boolean;
}

export class Consolidator {
  private watched: Watched | undefined;
  private finishing: Promise<void> | undefined;
  private deadline: number | undefined;
  private timedOut = false;

  constructor(private readonly h: ConsolidationHost) {}

  /** The consolidation pending or merging, if any. */
  active(): ConsolidationRecord | null {
    return this.h.state().consolidation ?? null;
  }

  private get p(): RootPaths {
    return this.h.paths;
  }

  private configBase(): string {
    return resolve(dirname(this.h.configFile), this.h.config().baseModel ?? '.');
  }

  private basePath(id: string | null): string {
    return id ? modelDir(this.p, id) : this.configBase();
  }

  private update(f: StateChange): void {
    this.h.apply(f);
  }

  /**
   * `consolidate [SNAPSHOT]`, or an automatic one: checks it and records it as pending. Without
   * SNAPSHOT during a run, "the current adapter" is resolved when the merge starts, so the run in
   * progress, which the merge waits for, is part of it.
   */
  request(commandId: string | null, snapshot: string | null, reason: ConsolidationReason, now: Date = new Date()): { ok: boolean; message: string } {
    const busy = this.active();
    if (busy) return { ok: false, message: `a consolidation is already ${busy.status === 'merging' ? 'merging' : 'pending'}: ${snapName(busy.snapshot)} into models/${busy.id}` };
    const running = this.h.runInProgress();
    const cur = readCurrent(this.p);
    let target: Target | undefined;
    if (snapshot !== null || !running) {
      const want = snapshot ?? cur?.snapshot ?? null;
      if (!want) return { ok: false, message: `nothing to consolidate: there is no current adapter (the live base is ${baseName(cur?.base ?? null)}; a snapshot is made after each successful run)` };
      const t = this.target(want);
      if (!t.ok) return t;
      target = t;
    }
    const cmd = mergeCommandFor(this.h.config());
    if (!cmd.ok) return { ok: false, message: cmd.why };
    const exe = resolveExecutable(cmd.argv[0]!, dirname(this.h.configFile), process.env['PATH'] ?? '');
    if (!exe.ok) return { ok: false, message: `the merge command's first element ${exe.why}` };
    // Without a target yet, the current adapter at merge time is on the live base (rollback is refused meanwhile).
    const generation = target?.generation ?? (cur?.base ? (readModelManifest(this.p, cur.base)?.generation ?? 0) + 1 : 1);
    mkdirSync(modelsDir(this.p), { recursive: true });
    const rec: ConsolidationRecord = {
      id: newModelId(this.p, generation, now), snapshot: target?.id ?? null, reason, commandId, requestedAt: now.toISOString(), status: 'pending', startedAt: null, pid: null, startTime: null, attempts: 0,
    };
    this.update((st) => ({ ...st, consolidation: rec }));
    const what = target ? `snapshot ${target.id} (trained on ${baseName(target.base)}) into models/${rec.id}` : `the current adapter, as it is when run ${this.h.state().current?.runId ?? ''} ends, into models/${rec.id}`;
    const message = running
      ? `consolidation of ${what} pending: it starts when run ${this.h.state().current?.runId ?? ''} ends; no run starts until it is done`
      : `consolidating ${what}; no run starts until it is done`;
    this.h.log.info(`${reason === 'command' ? '' : `automatic (${reason}) `}${message}`);
    return { ok: true, message };
  }

  /** A snapshot that can be merged: verified, not merged yet, its base model present. */
  private target(want: string): ({ ok: true } & Target) | { ok: false; message: string } {
    const s = listSnapshots(this.p).find((x) => x.id === want || x.runId === want);
    if (!s) return { ok: false, message: `no snapshot ${want} (see lora-queue snapshots)` };
    const problems = verifySnapshot(s.path);
    if (problems.length) return { ok: false, message: `snapshot ${s.id} is corrupt (${problems.slice(0, 3).join('; ')}); nothing merged` };
    const merged = listModels(this.p).find((m) => m.adapter.snapshot === s.id);
    if (merged) return { ok: false, message: `snapshot ${s.id} is already merged in models/${merged.id} (rollback ${merged.id} makes that model the live base)` };
    if (s.base === null) return { ok: true, id: s.id, base: null, generation: 1 };
    const bm = readModelManifest(this.p, s.base);
    if (!bm) return { ok: false, message: `snapshot ${s.id} was trained on models/${s.base}, which is gone; nothing merged` };
    return { ok: true, id: s.id, base: s.base, generation: bm.generation + 1 };
  }

  /** A snapshot became current (after a run): counted for consolidate.afterSnapshots. */
  snapshotMade(): void {
    this.update((s) => ({ ...s, consolidateCounters: { snapshotsSince: (s.consolidateCounters?.snapshotsSince ?? 0) + 1, lastDaily: s.consolidateCounters?.lastDaily ?? null } }));
  }

  /** On every tick of the owner: the automatic triggers, starting a pending merge once no run is in progress, watching a merge. */
  tick(now: Date = new Date()): void {
    if (!this.active()) this.automatic(now);
    const rec = this.active();
    if (!rec) return;
    if (rec.status === 'pending') {
      if (!this.h.runInProgress()) this.start(rec, now);
      return;
    }
    if (this.finishing) return;
    const w = this.watched ?? this.adopt(rec);
    if (w.exit === undefined && w.adopted && w.pid !== null && !isProcessAlive(w.pid, rec.startTime ?? undefined)) w.exit = null;
    if (w.exit === undefined) {
      if (this.deadline !== undefined && performance.now() > this.deadline && !this.timedOut) {
        this.timedOut = true;
        this.h.log.error(`merge pid ${w.pid} of models/${rec.id} still runs after consolidate.timeoutSeconds (${this.h.config().consolidate.timeoutSeconds} s): SIGKILL to its process group`);
        try { if (w.pid !== null) process.kill(-w.pid, 'SIGKILL'); } catch { /* gone */ }
      }
      return;
    }
    this.finishing = this.finish(rec, w.exit)
      .catch((e: unknown) => this.failed(rec, `finishing the merge failed: ${(e as Error).message}`))
      .finally(() => {
        this.finishing = undefined;
        this.watched = undefined;
      });
  }

  /** For the CLI that applied `consolidate` itself: runs the merge to its end, unless a run in progress holds it back. */
  async drive(): Promise<void> {
    for (;;) {
      const rec = this.active();
      if (!rec || (rec.status === 'pending' && this.h.runInProgress())) return;
      this.tick();
      if (this.finishing) await this.finishing;
      else await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * At owner start: merge leftovers removed, models checked (sizes), a live base that is gone
   * reported, and a merge in progress adopted (still running) or settled from its output.
   */
  recover(now: Date = new Date()): { log: string[]; pause?: PauseRequest } {
    const rec = this.active();
    const tidy = tidyModelsAtStart(this.p, rec?.status === 'merging' ? rec.id : null).log;
    const out: { log: string[]; pause?: PauseRequest } = { log: tidy };
    const base = readCurrent(this.p)?.base ?? null;
    if (base && (!readModelManifest(this.p, base) || checkModel(this.p, base).length)) {
      const reason = `the live base model models/${base} is missing or damaged: nothing trains on it (rollback to a snapshot or another model, then resume)`;
      out.pause = { kind: 'engine', reason };
      this.update((s) => withError(s, reason, now));
    }
    if (rec?.status === 'merging') {
      const w = this.adopt(rec, now);
      out.log.push(w.exit === undefined
        ? `adopted merge pid ${rec.pid} (${snapName(rec.snapshot)} into models/${rec.id}); no run starts until it ends`
        : `the merge of ${snapName(rec.snapshot)} into models/${rec.id} ended while no engine watched; settling it from its output`);
    }
    return out;
  }

  /** Watches a merge this engine did not start: until its pid (with its start time) is gone. */
  private adopt(rec: ConsolidationRecord, now: Date = new Date()): Watched {
    const alive = rec.pid !== null && isProcessAlive(rec.pid, rec.startTime ?? undefined);
    const w: Watched = { exit: alive ? undefined : null, pid: rec.pid, adopted: true };
    this.watched = w;
    this.timedOut = false;
    const left = this.h.config().consolidate.timeoutSeconds * 1000 - (now.getTime() - Date.parse(rec.startedAt ?? now.toISOString()));
    this.deadline = performance.now() + Math.max(60_000, left);
    return w;
  }

  /** close(): a merge keeps running, for the next owner. */
  leftRunning(): string | undefined {
    const rec = this.active();
    return rec?.status === 'merging' && this.watched?.exit === undefined ? `merge pid ${rec.pid} (models/${rec.id}) keeps running and will be adopted by the next engine` : undefined;
  }

  private automatic(now: Date): void {
    const s = this.h.state();
    if (s.pause || this.h.runInProgress()) return;
    const c = this.h.config().consolidate;
    const counters = s.consolidateCounters ?? { snapshotsSince: 0, lastDaily: null };
    let reason: ConsolidationReason | undefined;
    if (c.afterSnapshots > 0 && counters.snapshotsSince >= c.afterSnapshots) reason = 'afterSnapshots';
    if (!reason && c.dailyAt) {
      const { day, minutes } = localDay(now);
      const [hh, mm] = c.dailyAt.split(':').map(Number);
      if (minutes >= hh! * 60 + mm! && counters.lastDaily !== day) {
        this.update((st) => ({ ...st, consolidateCounters: { ...counters, lastDaily: day } }));
        reason = 'daily';
      }
    }
    if (!reason) return;
    if (!readCurrent(this.p)?.snapshot) {
      if (reason === 'daily') this.h.log.info('daily consolidation: nothing new to merge (no current adapter)');
      this.update((st) => ({ ...st, consolidateCounters: { snapshotsSince: 0, lastDaily: st.consolidateCounters?.lastDaily ?? null } }));
      return;
    }
    const r = this.request(null, null, reason, now);
    if (!r.ok) {
      // Counted again from zero, so a consolidation that cannot be done is not retried on every tick.
      this.update((st) => withError({ ...st, consolidateCounters: { snapshotsSince: 0, lastDaily: st.consolidateCounters?.lastDaily ?? null } }, `automatic consolidation (${reason}) not done: ${r.message}`, now));
      this.h.log.error(`automatic consolidation (${reason}) not done: ${r.message}`);
    }
  }

  private start(pending: ConsolidationRecord, now: Date): void {
    const p = this.p;
    // Checked again: the snapshot may have been pruned, or (without SNAPSHOT) is only known now.
    const want = pending.snapshot ?? readCurrent(p)?.snapshot ?? null;
    if (!want) return this.failed(pending, 'nothing to consolidate: there is no current adapter (the run it waited for made no snapshot)', now);
    const t = this.target(want);
    if (!t.ok) return this.failed(pending, t.message, now);
    const rec: ConsolidationRecord = { ...pending, snapshot: t.id };
    const base = this.basePath(t.base);
    const cmd = mergeCommandFor(this.h.config());
    if (!cmd.ok) return this.failed(rec, cmd.why, now);
    // The merged model is about the size of the base (more for a float32 merge of a half-precision
    // base, which the merge command decides): refuse early rather than fill the disk.
    try {
      const need = folderBytes(base);
      const st = statfsSync(modelsDir(p));
      const free = Number(st.bavail) * Number(st.bsize);
      const reserve = this.h.config().disk.minFreeGiB * 2 ** 30;
      if (free - need < reserve) return this.failed(rec, `not enough free space for the merged model: about ${(need / 2 ** 30).toFixed(1)} GiB needed plus disk.minFreeGiB (${this.h.config().disk.minFreeGiB}), ${(free / 2 ** 30).toFixed(1)} GiB free`, now);
    } catch (e) {
      return this.failed(rec, `cannot read the base model ${base}: ${(e as Error).message}`, now);
    }
    rmSync(modelTmpDir(p, rec.id), { recursive: true, force: true });
    const exe = resolveExecutable(cmd.argv[0]!, dirname(this.h.configFile), process.env['PATH'] ?? '');
    const argv = [exe.ok ? exe.path : cmd.argv[0]!, ...cmd.argv.slice(1), '--base', base, '--adapter', join(snapshotsDir(p), t.id), '--out', modelTmpDir(p, rec.id)];
    // Recorded before the spawn: a crash in between leaves a merge that is settled (and tried again) at the next start.
    let r: ConsolidationRecord = { ...rec, status: 'merging', startedAt: now.toISOString(), pid: null, startTime: null, attempts: rec.attempts + 1, command: argv };
    this.update((s) => ({ ...s, consolidation: r }));
    // One object: the exit listeners below write into it.
    const w: Watched = { exit: undefined, pid: null, adopted: false };
    try {
      const pid = spawnDetached(argv[0]!, argv.slice(1), { cwd: p.root, env: { ...process.env, ...this.h.config().trainer.env }, logPath: modelLog(p, rec.id) }, (end) => {
        if (w.exit === undefined) w.exit = { code: end.code, signal: end.signal, ...(end.notStarted !== undefined && { spawnError: end.notStarted }) };
      });
      if (pid !== undefined) r = { ...r, pid, startTime: processStartTime(pid) ?? null };
    } catch (e) {
      // Its log cannot be written (a full disk), or the arguments cannot be passed (a NUL byte…).
      return this.failed(r, `cannot start the merge command: ${(e as Error).message}`, now);
    }
    w.pid = r.pid;
    this.watched = w;
    this.deadline = performance.now() + this.h.config().consolidate.timeoutSeconds * 1000;
    this.timedOut = false;
    this.update((s) => ({ ...s, consolidation: r }));
    this.h.log.info(`merge of snapshot ${t.id} into models/${rec.id} started as pid ${r.pid ?? '?'} (output in models/${rec.id}.log): ${argv.join(' ')}`);
  }

  private async finish(rec: ConsolidationRecord, exit: Exclude<Watched['exit'], undefined>): Promise<void> {
    const p = this.p;
    const tmp = modelTmpDir(p, rec.id);
    const logFile = modelLog(p, rec.id);
    // Renamed into place before an engine crash: only current.json is left to switch.
    if (readModelManifest(p, rec.id)) return this.switchTo(rec, `models/${rec.id} was complete; `);
    const summary = mergeSummary(logFile);
    const made = existsSync(join(tmp, 'config.json'));
    if (exit === null && summary?.ok !== true) {
      // Gone while no engine watched, without a result: a crash of the machine, typically. Again, once.
      removeMergeLeftovers(p, rec.id);
      if (rec.attempts < MAX_MERGE_ATTEMPTS) {
        this.h.log.warn(`the merge into models/${rec.id} was cut short (no result in models/${rec.id}.log): starting it again`);
        this.update((s) => ({ ...s, consolidation: { ...rec, status: 'pending', pid: null, startTime: null, startedAt: null } }));
        return;
      }
      return this.failed(rec, `the merge was cut short ${rec.attempts} times without a result (see models/${rec.id}.log)`);
    }
    const exitOk = exit === null || (exit.code === 0 && !exit.spawnError);
    if (!exitOk || summary?.ok === false || !made) {
      removeMergeLeftovers(p, rec.id);
      const why = this.timedOut
        ? `killed after consolidate.timeoutSeconds (${this.h.config().consolidate.timeoutSeconds} s)`
        : exit?.spawnError ?? (typeof summary?.error === 'string' ? summary.error
          : exit && exit.code !== 0 ? (exit.signal ? `the merge command was killed by ${exit.signal}` : `the merge command exited with code ${exit.code}`)
          : `the merge command exited 0 but wrote no model (no config.json in models/${rec.id}.tmp)`);
      const tail = lastLines(logFile, 3);
      return this.failed(rec, `${why}${tail && !summary?.error ? ` (last output: ${tail})` : ''}; see models/${rec.id}.log`);
    }
    // Hash every file (asynchronously: a model is gigabytes, and the engine keeps ticking), write the lineage, publish.
    const files: ModelManifest['files'] = {};
    for (const f of listModelFiles(tmp).filter((x) => x !== MODEL_MANIFEST)) {
      const full = join(tmp, ...f.split('/'));
      fsyncFile(full);
      files[f] = await hashFileAsync(full);
    }
    const manifest = this.lineage(rec, files, summary);
    writeJsonAtomic(join(tmp, MODEL_MANIFEST), manifest);
    fsyncDir(tmp);
    renameSync(tmp, modelDir(p, rec.id));
    fsyncDir(modelsDir(p));
    return this.switchTo(rec, '');
  }

  private lineage(rec: ConsolidationRecord, files: ModelManifest['files'], summary: unknown): ModelManifest {
    const p = this.p;
    const snapDir = join(snapshotsDir(p), rec.snapshot!);
    const sm = readManifest(snapDir)!;
    const baseId = snapshotBase(p, sm);
    const parent = baseId ? readModelManifest(p, baseId) : undefined;
    const adapter: MergedAdapter = {
      snapshot: sm.id, runId: sm.runId ?? null, base: baseId, manifestSha256: createHash('sha256').update(readFileSync(join(snapDir, MANIFEST))).digest('hex'),
      dataset: sm.dataset ?? null, datasetSha256: sm.datasetSha256 ?? null, step: sm.step ?? null, loss: sm.loss ?? null,
    };
    const own: LineageDataset[] = sm.lineage ?? [{ dataset: sm.dataset, sha256: sm.datasetSha256, runId: sm.runId, snapshot: sm.id }];
    const started = Date.parse(rec.startedAt ?? '');
    return {
      version: 1, id: rec.id, created: new Date().toISOString(), generation: (parent?.generation ?? 0) + 1,
      base: { model: baseId, path: this.basePath(baseId) },
      adapter,
      adapters: [...(parent?.adapters ?? []), adapter],
      datasets: [...(parent?.datasets ?? []), ...own],
      merge: { command: rec.command ?? [], seconds: Number.isFinite(started) ? Math.round((Date.now() - started) / 100) / 10 : 0, summary: summary ?? null },
      files,
    };
  }

  private switchTo(rec: ConsolidationRecord, prefix: string): void {
    const m = readModelManifest(this.p, rec.id)!;
    const now = new Date();
    const before = readCurrent(this.p);
    setCurrent(this.p, null, `consolidated snapshot ${rec.snapshot} into models/${rec.id} (${now.toISOString()})`, now, rec.id);
    const message = `${prefix}consolidated snapshot ${rec.snapshot} into models/${rec.id} (generation ${m.generation}: ${m.adapters.length} adapter(s), ${m.datasets.length} dataset(s) merged since the config's baseModel); it is the live base, and the next run trains a fresh adapter on it (rollback ${rec.snapshot} returns to ${baseName(m.base.model)} with that adapter${before?.snapshot && before.snapshot !== rec.snapshot ? `; the current adapter was ${before.snapshot}` : ''})`;
    this.h.log.info(message);
    this.record(rec, true, message, now, (s) => ({ ...s, consolidateCounters: { snapshotsSince: 0, lastDaily: s.consolidateCounters?.lastDaily ?? null } }));
  }

  private failed(rec: ConsolidationRecord, why: string, now: Date = new Date()): void {
    removeMergeLeftovers(this.p, rec.id);
    const message = `consolidation of ${snapName(rec.snapshot)} into models/${rec.id} failed: ${why}. Nothing changed: the live base and adapter stay as they were`;
    this.h.log.error(message);
    this.record(rec, false, message, now, (s) => withError(rec.reason === 'command' ? s : { ...s, consolidateCounters: { snapshotsSince: 0, lastDaily: s.consolidateCounters?.lastDaily ?? null } }, message, now));
  }

  private record(rec: ConsolidationRecord, ok: boolean, message: string, now: Date, more: (s: EngineState) => EngineState): void {
    const outcome: ConsolidationOutcome = { id: rec.id, snapshot: rec.snapshot, reason: rec.reason, commandId: rec.commandId, ok, message, at: now.toISOString() };
    this.update((s) => more({ ...s, consolidation: null, consolidations: [...(s.consolidations ?? []), outcome].slice(-MAX_OUTCOMES) }));
  }
}

/** models/<id>.tmp and the merge command's own hidden temporary folders beside it. */
function removeMergeLeftovers(p: RootPaths, id: string): void {
  rmSync(modelTmpDir(p, id), { recursive: true, force: true });
  let names: string[] = [];
  try {
    names = readdirSync(modelsDir(p));
  } catch { /* none */ }
  for (const n of names) if (n.startsWith(`.${id}.tmp`)) rmSync(join(modelsDir(p), n), { recursive: true, force: true });
}
