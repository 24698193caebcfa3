/**
 * What the engine follows of a run, whatever executes it: the trainer's events (their tail and the
 * progress they build), when it was last heard from, how it ended, and the evidence the engine
 * gathers meanwhile. The local executor (supervisor.ts, RunHandle) and the Slurm executor
 * (slurm/handle.ts, SlurmRunHandle) differ only in how they start, watch, signal and end it.
 */
import { performance } from 'node:perf_hooks';
import { applyEvents, emptyProgress, EventTail, type Progress } from './events';
import type { ProcId } from './proc';
import type { EngineAction, RunRecord } from './types';

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: string | null;
}

export abstract class TrainerRun<R extends RunRecord = RunRecord> {
  readonly tail: EventTail;
  readonly progress: Progress = emptyProgress();
  /** Monotonic ms of the last event (or of the start/adoption). */
  lastActivity = performance.now();
  /** undefined while running; null when it ended unobserved (adopted). */
  exit: ExitInfo | null | undefined = undefined;
  spawnError: string | undefined;
  /** Monotonic ms after which the run is killed (set by a stop now). */
  killDeadline: number | undefined;
  /** The first ENOSPC/EDQUOT of the engine's own writes while this run trained (evidence for disk_full). */
  diskFullSeen: string | undefined;
  /** The first EROFS/EACCES/EPERM of the engine's own writes while this run trained (evidence for disk_unwritable). */
  unwritableSeen: string | undefined;
  /** Called once when the trainer ends (or fails to start), so the engine need not wait for its next tick. */
  onExit: (() => void) | undefined;

  protected constructor(readonly record: R, readonly adopted: boolean) {
    this.tail = new EventTail(record.eventsPath);
  }

  /** Reads new events and checks how the run stands; returns true when it has ended (all its events read). */
  abstract poll(now?: number): boolean;
  abstract alive(): boolean;
  /** A graceful signal to the trainer (SIGTERM: stop now; SIGUSR1: stop after the step). */
  abstract signal(sig: NodeJS.Signals): boolean;
  /** Kills every process of the run; returns the local processes it found (none for a Slurm job). */
  abstract killAll(): ProcId[];
  abstract processes(): ProcId[];
  abstract oomKillsSinceStart(): number | null;

  /** Applies the trainer's new events to progress; returns true when there were some. */
  protected readEvents(now: number): boolean {
    const events = this.tail.read();
    if (!events.length) return false;
    applyEvents(this.progress, events);
    this.lastActivity = now;
    return true;
  }

  /** Seconds since the last event (monotonic). */
  silentSeconds(now: number = performance.now()): number {
    return (now - this.lastActivity) / 1000;
  }

  markAction(a: EngineAction): void {
    this.record.action = a;
  }
}
