/**
 * The engine: one owner per queue root (engine.lock), or a follower that shows what the owner does
 * and takes over when the owner is gone. The owner takes datasets in from inbox/, applies commands
 * from control/, and runs the trainer on the head of the queue, one run at a time. Usable in
 * process (the language server) and headless (`lora-queue daemon`). Design: docs/engine.md.
 */
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createHash, randomBytes } from 'node:crypto';
import { resolveTrainerExecutable } from '../config/diagnostics';
import { hyperparametersFor } from '../config/hyperparameters';
import { loadConfig, validateOptionsFrom, ConfigStore } from '../config/load';
import type { Config } from '../config/schema';
import { readJsonQuiet, writeJsonAtomic } from './atomic';
import { classifyEnd, type Classification } from './classify';
import { checkCommand, pendingCommands, removeCommandFile, sendCommand } from './control';
import { listDatasets, listEntries, metaPath, moveDataset, readMeta, reasonPath, repairPairs, SidecarCache, writeMeta } from './datasets';
import { admit, findByCommandId, InboxWatcher, recoverStaged } from './intake';
import { holderAlive, myLockRecord, readLock, release, stillOwner, tryAcquire, type LockRecord } from './lock';
import { EngineLog } from './log';
import { ledgerPath, ledgerRecordFor, LedgerWriter } from './ledger';
import { diskFacts, isResourcePause, ResourceGate, type ResourceEnv } from './resources';
import { RESOURCE_PAUSE_PREFIX } from '../../../common/pause';
import { DATASET_FOLDERS, ensureLayout, META_SUFFIX, rootPaths, snapshotsDir, type RootPaths } from './paths';
import { findProcessesByJob, isProcessAlive, killRun } from './proc';
import { attemptsFromRuns, liveRunProcesses, markNotStarted, runsOnDisk } from './runRecords';
import { loadState, peekState, saveState } from './state';
import { logTail, RunHandle } from './supervisor';
import type { TrainerRun } from './trainerRun';
import { readSlurmRecord, SlurmRunHandle } from './slurm/handle';
import { classifySlurmEnd } from './slurm/classify';
import { ResidentTrainer } from './resident';
import { currentAdapter, isFallbackNote, liveBase, readCurrent } from './current';
import { readManifest, snapshotAfterSuccess, verifySnapshotsAtStart } from './snapshots';
import { Consolidator } from './consolidate';
import { settle } from './settle';
import { rollback } from './rollback';
import { chooseCheckpoint } from './checkpoints';
import { baseIdFromPath, modelsDir, readModelManifest } from './models';
import { blockedBecause, maxBackoffMs, pickNext, withApplied, withError, withPause, withPauseStep, withResume, withStop, type StateChange } from './transitions';
import type { Command, DatasetMeta, EngineState, RunRecord } from './types';

export interface EngineOptions {
  readonly configFile: string;
  /** Also print each log line (the daemon echoes to stdout). */
  readonly echo?: (line: string) => void;
  /** Tick interval; 500 ms by default. */
  readonly pollMs?: number;
}

export type Role = 'owner' | 'follower' | 'closed';

/** The queue root of a config: `root` relative to the config's folder. */
export function queueRootOf(configFile: string, config: Config): string {
  return resolve(dirname(resolve(configFile)), config.root);
}

export function newRunId(now: Date = new Date()): string {
  return `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, '').replace('T', '-')}-${randomBytes(3).toString('hex')}`;
}

/**
 * Error codes of a write that fails for want of space or permission: a full disk or quota, a
 * filesystem remounted read-only, a folder made unwritable. The engine pauses for them (nothing is
 * lost: every write is atomic and the step is tried again) instead of failing a dataset.
 */
const WRITE_TROUBLE = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM']);

export function writeTroubleOf(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code && WRITE_TROUBLE.has(code) ? code : undefined;
}

/** Finds a dataset by the name a person typed (with or without .jsonl). */
function lookup(p: RootPaths, folder: 'queue' | 'processing' | 'failed' | 'done', name: string): string | undefined {
  const names = listDatasets(p[folder]);
  return [name, `${name}.jsonl`].find((n) => names.includes(n));
}

export class Engine extends EventEmitter {
  readonly paths: RootPaths;
  readonly log: EngineLog;
  role: Role = 'follower';
  holder: LockRecord | undefined;
  private folderStamp: string | undefined;
  state: EngineState;
  private config: Config;
  private readonly configFile: string;
  private readonly store = new ConfigStore();
  private me: LockRecord | undefined;
  private run: TrainerRun | undefined;
  private readonly inbox: InboxWatcher;
  private timer: NodeJS.Timeout | undefined;
  private asyncWork: Promise<void> | undefined;
  private lastConfigProblem: string | undefined;
  private lastPrune = 0;
  private watchers: FSWatcher[] = [];
  private kickPending: { at: number; timer: NodeJS.Timeout } | undefined;
  /** The queued sidecars, re-read only when changed (picking the next run reads them all). */
  private readonly sidecars = new SidecarCache();
  private lastFail = { message: '', at: 0 };
  private lastWriteTrouble = { message: '', at: 0 };
  // Resource checks before each run and the usage ledger (resources.ts, ledger.ts).
  private readonly resources = new ResourceGate();
  private ledger: LedgerWriter | undefined;
  // Merging an adapter into the base model (consolidate.ts); no run starts while one is pending or merging.
  private readonly consolidator: Consolidator;
  // trainer.resident: the trainer process kept loaded between runs (resident.ts).
  private readonly resident: ResidentTrainer;

  /** Reads the config (it must be valid to start) and prepares the queue root. */
  constructor(private readonly opts: EngineOptions) {
    super();
    this.configFile = resolve(opts.configFile);
    // Schema and syntax only: a missing base model folder must not keep the engine (and its
    // intake and status) from running; it only keeps runs from starting (configProblem).
    this.config = loadConfig(this.configFile, { filesystem: false });
    this.store.refresh(this.configFile);
    this.paths = rootPaths(queueRootOf(this.configFile, this.config));
    ensureLayout(this.paths);
    this.log = new EngineLog(this.paths.logs, opts.echo);
    this.inbox = new InboxWatcher(this.paths.inbox, (m) => this.log.info(m));
    this.resident = new ResidentTrainer(this.paths.root, this.log);
    this.state = loadState(this.paths).state;
    const self = this;
    this.consolidator = new Consolidator({
      paths: this.paths, configFile: this.configFile, log: this.log,
      config: () => self.config, state: () => self.state, runInProgress: () => self.run !== undefined || self.state.current !== null,
      apply: (f) => self.change(f),
    });
  }

  /** `daemon --stop-trainer`: the resident trainer (trainer.resident), idle, is ended too. */
  stopResidentTrainer(why: string): void {
    if (this.role === 'owner' && !this.run) this.resident.release(why);
  }

  /** For the CLI that applied `consolidate` itself: runs the merge to its end (unless a run in progress holds it back). */
  async finishConsolidation(): Promise<void> {
    if (this.role === 'owner') await this.consolidator.drive();
  }

