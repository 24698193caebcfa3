/**
 * One run as one Slurm job: the surface engine.ts uses of RunHandle (supervisor.ts), for
 * `executor.kind: "slurm"`. The job runs runs/<id>/slurm-batch.sh, which `exec`s the trainer
 * command (given to it as arguments, never as a shell string) from the queue root, output appended
 * to trainer.log. The job id is recorded in runs/<id>/slurm.json the moment sbatch prints it; the
 * job name `lq-<run id>` (written there before the submission) finds a job whose id a crash lost.
 * Progress, the chart and hang detection come from the events file on the shared filesystem, as
 * for a local trainer; the job's state comes from `scontrol -o show job` every
 * executor.pollSeconds, and at once when the events say the trainer is done. While Slurm holds the
 * job (PENDING and the like) the hang timer does not run. Design and the table of ends: docs/slurm.md.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Config } from '../../config/schema';
import { readJsonQuiet, writeJsonAtomic } from '../atomic';
import { applyEvents } from '../events';
import type { ProcId } from '../proc';
import { TrainerRun, type ExitInfo } from '../trainerRun';
import type { RunRecord, SlurmRunInfo } from '../types';
import { accounting, cancel, findByName, showJob, submit, type SlurmEnv } from './commands';
import { isEndedState, isWaitingState, type SlurmJob } from './parse';

export type SlurmExecutor = Config['executor'];

/** The job name of a run: unique (run ids are), so it finds the job when its id was lost. */
export function jobNameOf(runId: string): string {
  return `lq-${runId}`;
}

export function slurmRecordPath(runDir: string): string {
  return join(runDir, 'slurm.json');
}

/** runs/<id>/slurm.json, or undefined for a run that was not a Slurm job. */
export function readSlurmRecord(runDir: string): SlurmRunInfo | undefined {
  const r = readJsonQuiet<SlurmRunInfo>(slurmRecordPath(runDir));
  return r && typeof r.jobName === 'string' ? r : undefined;
}

/** The sbatch arguments of a run (pure: tested): the engine's own options, then the user's, then the script and the trainer command. */
export function sbatchArgv(o: { runId: string; root: string; logPath: string; script: string; argv: readonly string[]; executor: SlurmExecutor }): string[] {
  const e = o.executor;
  return [
    '--parsable',
    `--job-name=${jobNameOf(o.runId)}`,
    `--comment=LoRA Queue run ${o.runId}`,
    `--output=${o.logPath}`,
    `--error=${o.logPath}`,
    '--open-mode=append',
    `--chdir=${o.root}`,
    // NODE_FAIL, PREEMPTED, BOOT_FAIL end the job; the engine puts the dataset back itself (a new run).
    '--no-requeue',
    '--export=ALL',
    ...(e.warningSeconds > 0 ? [`--signal=B:USR2@${e.warningSeconds}`] : []),
    ...(e.partition ? [`--partition=${e.partition}`] : []),
    ...(e.account ? [`--account=${e.account}`] : []),
    ...e.sbatchArgs,
    o.script,
    ...o.argv,
  ];
}

/**
 * The batch script: the same for every run, the trainer command comes as its arguments. `cd`
 * because sbatch --chdir to a folder the node does not have runs the job in /tmp instead of
 * failing it; `exec` because bash would hold Slurm's signals until its child exits.
 */
export const BATCH_SCRIPT = `#!/bin/bash
# Written by LoRA Queue (docs/slurm.md). The trainer command and its arguments are this script's
# arguments ("$@"): no value from the config or the data is parsed by a shell.
cd -- "$LORA_QUEUE_ROOT" || { echo "lora-queue: the queue root $LORA_QUEUE_ROOT is not reachable on $(hostname): it must be on a filesystem the compute nodes share" >&2; exit 97; }
# The trainer takes this shell's place, so scancel's and the time limit's signals reach it.
exec "$@"
`;

function signalName(n: number): string {
  return Object.entries(constants.signals).find(([, v]) => v === n)?.[0] ?? `signal ${n}`;
}