  /** Takes the lock, or follows its holder; then ticks until close(). */
  start(): Role {
    this.tryOwn();
    if (this.role === 'follower') this.log.info(`following the engine of pid ${this.holder?.pid ?? '?'} on ${this.holder?.host ?? '?'} (owner since ${this.holder?.since ?? '?'})`);
    this.timer = setInterval(() => this.tick(), this.opts.pollMs ?? 500);
    // fs.watch wakes the engine early for a new file or command; the poll alone is enough where
    // the filesystem has no change notification (NFS), so a failure here is ignored.
    for (const dir of [this.paths.inbox, this.paths.control]) {
      const inbox = dir === this.paths.inbox;
      try {
        // The inbox's events also tell a file renamed in (taken at once) from one written in place (intake.ts).
        const w = watch(dir, (type, name) => {
          if (inbox) this.inbox.noteEvent(type, name);
          // An arrival (a rename: a dataset or a command file) is one event; writes come in bursts.
          this.kick(type === 'rename' ? 10 : 50);
        });
        w.on('error', () => {
          if (inbox) this.inbox.setWatching(false);
        });
        if (inbox) this.inbox.setWatching(true);
        this.watchers.push(w);
      } catch {
        // polling only
      }
    }
    return this.role;
  }

  /** Stops ticking and releases the lock; a running trainer is left running, to be adopted. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    await this.asyncWork;
    // A Slurm command in flight (a stop's scancel from the CLI, an sbatch whose id must be recorded).
    if (this.run instanceof SlurmRunHandle) await this.run.idle();
    if (this.role === 'owner' && this.me) {
      if (this.run) this.log.info(`engine exits; ${this.runTarget(this.run)} (run ${this.run.record.runId}) keeps running and will be adopted by the next engine`);
      const merging = this.consolidator.leftRunning();
      if (merging) this.log.info(`engine exits; ${merging}`);
      this.save();
      release(this.paths.lock, this.me);
    }
    this.role = 'closed';
  }

  /**
   * For the CLI when no engine runs: takes the lock (recovering the root like any new owner),
   * without ticking. Returns false when another engine holds it.
   */
  ownOnce(): boolean {
    this.tryOwn();
    return this.role === 'owner';
  }

  /** Applies a command at once when this engine owns the root; a follower hands it to the owner. */
  async command(id: string, c: Command): Promise<{ ok: boolean; message: string }> {
    const bad = checkCommand(c);
    if (bad) return { ok: false, message: bad };
    if (this.role !== 'owner') {
      const sent = sendCommand(this.paths.control, c);
      return { ok: true, message: `sent to the owner (pid ${this.holder?.pid ?? '?'}) as control/${sent.id}` };
    }
    const r = await this.apply(id, c);
    this.change((s) => withApplied(s, id, r.ok, r.message, new Date()));
    return r;
  }

  private tryOwn(): void {
    const me = myLockRecord();
    const r = tryAcquire(this.paths.lock, me);
    if (r.owner) {
      this.me = me;
      this.role = 'owner';
      this.holder = me;
      this.recover();
    } else this.holder = r.holder;
  }

  /**
   * An early tick: after `delayMs` (10 for an arrival in a watched folder, 50 for writes, whose
   * events come in bursts; 0 when the engine itself knows a run may start now: a trainer exited, a
   * dataset was queued, a command applied).
   */
  private kick(delayMs = 50): void {
    if (!this.timer) return;
    const at = performance.now() + delayMs;
    // One early tick pending at a time; a sooner request moves it earlier, a later one joins it.
    if (this.kickPending && this.kickPending.at <= at) return;
    if (this.kickPending) clearTimeout(this.kickPending.timer);
    this.kickPending = {
      at,
      timer: setTimeout(() => {
        this.kickPending = undefined;
        if (this.timer) this.tick();
      }, delayMs),
    };
  }

  private tick(): void {
    try {
      if (this.role === 'closed') return;
      if (this.role === 'follower') {
        const h = readLock(this.paths.lock);
        if (h && holderAlive(h)) {
          this.holder = h;
          // A follower shows what the owner does: its state, as last saved.
          const seen = peekState(this.paths);
          if (seen && seen.updatedAt !== this.state.updatedAt) {
            this.state = seen;
            this.emit('state', seen);
          }
          this.watchFolders();
          return;
        }
        const before = this.holder;
        this.tryOwn();
        if ((this.role as Role) === 'owner') this.log.info(`took over the queue root${before ? ` from pid ${before.pid}, which is gone` : ''}`);
        return;
      }
      if (!this.me || !stillOwner(this.paths.lock, this.me)) {
        this.log.error('engine.lock no longer names this engine: stepping down to follower (a running trainer is left to the new owner)');
        this.role = 'follower';
        this.run = undefined;
        this.me = undefined;
        return;
      }
      this.refreshConfig();
      this.supervise();
      this.consolidator.tick();
      if (!this.asyncWork) {
        this.asyncWork = this.controlAndIntake()
          .catch((e: unknown) => this.fail(`control/intake: ${(e as Error).message}`))
          .finally(() => {
            this.asyncWork = undefined;
          });
      }
      const step = this.resources.whilePaused(this.resourceEnv(), this.state);
      if (step) this.change((s) => withPauseStep(s, step));
      this.maybeStartRun();
      this.watchFolders();
      if (Date.now() - this.lastPrune > 3_600_000) {
        this.lastPrune = Date.now();
        this.log.prune(this.config.logs.keepDays);
      }
    } catch (e) {
      this.fail(`tick: ${(e as Error).stack ?? String(e)}`);
    }
  }

  /**
   * What the views show lives partly outside state.json: datasets that intake moves into queue/,
   * a priority in a sidecar, current.json after a rollback or a consolidation, new snapshots and
   * models. A folder's mtime changes when an entry is added, removed or renamed in (sidecars and
   * current.json are written by rename), so one stat per folder a tick sees every such change;
   * `files` then tells the language server to push the views again (both owner and follower).
   */
  private watchFolders(): void {
    const p = this.paths;
    let stamp = '';
    for (const f of [p.queue, p.processing, p.done, p.failed, snapshotsDir(p), modelsDir(p), p.current]) {
      try {
        const st = statSync(f);
        stamp += `${st.ino}:${st.mtimeMs}:${st.size};`;
      } catch {
        stamp += '-;';
      }
    }
    if (stamp === this.folderStamp) return;
    const first = this.folderStamp === undefined;
    this.folderStamp = stamp;
    if (!first) this.emit('files');
  }

  private fail(message: string): void {
    // The same failure on every tick (a full disk) is logged once a minute, not twice a second.
    const now = performance.now();
    if (message === this.lastFail.message && now - this.lastFail.at < 60_000) return;
    this.lastFail = { message, at: now };
    this.log.error(message);
    this.state = withError(this.state, message, new Date());
    try {
      this.save();
    } catch {
      // a full disk: the log line (if it could be written) says it
    }
  }