export interface SlurmEnd {
  /** The job as Slurm last described it at its end; undefined when Slurm forgot it (judged from the events). */
  readonly job: SlurmJob | undefined;
  /** sbatch failed or could not be run: the message. */
  readonly submitError: string | undefined;
  /** The engine stopped between preparing and submitting, and no job of the run's name exists. */
  readonly neverSubmitted: boolean;
  /** The engine asked for the cancel (a stop, a hang, the grace period). */
  readonly cancelledByEngine: boolean;
}

type Log = { info(m: string): void; warn(m: string): void; error(m: string): void };

export class SlurmRunHandle extends TrainerRun<RunRecord & { slurm: SlurmRunInfo }> {
  readonly kind = 'slurm' as const;
  /** The state or reason changed since the engine last saved the record (it saves state.json then). */
  changed = false;

  private job: SlurmJob | undefined;
  private submitError: string | undefined;
  private neverSubmitted = false;
  private cancelledByEngine = false;
  private inFlight = false;
  private nextQueryAt = 0;
  private cancelWhenKnown: 'all' | 'TERM' | 'USR1' | undefined;
  private lastQueryError = '';
  /** Slurm commands still running (sbatch, scancel): an engine that exits waits for them (idle()). */
  private readonly pending = new Set<Promise<unknown>>();
  /** A stop asked while the job waited: cancelled again if a later answer still shows it waiting. */
  private stopWhileWaiting = false;

  private constructor(record: RunRecord & { slurm: SlurmRunInfo }, adopted: boolean, private readonly sx: SlurmEnv, private readonly pollMs: number, private readonly log: Log) {
    super(record, adopted);
  }

  private get runDir(): string {
    return dirname(this.record.jobPath);
  }

  /** Writes the batch script and slurm.json (the job name), then submits; returns at once, the job id arrives with sbatch's answer. */
  static submit(record: RunRecord, argv: readonly string[], root: string, env: NodeJS.ProcessEnv, executor: SlurmExecutor, log: Log): SlurmRunHandle {
    const runDir = dirname(record.jobPath);
    const info: SlurmRunInfo = { jobName: jobNameOf(record.runId), jobId: null, state: null, reason: null, submittedAt: new Date().toISOString() };
    record.slurm = info;
    const h = new SlurmRunHandle(record as RunRecord & { slurm: SlurmRunInfo }, false, { env: { ...env, LORA_QUEUE_ROOT: root } }, executor.pollSeconds * 1000, log);
    const script = join(runDir, 'slurm-batch.sh');
    writeFileSync(script, BATCH_SCRIPT);
    chmodSync(script, 0o755);
    // Before the submission: a crash between sbatch and the next line finds the job by this name.
    writeJsonAtomic(slurmRecordPath(runDir), info);
    h.inFlight = true;
    const args = sbatchArgv({ runId: record.runId, root, logPath: record.logPath, script, argv, executor });
    void h.track(submit(args, h.sx, root)).then((r) => {
      h.inFlight = false;
      if ('error' in r) {
        h.submitError = r.error;
        h.spawnError = `the Slurm job could not be submitted: ${r.error}`;
        h.finish(null);
        return;
      }
      h.setJobId(r.jobId);
      log.info(`run ${record.runId}: Slurm job ${r.jobId} submitted (sbatch ${args.slice(0, -argv.length - 1).join(' ')})`);
      h.nextQueryAt = 0;
      h.onExit?.(); // not an end: wakes the engine to save the id in state.json at once
    });
    return h;
  }

  /** Follows the job of a run an earlier engine submitted (by its id, or by its name when the id was not recorded). */
  static adopt(record: RunRecord, info: SlurmRunInfo, executor: SlurmExecutor, env: NodeJS.ProcessEnv, root: string, log: Log): SlurmRunHandle {
    record.slurm = info;
    const h = new SlurmRunHandle(record as RunRecord & { slurm: SlurmRunInfo }, true, { env: { ...env, LORA_QUEUE_ROOT: root } }, executor.pollSeconds * 1000, log);
    applyEvents(h.progress, h.tail.read());
    h.lastActivity = performance.now();
    return h;
  }