  /**
   * The one way the engine's parts change its state: a step returns the change (a pure function of
   * the state, transitions.ts), and it is applied here and saved (the consolidator, the resource
   * gate, a settled run).
   */
  private change(f: StateChange): void {
    this.state = f(this.state);
    this.save();
  }

  private save(): void {
    // Only the owner writes state.json; a follower's view is read from it.
    if (this.role !== 'owner') return;
    try {
      saveState(this.paths, this.state);
    } catch (e) {
      // The old state.json stays whole (an atomic write); the state in memory is written at the
      // next save that succeeds, and runs/ holds what a restart needs meanwhile.
      if (!writeTroubleOf(e)) throw e;
      this.writeFailed('cannot write state.json', e);
      return;
    }
    this.emit('state', this.state);
  }

  /**
   * One of the engine's own writes failed for want of space or permission (WRITE_TROUBLE). The
   * queue pauses with the reason, as a resource pause: the engine lifts it once a write probe
   * succeeds and free space is back (resources.ts). An ENOSPC during a run is evidence that the run
   * met a full disk (disk_full, no attempt used). Logged once a minute, not on every tick.
   */
  private writeFailed(what: string, e: unknown): void {
    const code = writeTroubleOf(e) ?? 'EIO';
    const message = `${what}: ${(e as Error).message}`;
    if (this.run && (code === 'ENOSPC' || code === 'EDQUOT')) this.run.diskFullSeen ??= message;
    else if (this.run) this.run.unwritableSeen ??= `${message} (${code})`;
    // The same trouble again (a temporary file's name differs each time): the reason and the log
    // line stay as they are, for a minute.
    const key = `${what} (${code})`;
    const now = performance.now();
    if (this.lastWriteTrouble.message === key && now - this.lastWriteTrouble.at < 60_000 && this.state.pause) return;
    this.lastWriteTrouble = { message: key, at: now };
    const reason = `${RESOURCE_PAUSE_PREFIX}the engine cannot write to the queue root (${code}: ${message}); nothing is lost, and the queue resumes by itself once writes succeed again`;
    // A person's pause stays theirs; a resource pause is replaced by the newer reason.
    if (!this.state.pause || isResourcePause(this.state)) this.state = withPause(this.state, { kind: 'disk', reason });
    this.log.error(`${message} (${code}): the queue is paused until writes succeed again`);
  }

  private refreshConfig(): void {
    const good = this.store.refresh(this.configFile);
    if (good && JSON.stringify(good.config) !== JSON.stringify(this.config)) {
      if (queueRootOf(this.configFile, good.config) !== this.paths.root) this.log.warn('the config names another queue root: that takes effect when the engine restarts');
      this.config = good.config;
      this.log.info('configuration reloaded');
    }
  }

  private resourceEnv(): ResourceEnv {
    return { root: this.paths.root, config: this.config, env: { ...process.env, ...this.config.trainer.env }, log: this.log };
  }

  private configProblem(): string | undefined {
    const c = this.config;
    let problem: string | undefined;
    if (c.baseModel === undefined) problem = 'baseModel is not set in lora-queue.json: nothing trains until it is';
    else {
      const exe = resolveTrainerExecutable(c.trainer.command[0]!, c, dirname(this.configFile), process.env['PATH'] ?? '');
      if (!exe.ok) problem = `trainer.command[0] ${exe.why}`;
    }
    if (problem !== this.lastConfigProblem) {
      if (problem) this.log.warn(problem);
      this.lastConfigProblem = problem;
      this.change((s) => ({ ...s, blocked: problem ?? null }));
    }
    return problem;
  }

  // ---- recovery ---------------------------------------------------------------------------

  private recover(): void {
    ensureLayout(this.paths);
    const loaded = loadState(this.paths);
    this.state = loaded.state;
    this.log.info(`owner of ${this.paths.root} (pid ${process.pid})`);
    if (loaded.rebuilt === 'missing') this.log.info('no state.json: starting from the folders');
    else if (loaded.rebuilt) this.log.warn(`state.json was unreadable (${loaded.rebuilt.why}); kept aside as ${basename(loaded.rebuilt.corruptKeptAt)} and rebuilt from the folders`);
    const staged = recoverStaged(this.paths);
    if (staged) this.log.warn(`${staged} half-taken file(s) from a crash undone`);
    for (const m of repairPairs(this.paths)) this.log.warn(m);
    for (const m of this.repairUnreadableSidecars()) this.log.warn(m);
    // Snapshots are hashed again; a corrupt one is moved aside and current.json falls back (snapshots.ts).
    let fellBack = false;
    for (const m of verifySnapshotsAtStart(this.paths)) {
      this.log.warn(m);
      if (/current snapshot/.test(m)) this.state = withError(this.state, m, new Date());
      if (isFallbackNote(m)) fellBack = true;
    }
    if (fellBack) this.requeueOutsideLineage();
    // Merge leftovers removed, models checked, a merge in progress adopted or settled (consolidate.ts).
    const models = this.consolidator.recover();
    for (const m of models.log) this.log.warn(m);
    if (models.pause) this.state = withPause(this.state, models.pause);
    this.resident.recover();

    const cur = this.state.current;
    // slurm.json is written the moment sbatch answers; state.json may have been saved before that.
    const onDisk = cur ? readSlurmRecord(dirname(cur.jobPath)) : undefined;
    const slurmRec = cur?.slurm?.jobId ? cur.slurm : onDisk ?? cur?.slurm;
    if (cur && slurmRec) this.adoptSlurm(cur, slurmRec, 'state.json');
    else if (cur) {
      let found = cur.pid !== null && isProcessAlive(cur.pid, cur.startTime ?? undefined);
      if (!found) {
        // Saved before its pid was (a crash right after the spawn): look for it by its job file.
        const hit = findProcessesByJob((j) => j === cur.jobPath)[0];
        if (hit) {
          cur.pid = hit.pid;
          cur.startTime = hit.startTime;
          found = true;
        }
      }
      const gone = found ? undefined : RunHandle.settled(cur);
      if (gone && cur.pid === null && gone.progress.events === 0 && gone.exit === null) {
        // Prepared but never spawned (the engine stopped in between): not an attempt.
        this.log.warn(`run ${cur.runId} (${cur.dataset}) was prepared but never started; the dataset goes back to the head of the queue`);
        try { markNotStarted({ runDir: dirname(cur.jobPath) }); } catch { /* the record stays unsettled: a later recovery sees no events and no exit, the same verdict */ }
        this.state = { ...this.state, current: null };
      } else if (found) {
        this.run = RunHandle.adopt(cur);
        // A stop --now sent before the last owner died still gets its SIGKILL after the grace period.
        if (cur.action === 'stop-now') this.run.killDeadline = performance.now() + this.config.trainer.stopGraceSeconds * 1000;
        this.log.info(`adopted trainer pid ${cur.pid} of run ${cur.runId} (${cur.dataset}), at step ${this.run.progress.step ?? 0}`);
      } else {
        this.run = RunHandle.settled(cur);
        this.log.info(`run ${cur.runId} (${cur.dataset}) ended while no engine was watching; settling it from its events`);
      }
    } else {
      // No run in state.json (lost, corrupt, or none): runs/ is the record (runRecords.ts).
      this.recoverRunFromDisk(loaded.rebuilt !== undefined);
    }
    // Datasets left in processing/ by a crash (other than the one of the run just adopted or
    // settled) go back to the head of the queue, attempts kept.
    for (const name of listDatasets(this.paths.processing)) {
      if (this.state.current?.dataset === name) continue;
      const meta = readMeta(this.paths.processing, name);
      const to = moveDataset(this.paths, 'processing', 'queue', name, meta && { ...meta, interrupted: true });
      this.log.warn(`processing/${name} had no run: back to the head of the queue as ${to}`);
    }
    this.save();
    this.lastPrune = Date.now();
    this.log.prune(this.config.logs.keepDays);
  }

  /**
   * state.json names no run (it was lost, corrupt, or there was none): runs/ decides
   * (runRecords.ts). A live process of any unsettled run of this root is adopted (never a second
   * trainer beside it); otherwise the newest unsettled run of a dataset in processing/ is settled
   * from its events and exit record; a run prepared but never started is marked so (not an
   * attempt). When state.json was lost, the attempts of every waiting dataset are counted again
   * from the settled runs, so a lost cache cannot buy a dataset more than queue.maxAttempts runs.
   */
  private recoverRunFromDisk(stateLost: boolean): void {
    const runs = runsOnDisk(this.paths);
    const live = liveRunProcesses(this.paths);
    const inProcessing = new Set(listDatasets(this.paths.processing));
    const unsettled = runs.filter((r) => !r.end).reverse(); // newest first
    // A Slurm job of an unsettled run is followed by its id (slurm.json), whatever this machine's
    // processes say; a job still PENDING has no events, and is not "never started".
    const submitted = unsettled.find((r) => readSlurmRecord(r.runDir));
    const alive = unsettled.find((r) => live.get(r.runDir)?.length);
    const chosen = submitted ?? alive ?? unsettled.find((r) => inProcessing.has(r.dataset) && (r.hasEvents || r.exited));
    for (const r of unsettled) {
      if (r === chosen || r.hasEvents || r.exited || live.get(r.runDir)?.length || readSlurmRecord(r.runDir)) continue;
      // Prepared but never started: only a newer run of its dataset, or none, follows.
      try { markNotStarted(r); } catch (e) { this.log.warn(`run ${r.runId}: cannot mark it as never started: ${(e as Error).message}`); }
      if (inProcessing.has(r.dataset)) this.log.warn(`run ${r.runId} (${r.dataset}) was prepared but never started; the dataset goes back to the head of the queue`);
    }
    if (stateLost) this.recountAttempts(runs);
    if (!chosen) return;
    if (chosen === submitted) {
      const meta = readMeta(this.paths.processing, submitted.dataset);
      const record: RunRecord = {
        runId: submitted.runId, dataset: submitted.dataset, attempt: (meta?.attempts ?? 0) + 1, jobPath: submitted.jobPath, eventsPath: submitted.eventsPath,
        logPath: submitted.logPath, startedAt: submitted.startedAt, pid: null, startTime: null, action: null, oomKillsAtStart: null,
      };
      this.state = { ...this.state, current: record };
      this.adoptSlurm(record, readSlurmRecord(submitted.runDir)!, 'runs/ (state.json did not name it)');
      return;
    }
    const proc = live.get(chosen.runDir)?.[0];
    const meta = readMeta(this.paths.processing, chosen.dataset);
    const record: RunRecord = {
      runId: chosen.runId, dataset: chosen.dataset, attempt: (meta?.attempts ?? 0) + 1, jobPath: chosen.jobPath, eventsPath: chosen.eventsPath,
      logPath: chosen.logPath, startedAt: chosen.startedAt, pid: proc?.pid ?? null, startTime: proc?.startTime ?? null, action: null, oomKillsAtStart: null,
    };
    this.state = { ...this.state, current: record };
    if (proc) {
      this.run = RunHandle.adopt(record);
      this.log.info(`found trainer pid ${proc.pid} still running run ${record.runId} (${record.dataset}) with no run in state.json: adopted, at step ${this.run.progress.step ?? 0}`);
    } else {
      this.run = RunHandle.settled(record);
      this.log.info(`run ${record.runId} (${record.dataset}) ended while no engine was watching, and state.json did not know it: settling it from runs/`);
    }
  }

  /**
   * After the live adapter fell back (its snapshot damaged or gone, or current.json rebuilt), the
   * datasets of done/ whose training the live adapter no longer holds go back to the queue, so that
   * done/ keeps meaning "in the live adapter" (issue #14). The live adapter's datasets are its
   * snapshot's lineage and, after a consolidation, the live model's datasets. A snapshot from before
   * lineage was recorded cannot say: nothing moves then. A rollback by a person is not a fall-back
   * and moves nothing (undoing a batch is its point).
   */
  private requeueOutsideLineage(): void {
    const p = this.paths;
    const cur = readCurrent(p);
    const held = new Set<string>();
    if (cur?.snapshot) {
      const m = readManifest(join(snapshotsDir(p), cur.snapshot));
      if (!m?.lineage) {
        this.log.warn(`snapshot ${cur.snapshot} records no lineage: done/ is left as it is`);
        return;
      }
      for (const l of m.lineage) if (l.sha256) held.add(l.sha256);
    }
    if (cur?.base) for (const l of readModelManifest(p, cur.base)?.datasets ?? []) if (l.sha256) held.add(l.sha256);
    for (const name of listDatasets(p.done)) {
      try {
        const meta = readMeta(p.done, name);
        const sha = meta?.sha256 || createHash('sha256').update(readFileSync(join(p.done, name))).digest('hex');
        if (held.has(sha)) continue;
        const to = moveDataset(p, 'done', 'queue', name, { ...(meta ?? { priority: 0, attempts: 0, added: new Date().toISOString(), sha256: sha, size: 0, examples: 0 }), interrupted: false, resumeFrom: null, notBefore: null });
        this.log.warn(`done/${name} is not in the live adapter any more (${cur?.snapshot ? `snapshot ${cur.snapshot}` : 'no adapter'}${cur?.base ? ` on models/${cur.base}` : ''}): back in the queue as ${to}, to be trained again`);
      } catch (e) {
        this.log.error(`done/${name}: could not be put back in the queue: ${(e as Error).message}`);
      }
    }
  }