  private setJobId(id: string): void {
    this.record.slurm = { ...this.record.slurm, jobId: id };
    this.changed = true;
    try {
      writeJsonAtomic(slurmRecordPath(this.runDir), this.record.slurm);
    } catch (e) {
      // state.json holds it too (saved at the next tick); the name finds it otherwise.
      this.log.error(`run ${this.record.runId}: cannot record Slurm job ${id} in slurm.json: ${(e as Error).message}`);
    }
    const pending = this.cancelWhenKnown;
    this.cancelWhenKnown = undefined;
    if (pending) this.sendCancel(pending);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
    return p;
  }

  /**
   * Waits for the Slurm commands in flight: the CLI applies a stop and exits at once, and a
   * scancel (or an sbatch whose job id must be recorded) must not die with it.
   */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  private finish(exit: ExitInfo | null): void {
    if (this.exit !== undefined) return;
    this.exit = exit;
    this.onExit?.();
  }

  /** Reads new events and, when due, Slurm's word on the job; true once the job has ended (all its events read). */
  poll(now: number = performance.now()): boolean {
    // The trainer says it is done: ask Slurm now, not at the next pollSeconds.
    if (this.readEvents(now) && (this.progress.done || this.progress.error)) this.nextQueryAt = Math.min(this.nextQueryAt, now);
    if (this.exit === undefined && !this.inFlight && now >= this.nextQueryAt) {
      this.inFlight = true;
      void this.query().finally(() => {
        this.inFlight = false;
        // Once the trainer reported its end, the job's end follows within a second or two: look often.
        const soon = this.progress.done || this.progress.error ? Math.min(250, this.pollMs) : this.pollMs;
        this.nextQueryAt = performance.now() + soon;
      });
    }
    if (this.waiting()) this.lastActivity = now;
    if (this.exit !== undefined) {
      applyEvents(this.progress, this.tail.read());
      return true;
    }
    return false;
  }

  private waiting(): boolean {
    const st = this.record.slurm.state;
    return st === null || isWaitingState(st);
  }

  private async query(): Promise<void> {
    const s = this.record.slurm;
    if (s.jobId === null) {
      // Submitted by an engine that died before recording the id (or never submitted).
      const found = await findByName(s.jobName, this.sx);
      if ('error' in found) return this.queryFailed(found.error);
      const job = found.at(-1);
      if (job) {
        this.log.warn(`run ${this.record.runId}: its Slurm job id was not recorded; found job ${job.id} by its name ${s.jobName}`);
        this.setJobId(job.id);
        return this.seen(job);
      }
      this.neverSubmitted = true;
      return this.finish(null);
    }
    const r = await showJob(s.jobId, this.sx);
    if (r.kind === 'error') return this.queryFailed(r.why);
    // Another job under a recycled id (the controller's state was cleared) is not ours: ours is gone.
    if (r.kind === 'found' && r.job.name === s.jobName) return this.seen(r.job);
    const acct = await accounting(s.jobId, s.jobName, this.sx);
    if (acct && isEndedState(acct.state)) return this.seen(acct);
    this.log.warn(`run ${this.record.runId}: Slurm no longer knows job ${s.jobId} (past MinJobAge, or the controller's state was cleared) and no accounting record names it: judged from its events`);
    this.finish(null);
  }

  private queryFailed(why: string): void {
    if (why !== this.lastQueryError) this.log.warn(`run ${this.record.runId}: cannot ask Slurm about the job: ${why}; asking again every ${this.pollMs / 1000} s`);
    this.lastQueryError = why;
  }

  private seen(job: SlurmJob): void {
    this.lastQueryError = '';
    const s = this.record.slurm;
    const reason = isWaitingState(job.state) ? job.reason : null;
    if (s.state !== job.state || s.reason !== reason || (job.nodes && s.nodes !== job.nodes)) {
      if (s.state !== job.state) this.log.info(`run ${this.record.runId}: Slurm job ${job.id} ${job.state}${reason ? ` (${reason})` : ''}${job.nodes ? ` on ${job.nodes}` : ''}`);
      // Training starts now: the hang timer counts from here, not from the submission.
      if (s.state !== null && isWaitingState(s.state) && !isWaitingState(job.state)) this.lastActivity = performance.now();
      this.record.slurm = { ...s, state: job.state, reason, ...(job.nodes && { nodes: job.nodes }) };
      this.changed = true;
    }
    if (isWaitingState(job.state) && this.cancelWhenKnown === undefined && this.stopWhileWaiting) {
      this.stopWhileWaiting = false;
      this.sendCancel('all');
    }
    if (!isEndedState(job.state)) return;
    this.job = job;
    this.record.slurm = { ...this.record.slurm, exitCode: job.exitCode, elapsedSeconds: job.elapsedSeconds, gpus: job.gpus };
    this.finish({ code: job.exitCode, signal: job.exitSignal ? signalName(job.exitSignal) : null });
  }

  alive(): boolean {
    return this.exit === undefined;
  }

  private sendCancel(what: 'all' | 'TERM' | 'USR1'): void {
    const id = this.record.slurm.jobId;
    if (id === null) {
      this.cancelWhenKnown = what === 'all' || this.cancelWhenKnown === 'all' ? 'all' : what;
      return;
    }
    if (what === 'all') this.cancelledByEngine = true;
    void this.track(cancel(id, this.sx, what === 'all' ? undefined : what)).then((r) => {
      if (r.ok) this.log.info(`run ${this.record.runId}: ${what === 'all' ? `scancel ${id}` : `scancel --signal=${what} --batch ${id}`}`);
      else this.log.warn(`run ${this.record.runId}: scancel of job ${id} failed: ${r.why}`);
    });
  }

  /**
   * SIGTERM (stop now) and SIGUSR1 (stop after the step) go to the trainer through `scancel
   * --signal --batch`; a job that has not started yet is simply cancelled (nothing to checkpoint).
   * Which of the two is decided on Slurm's word now, not on the last answer: an engine that has just
   * adopted the job (the CLI applying a stop with no daemon running) may hold a stale PENDING.
   */
  signal(sig: NodeJS.Signals): boolean {
    if (this.exit !== undefined) return false;
    const id = this.record.slurm.jobId;
    if (id === null) {
      // Still being submitted (or looked up by name): nothing has run; cancelled once the id is known.
      this.sendCancel('all');
      return true;
    }
    const what = sig === 'SIGUSR1' ? 'USR1' : 'TERM';
    void this.track((async () => {
      const r = await showJob(id, this.sx);
      if (r.kind === 'found' && r.job.name === this.record.slurm.jobName) this.seen(r.job);
      if (this.exit !== undefined) return;
      if (this.waiting()) {
        this.sendCancel('all');
        // It may start between the query and the cancel: cancelled again if it is still seen waiting.
        this.stopWhileWaiting = true;
      } else this.sendCancel(what);
    })());
    return true;
  }

  /** The hang kill and the end of a stop's grace period: the whole job cancelled (Slurm sends TERM, then KILL after its KillWait). */
  killAll(): ProcId[] {
    if (this.exit === undefined) this.sendCancel('all');
    return [];
  }

  /** The job's processes run on the compute nodes, Slurm's to end: none the engine tracks. */
  processes(): ProcId[] {
    return [];
  }

  /** Slurm says OUT_OF_MEMORY itself; no cgroup of the engine's counts for a job. */
  oomKillsSinceStart(): number | null {
    return null;
  }

  /** What Slurm said at the end, for the classification (slurm/classify.ts). */
  end(): SlurmEnd {
    return { job: this.job, submitError: this.submitError, neverSubmitted: this.neverSubmitted, cancelledByEngine: this.cancelledByEngine || this.record.action !== null };
  }
}