  /**
   * A sidecar that exists but does not read as one (torn, garbage): kept aside, and a new one
   * written from the dataset itself (size, sha256) with its attempts counted from runs/ (every
   * settled run of that name with a retryable end: when it was admitted is not known any more, so
   * the count errs on the side of fewer tries). Without this the dataset would train with zero
   * attempts again.
   */
  private repairUnreadableSidecars(): string[] {
    const out: string[] = [];
    let runs: ReturnType<typeof runsOnDisk> | undefined;
    for (const f of DATASET_FOLDERS) {
      for (const name of listDatasets(this.paths[f])) {
        const file = metaPath(this.paths[f], name);
        if (!existsSync(file)) continue; // repairPairs' case
        const m = readJsonQuiet<Partial<DatasetMeta>>(file);
        if (m && typeof m === 'object' && typeof m.attempts === 'number' && typeof m.priority === 'number' && typeof m.added === 'string') continue;
        try {
          runs ??= runsOnDisk(this.paths);
          const aside = join(this.paths[f], `.${name}${META_SUFFIX}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`);
          renameSync(file, aside);
          const data = readFileSync(join(this.paths[f], name));
          const st = statSync(join(this.paths[f], name));
          const attempts = attemptsFromRuns(runs, name, '');
          writeMeta(this.paths[f], name, { priority: 0, attempts, added: new Date(st.mtimeMs).toISOString(), sha256: createHash('sha256').update(data).digest('hex'), size: data.length, examples: 0 });
          out.push(`${f}/${name}: its sidecar was unreadable (kept aside as ${basename(aside)}); a new one written, ${attempts} attempt(s) counted from runs/`);
        } catch (e) {
          out.push(`${f}/${name}: its sidecar is unreadable and could not be rebuilt: ${(e as Error).message}`);
        }
      }
    }
    return out;
  }

  /**
   * After state.json was lost: each queued or processing dataset's attempts are at least its
   * settled runs with a retryable end since it was admitted (runs/<id>/end.json). The sidecar is
   * the usual record; this catches one that was lost with the state (repairPairs wrote a fresh one).
   * A queued dataset that has used them all goes to failed/.
   */
  private recountAttempts(runs: ReturnType<typeof runsOnDisk>): void {
    const max = this.config.queue.maxAttempts;
    for (const folder of ['queue', 'processing'] as const) {
      for (const name of listDatasets(this.paths[folder])) {
        const meta = readMeta(this.paths[folder], name);
        if (!meta) continue;
        const counted = attemptsFromRuns(runs, name, meta.added);
        if (counted <= meta.attempts) continue;
        this.log.warn(`${folder}/${name}: ${counted} attempt(s) found in runs/, its sidecar said ${meta.attempts}: counted again`);
        const fixed = { ...meta, attempts: counted };
        if (folder === 'queue' && counted >= max) {
          const last = [...runs].reverse().find((r) => r.dataset === name && r.end?.kind);
          const to = moveDataset(this.paths, 'queue', 'failed', name, fixed, {
            kind: last?.end?.kind ?? 'crash', message: `${counted} of queue.maxAttempts ${max} attempts used (counted from runs/ after state.json was lost)`, runId: last?.runId ?? null, attempts: counted, at: new Date().toISOString(),
          });
          this.log.warn(`queue/${name}: no attempt left → failed/${to}`);
        } else writeMeta(this.paths[folder], name, fixed);
      }
    }
  }

  // ---- control and intake ------------------------------------------------------------------

  /** Applies every command waiting in control/ (the CLI does this when it holds the lock without ticking). */
  async drainControl(): Promise<void> {
    if (this.role === 'owner') await this.processControl();
  }

  private async controlAndIntake(): Promise<void> {
    await this.processControl();
    await this.intake();
  }

  private async processControl(): Promise<void> {
    for (const pc of pendingCommands(this.paths.control)) {
      if (this.role !== 'owner') return;
      if (!pc.parsed) {
        const aside = join(this.paths.control, `.bad-${basename(pc.file)}`);
        try { renameSync(pc.file, aside); } catch { /* gone */ }
        this.fail(`control/${basename(pc.file)} is not a command (${pc.error}); kept aside as ${basename(aside)}`);
        continue;
      }
      const { id, command } = pc.parsed;
      if (this.state.applied.includes(id)) {
        removeCommandFile(pc.file);
        continue;
      }
      const bad = checkCommand(command);
      const r = bad ? { ok: false, message: bad } : await this.apply(id, command);
      this.log.info(`command ${command.type} (${id.slice(0, 8)}) from pid ${pc.parsed.from?.pid ?? '?'}: ${r.ok ? '' : 'refused: '}${r.message}`);
      this.change((s) => withApplied(s, id, r.ok, r.message, new Date()));
      removeCommandFile(pc.file);
      // A run may start now (enqueue, resume): tick soon rather than at the next interval.
      this.kick(0);
    }
  }

  private async intake(): Promise<void> {
    for (const f of this.inbox.scan(this.config.queue.intakeStableSeconds)) {
      if (this.role !== 'owner') return;
      try {
        const t0 = performance.now();
        const r = await admit(this.paths, f.source, { mode: f.symlink ? 'copy' : 'move', originalName: f.name, priority: 0, validate: validateOptionsFrom(this.config) });
        const took = `admitted in ${(performance.now() - t0).toFixed(1)} ms, validation ${r.validateMs.toFixed(1)} ms`;
        if (f.symlink) unlinkSync(f.path);
        this.inbox.forget(f.name);
        if (r.folder === 'failed') this.fail(`inbox/${f.name} → failed/${r.name}: ${r.message}`);
        else {
          this.log.info(`inbox/${f.name} → ${r.message} [${took}]`);
          this.kick(0);
        }
      } catch (e) {
        // Left in the inbox (admit undoes its staging) and tried again at the next scan.
        if (writeTroubleOf(e)) this.writeFailed(`inbox/${f.name}: not taken yet`, e);
        else this.log.warn(`inbox/${f.name}: not taken yet: ${(e as Error).message}`);
      }
    }
  }

  private async apply(id: string, c: Command): Promise<{ ok: boolean; message: string }> {
    const p = this.paths;
    switch (c.type) {
      case 'enqueue': {
        const prior = findByCommandId(p, id);
        if (prior) return { ok: true, message: `already enqueued as ${prior.folder}/${prior.name}` };
        let st;
        try {
          st = statSync(c.path);
        } catch (e) {
          return { ok: false, message: `${c.path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
        }
        if (!st.isFile()) return { ok: false, message: `${c.path} is not a regular file` };
        const r = await admit(p, c.path, { mode: 'copy', originalName: basename(c.path), priority: c.priority ?? 0, validate: validateOptionsFrom(this.config), commandId: id });
        return r.folder === 'queue'
          ? { ok: true, message: `${r.message}, priority ${c.priority ?? 0}` }
          : { ok: false, message: `rejected: failed/${r.name}: ${r.message} (see failed/${r.name}.reason.json)` };
      }
      case 'stop': {
        this.change((s) => withStop(s, c.mode));
        const run = this.run;
        if (!run || run.exit !== undefined) return { ok: true, message: 'no run in progress; the queue is paused until resume' };
        if (c.mode === 'afterJob') return { ok: true, message: `run ${run.record.runId} continues; the queue pauses when it ends` };
        if (c.mode === 'now') {
          run.markAction('stop-now');
          run.killDeadline = performance.now() + this.config.trainer.stopGraceSeconds * 1000;
          run.signal('SIGTERM');
          this.change((s) => ({ ...s, current: run.record }));
          return { ok: true, message: `SIGTERM sent to ${this.runTarget(run)}; ${run instanceof SlurmRunHandle ? 'the job is cancelled' : 'SIGKILL to its group'} after ${this.config.trainer.stopGraceSeconds} s; the queue is paused until resume` };
        }
        run.markAction('stop-after-step');
        run.signal('SIGUSR1');
        this.change((s) => ({ ...s, current: run.record }));
        return { ok: true, message: `SIGUSR1 sent to ${this.runTarget(run)}: it stops after this step with a checkpoint; the queue is paused until resume` };
      }
      case 'pause':
        this.change((s) => withPause(s, { kind: 'request', reason: 'paused (resume to continue)' }));
        return { ok: true, message: this.run ? 'paused: the current run continues, nothing new starts' : 'paused' };
      case 'resume':
        this.change(withResume);
        return { ok: true, message: 'resumed' };
      case 'retry': {
        const failed = lookup(p, 'failed', c.name);
        if (failed) {
          // Checked again on the way back: a dataset fixed in failed/ is taken, one still broken
          // returns to failed/ with the new diagnostics.
          const meta = readMeta(p.failed, failed);
          for (const f of [metaPath(p.failed, failed), reasonPath(p.failed, failed)]) {
            try { unlinkSync(f); } catch { /* none */ }
          }
          const r = await admit(p, join(p.failed, failed), { mode: 'move', originalName: failed, priority: meta?.priority ?? 0, validate: validateOptionsFrom(this.config) });
          return r.folder === 'queue'
            ? { ok: true, message: `failed/${failed} is back in the queue as ${r.name}, attempts reset` }
            : { ok: false, message: `failed/${failed} still has errors: ${r.message} (see failed/${r.name}.reason.json)` };
        }
        const queued = lookup(p, 'queue', c.name);
        if (queued) {
          const meta = readMeta(p.queue, queued);
          if (meta) writeMeta(p.queue, queued, { ...meta, notBefore: null });
          return { ok: true, message: `${queued} is already queued; its retry wait is cleared` };
        }
        return { ok: false, message: `no dataset ${c.name} in failed/ or queue/` };
      }
      case 'remove': {
        const queued = lookup(p, 'queue', c.name);
        if (queued) {
          const to = moveDataset(p, 'queue', 'failed', queued, undefined, { kind: 'removed', message: 'removed from the queue by request (lora-queue retry puts it back)', at: new Date().toISOString() });
          return { ok: true, message: `${queued} removed from the queue: kept as failed/${to} (retry ${to} puts it back)` };
        }
        if (lookup(p, 'processing', c.name)) return { ok: false, message: `${c.name} is training now: stop it first (stop --now), then remove it` };
        if (lookup(p, 'failed', c.name)) return { ok: false, message: `${c.name} is not queued (it is in failed/)` };
        return { ok: false, message: `no dataset ${c.name} in the queue` };
      }
      case 'rollback':
        return rollback(p, c.snapshot, this.run !== undefined, this.consolidator.active());
      case 'consolidate':
        return this.consolidator.request(id, c.snapshot ?? null, 'command');
      case 'priority': {
        const queued = lookup(p, 'queue', c.name);
        if (!queued) return { ok: false, message: `no dataset ${c.name} in the queue` };
        const meta = readMeta(p.queue, queued);
        if (!meta) return { ok: false, message: `queue/${queued} has no readable sidecar` };
        writeMeta(p.queue, queued, { ...meta, priority: c.priority });
        return { ok: true, message: `${queued}: priority ${c.priority}` };
      }
    }
  }

  // ---- runs ----------------------------------------------------------------------------------

  private supervise(): void {
    const run = this.run;
    if (!run) return;
    const now = performance.now();
    const ended = run.poll(now);
    // A Slurm job's id, state or reason changed (PENDING (Resources) → RUNNING): status and the views show it.
    if (run instanceof SlurmRunHandle && run.changed) {
      run.changed = false;
      this.change((st) => ({ ...st, current: run.record }));
    }
    if (!ended) {
      const t = this.config.trainer;
      if (run.killDeadline !== undefined && now > run.killDeadline) {
        run.killDeadline = undefined;
        const killed = run.killAll();
        this.log.warn(`${this.runTarget(run)} did not stop within ${t.stopGraceSeconds} s of SIGTERM: ${run instanceof SlurmRunHandle ? 'the job is cancelled (scancel)' : `SIGKILL to its process group and every process of the run (${killed.length}: ${killed.map((k) => k.pid).join(' ')})`}`);
        this.resident.kill(`run ${run.record.runId} did not stop within trainer.stopGraceSeconds`);
      } else if (run.record.action !== 'hang-kill' && run.silentSeconds(now) > t.hangTimeoutSeconds) {
        run.markAction('hang-kill');
        this.change((s) => ({ ...s, current: run.record }));
        const killed = run.killAll();
        this.log.warn(`no event from ${this.runTarget(run)} for ${t.hangTimeoutSeconds} s: hung; ${run instanceof SlurmRunHandle ? 'the job is cancelled (scancel)' : `SIGKILL to its process group and every process of the run (${killed.length}: ${killed.map((k) => k.pid).join(' ')})`}`);
        this.resident.kill(`run ${run.record.runId} hung`);
      }
      return;
    }
    try {
      this.finishRun(run);
    } catch (e) {
      // A full or read-only disk while settling: the run stays unsettled and is settled again on
      // the next tick (each step is idempotent: the snapshot is found by run id, a dataset already
      // moved is not moved again, the ledger skips a run id it has); meanwhile the queue pauses.
      if (!writeTroubleOf(e)) throw e;
      this.writeFailed(`cannot settle run ${run.record.runId}`, e);
      // Recorded where state.json can still be written (only a folder of the root is read-only).
      this.save();
    }
  }

  private finishRun(run: TrainerRun): void {
    const rec = run.record;
    // No process of a run outlives it: a launcher's worker left behind (its launcher crashed or was
    // killed, it runs in a session of its own) would hold GPU memory and fail the next run.
    const left = run.processes();
    if (left.length) {
      const killed = run.killAll();
      this.log.warn(`run ${rec.runId}: ${left.length} process(es) of the run outlived its trainer command (pids ${left.map((p) => p.pid).join(' ')}): SIGKILL to ${killed.length}`);
    }
    // Timed for the log: the gap between one trainer's exit and the next spawn (bench/engine).
    const t0 = performance.now();
    let snapshotMs = 0;
    const facts = {
      diskFull: this.diskFullEvidence(run),
      diskUnwritable: run.unwritableSeen ?? null,
      progress: run.progress,
      exit: run.exit ?? null,
      action: rec.action,
      oomKills: run.oomKillsSinceStart(),
      hangTimeoutSeconds: this.config.trainer.hangTimeoutSeconds,
      logTail: logTail(rec.logPath, 30),
      ...(run.spawnError && { spawnError: run.spawnError }),
    };
    let c: Classification = run instanceof SlurmRunHandle ? classifySlurmEnd(run.end(), facts) : classifyEnd(facts);
    const now = new Date();
    const meta = readMeta(this.paths.processing, rec.dataset);
    const inProcessing = listDatasets(this.paths.processing).includes(rec.dataset);
    let snap: { made: boolean; failure?: string } | null = null;
    if (c.kind === 'success') {
      // Checked against, and recorded with, the base the run trained on (job.json), which a consolidation may have replaced since.
      const job = readJsonQuiet<{ init_adapter?: string | null; base_model?: string }>(rec.jobPath);
      const baseModel = job?.base_model ?? resolve(dirname(this.configFile), this.config.baseModel ?? '.');
      const ts = performance.now();
      const after = snapshotAfterSuccess(this.paths, {
        runId: rec.runId, adapterDir: run.progress.done?.adapterPath ?? join(dirname(rec.jobPath), 'adapter'), baseModel, base: baseIdFromPath(this.paths, baseModel),
        dataset: rec.dataset, datasetSha256: meta?.sha256 || null, step: run.progress.step, loss: run.progress.done?.finalLoss ?? run.progress.loss,
        startedFrom: job?.init_adapter ?? null, keep: this.config.snapshots.keep,
      });
      for (const l of after.log) this.log[l.level](l.message);
      snapshotMs = performance.now() - ts;
      snap = after.failure ? { made: false, failure: after.failure } : { made: after.current !== undefined };
    }
    // The live adapter fell back while the run trained (its snapshot damaged, found at a restart):
    // the run's adapter continues one the live adapter does not hold, so it is kept aside as a
    // snapshot and the dataset trains again on the live one (done/ means "in the live adapter").
    const note = snap && !snap.made && !snap.failure ? readCurrent(this.paths)?.note ?? null : null;
    const settled = settle({
      state: this.state, record: rec, end: c, snapshot: snap, liveFellBack: isFallbackNote(note), meta, progress: run.progress,
      queue: { maxAttempts: this.config.queue.maxAttempts, retryBackoffSeconds: this.config.queue.retryBackoffSeconds }, now,
    });
    c = settled.end;
    const decision = settled.decision;
    this.resident.afterRun(c.kind, rec.runId);
    if (settled.requeuedOnFallback) this.log.warn(`run ${rec.runId} (${rec.dataset}) continued an adapter the live one no longer holds (${note ?? ''}): its snapshot is kept aside and the dataset trains again`);
    let where: string = decision.outcome;
    if (inProcessing) {
      const reason = decision.outcome === 'failed'
        ? { kind: c.kind, message: c.message, runId: rec.runId, attempts: decision.meta.attempts, at: now.toISOString(), exit: run.exit ?? null, lastLogLines: logTail(rec.logPath, 30).split('\n') }
        : undefined;
      const to = moveDataset(this.paths, 'processing', decision.outcome, rec.dataset, decision.meta, reason);
      where = `${decision.outcome}/${to}`;
    } else this.log.warn(`run ${rec.runId}: processing/${rec.dataset} is missing; nothing to move`);
    writeFileSync(join(dirname(rec.jobPath), 'end.json'), JSON.stringify({ ...c, exit: run.exit ?? null, outcome: decision.outcome, at: now.toISOString() }, null, 2) + '\n');
    // The usage ledger: one durable line per run (a failed append is retried with the next run).
    this.ledger ??= new LedgerWriter(ledgerPath(this.paths.root));
    for (const m of this.ledger.append(ledgerRecordFor({ record: rec, kind: c.kind, to: decision.outcome, now, exitObserved: run.exit != null, allocation: rec.slurm?.elapsedSeconds != null ? { seconds: rec.slurm.elapsedSeconds, gpus: rec.slurm.gpus ?? null } : null, finalLoss: run.progress.done?.finalLoss ?? run.progress.loss, datasetExamples: meta?.examples ?? null, fallbackModel: this.config.baseModel ?? '' }))) this.log.error(m);
    this.run = undefined;
    this.change(() => settled.state);
    if (settled.snapshotMade) this.consolidator.snapshotMade();
    const retry = decision.outcome === 'queue' && decision.meta.notBefore ? `; retry after ${decision.meta.notBefore}` : '';
    this.log.info(`run ${rec.runId} (${rec.dataset}, attempt ${rec.attempt}) ended: ${c.kind}: ${c.message} → ${where}${retry} [settled in ${(performance.now() - t0).toFixed(1)} ms, snapshot ${snapshotMs.toFixed(1)} ms]`);
  }

  /**
   * What the engine saw of a full disk for this run: an ENOSPC of its own writes (state.json, its
   * log) since the run started, or free space under disk.minFreeGiB (at least 1 MiB) now. A trainer
   * on a full disk often cannot say so itself: its trainer.log and exit.json are on that disk.
   */
  private diskFullEvidence(run: TrainerRun): string | null {
    if (run.diskFullSeen) return run.diskFullSeen;
    const lw = this.log.lastWriteError;
    if (lw && (lw.code === 'ENOSPC' || lw.code === 'EDQUOT') && lw.at >= Date.parse(run.record.startedAt)) return `the engine's log could not be written: ${lw.message}`;
    try {
      const free = diskFacts(this.paths.root).freeBytes;
      const min = Math.max(this.config.disk.minFreeGiB * 2 ** 30, 2 ** 20);
      if (free < min) return `${(free / 2 ** 20).toFixed(1)} MiB free on the queue root at the end of the run, under ${(min / 2 ** 20).toFixed(1)} MiB`;
    } catch { /* unknown */ }
    return null;
  }

  /** "trainer pid N" or "Slurm job N", for the log and command answers. */
  private runTarget(run: TrainerRun): string {
    if (run instanceof SlurmRunHandle) return run.record.slurm.jobId ? `Slurm job ${run.record.slurm.jobId}` : `Slurm job ${run.record.slurm.jobName} (being submitted)`;
    return `trainer pid ${run.record.pid ?? '?'}`;
  }

  /** executor.kind "slurm": the run becomes one job (slurm/handle.ts); sbatch answers asynchronously. */
  private submitSlurm(record: RunRecord, argv: string[], env: NodeJS.ProcessEnv): SlurmRunHandle {
    return SlurmRunHandle.submit(record, argv, this.paths.root, env, this.config.executor, this.log);
  }

  /** Follows the Slurm job of a run an earlier engine submitted: by its id, never a second submission. */
  private adoptSlurm(rec: RunRecord, info: NonNullable<RunRecord['slurm']>, from: string): void {
    const e = this.config.executor;
    this.run = SlurmRunHandle.adopt(rec, info, e, { ...process.env, ...this.config.trainer.env }, this.paths.root, this.log);
    this.run.onExit = () => this.kick(0);
    if (rec.action === 'stop-now') this.run.killDeadline = performance.now() + this.config.trainer.stopGraceSeconds * 1000;
    this.state = { ...this.state, current: this.run.record };
    this.log.info(`adopted Slurm job ${info.jobId ?? `named ${info.jobName} (its id was not recorded: looked up by name)`} of run ${rec.runId} (${rec.dataset}) from ${from}, at step ${this.run.progress.step ?? 0}${e.kind !== 'slurm' ? '; executor.kind is no longer "slurm": this job is followed to its end, new runs start locally' : ''}`);
  }

  private maybeStartRun(): void {
    // The merge needs the memory a resident trainer holds, and its result is a new base model anyway.
    if (this.state.consolidation && !this.run) this.resident.release('a consolidation replaces the base model');
    // A consolidation pending or merging holds the queue: the next run trains on its result.
    if (this.run || this.state.current || this.state.consolidation) return;
    const q = this.config.queue;
    const blocked = blockedBecause(this.state, undefined);
    if (blocked) return;
    const t0 = performance.now();
    const entries = listEntries(this.paths.queue, this.sidecars);
    if (!entries.length) return;
    const problem = this.configProblem();
    if (problem) return;
    const next = pickNext(entries, Date.now(), maxBackoffMs(q.maxAttempts, q.retryBackoffSeconds));
    if (!next) return;
    const picked = performance.now();
    // Free space, inodes, writability, GPU: a shortage pauses the queue instead of failing the dataset.
    const held = this.resources.beforeRun(this.resourceEnv());
    if (held) { this.change((s) => withPauseStep(s, held)); return; }
    // Never two trainers for one root: a live process of a run this engine does not know of
    // (state.json was lost or replaced while it ran) is adopted instead (one pass over /proc, a few ms).
    // (A Slurm job's processes are on the compute nodes, Slurm's to follow.)
    const stray = this.config.executor.kind === 'local' ? liveRunProcesses(this.paths) : new Map();
    if (stray.size) {
      this.log.error(`process(es) of ${[...stray.keys()].map((d) => `runs/${basename(d)}`).join(', ')} alive (pids ${[...stray.values()].flat().map((x) => x.pid).join(' ')}) although state.json names no run: not starting ${next.name}`);
      this.recoverRunFromDisk(false);
      if (!this.run) {
        // Leftovers of runs already settled (end.json): no process of a run outlives it.
        for (const dir of stray.keys()) {
          const killed = killRun({ runDir: dir, jobPath: join(dir, 'job.json'), rootPid: null });
          if (killed.length) this.log.warn(`runs/${basename(dir)} was settled already: SIGKILL to its leftover process(es) ${killed.map((k) => k.pid).join(' ')}`);
        }
      }
      this.save();
      return;
    }
    const c = this.config;
    const runId = newRunId();
    const runDir = join(this.paths.runs, runId);
    let name: string;
    try {
      name = moveDataset(this.paths, 'queue', 'processing', next.name, next.meta);
    } catch (e) {
      if (writeTroubleOf(e)) {
        this.writeFailed(`cannot move queue/${next.name} to processing/`, e);
        this.save();
        return;
      }
      this.state = withPause(this.state, { kind: 'engine', reason: `cannot move queue/${next.name} to processing/: ${(e as Error).message} (fix it, then resume)` });
      this.fail(`cannot start ${next.name}: ${(e as Error).message}; the queue is paused`);
      return;
    }
    const jobPath = join(runDir, 'job.json');
    const eventsPath = join(runDir, 'events.jsonl');
    // A checkpoint is verified before it is resumed from; a bad one is set aside for an earlier one.
    const resume = chooseCheckpoint(next.meta.resumeFrom ?? null);
    for (const n of resume.notes) this.log.warn(`${name}: ${n}`);
    const job = {
      dataset: join(this.paths.processing, name),
      // The live base: the config's baseModel, or the model of the last consolidation (current.json).
      base_model: liveBase(this.paths, resolve(dirname(this.configFile), c.baseModel!)).path,
      init_adapter: currentAdapter(this.paths),
      resume_from: resume.path,
      output_dir: join(runDir, 'adapter'),
      events: eventsPath,
      hyperparameters: hyperparametersFor(c, this.configFile),
      run_id: runId,
    };
    try {
      mkdirSync(runDir, { recursive: true });
      writeJsonAtomic(jobPath, job);
      writeFileSync(eventsPath, '', { flag: 'a' });
    } catch (e) {
      // A full disk, typically: put the dataset back and pause rather than fail it or spin.
      try { moveDataset(this.paths, 'processing', 'queue', name); } catch { /* recovery at the next start puts it back */ }
      if (writeTroubleOf(e)) {
        // Space or permission: a resource pause, lifted by itself once writes succeed again.
        this.writeFailed(`cannot prepare run ${runId} for ${name}`, e);
        this.save();
        return;
      }
      this.state = withPause(this.state, { kind: 'engine', reason: `cannot prepare run ${runId}: ${(e as Error).message} (free space or fix permissions, then resume)` });
      this.fail(`cannot prepare run ${runId} for ${name}: ${(e as Error).message}; the queue is paused`);
      return;
    }
    const record: RunRecord = {
      runId, dataset: name, attempt: next.meta.attempts + 1, jobPath, eventsPath, logPath: join(runDir, 'trainer.log'),
      startedAt: new Date().toISOString(), pid: null, startTime: null, action: null, oomKillsAtStart: null,
    };
    // Saved before the spawn: a crash in between leaves a run the next owner finds by its job path.
    this.change((s) => ({ ...s, current: record }));
    const exe = resolveTrainerExecutable(c.trainer.command[0]!, c, dirname(this.configFile), process.env['PATH'] ?? '');
    const trainerArgv = [exe.ok ? exe.path : c.trainer.command[0]!, ...c.trainer.command.slice(1)];
    const env = { ...process.env, ...c.trainer.env };
    let argv: string[];
    if (c.executor.kind === 'slurm') {
      // A resident trainer is a process on this machine: a Slurm job always starts its own (docs/slurm.md).
      this.resident.release('executor.kind is "slurm": each run is a Slurm job');
      argv = [...trainerArgv, '--job', jobPath];
      this.run = this.submitSlurm(record, argv, env);
    } else {
      // trainer.resident: the exit recorder hands the job to the loaded trainer instead of starting one.
      const resident = this.resident.argsForRun({ config: c, trainerArgv, env, baseModel: job.base_model });
      argv = [...(resident ?? trainerArgv), '--job', jobPath];
      this.run = RunHandle.spawn(record, argv, this.paths.root, env);
    }
    // Its end is settled (and the next run started) at once, not at the next tick.
    this.run.onExit = () => this.kick(0);
    this.change((s) => ({ ...s, current: record }));
    this.log.info(`run ${runId}: ${name} (attempt ${record.attempt}${job.resume_from ? `, resuming from ${job.resume_from}` : ''}) started as ${this.runTarget(this.run)}: ${argv.join(' ')} [picked from ${entries.length} queued in ${(picked - t0).toFixed(1)} ms, prepared and spawned in ${(performance.now() - picked).toFixed(1)} ms]`);
  }
}
