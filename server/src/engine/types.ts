/** The engine's data: datasets' sidecars, runs, commands and state.json. */
import type { Pause } from '../../../common/pause';
import type { QueueCommand } from '../../../common/protocol';

/** `<name>.meta.json` beside a dataset; it moves with the dataset from folder to folder. */
export interface DatasetMeta {
  priority: number;
  /** Failed attempts so far (a stop, a config error or a lost GPU does not count). */
  attempts: number;
  /** When it entered the queue (ISO); the queue is ordered by priority, then by this. */
  added: string;
  sha256: string;
  size: number;
  examples: number;
  /** The name it arrived with, when it had to be made safe or unique. */
  originalName?: string;
  /** A checkpoint of its last run to continue from. */
  resumeFrom?: string | null;
  /** A run was started on it and did not finish: it goes first. */
  interrupted?: boolean;
  /** Not before this time (ISO), after a failed attempt. */
  notBefore?: string | null;
  /** Its runs, oldest first. */
  runs?: string[];
  /** The control command that enqueued it (makes a replayed enqueue a no-op). */
  commandId?: string;
}

export interface QueueEntry {
  readonly name: string;
  readonly meta: DatasetMeta;
}

export type StopMode = 'now' | 'afterStep' | 'afterJob';

/** A queue command, as the CLI, control/ files and the editor (loraQueue/command) send it: one type for all. */
export type Command = QueueCommand;

/** A file in control/. */
export interface CommandFile {
  readonly id: string;
  readonly written: string;
  readonly from: { readonly pid: number; readonly host: string };
  readonly command: Command;
}

export interface CommandResult {
  readonly id: string;
  readonly ok: boolean;
  readonly message: string;
  readonly at: string;
}

/** Every way a run ends: one table in common/endKinds.ts. */
import type { EndKind } from '../../../common/endKinds';
export type { EndKind };

/** What the engine itself did to the trainer (so a SIGKILL it sent is not taken for the OOM killer). */
export type EngineAction = 'hang-kill' | 'stop-now' | 'stop-after-step';

/** The run in progress, in state.json. */
export interface RunRecord {
  runId: string;
  dataset: string;
  attempt: number;
  jobPath: string;
  eventsPath: string;
  logPath: string;
  startedAt: string;
  pid: number | null;
  startTime: string | null;
  /** What the engine asked of it so far. */
  action: EngineAction | null;
  /** The memory cgroup's oom_kill counter when it started. */
  oomKillsAtStart: number | null;
  /** With executor.kind "slurm": the run's job (also in runs/<id>/slurm.json). */
  slurm?: SlurmRunInfo;
}

/** A run's Slurm job: its name (lq-<run id>, set before the submission), its id once sbatch said it, what Slurm said last. */
export interface SlurmRunInfo {
  jobName: string;
  jobId: string | null;
  /** PENDING, RUNNING…; null before the first answer. */
  state: string | null;
  /** Why Slurm holds it (Resources, Priority…) while it waits; null otherwise. */
  reason: string | null;
  submittedAt: string | null;
  nodes?: string | null;
  /** At the end: the batch script's exit code, seconds it ran, GPUs allocated (null where Slurm does not say). */
  exitCode?: number | null;
  elapsedSeconds?: number | null;
  gpus?: number | null;
}

export interface RunSummary {
  readonly runId: string;
  readonly dataset: string;
  readonly attempt: number;
  readonly kind: EndKind;
  readonly message: string;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly finalLoss: number | null;
  readonly steps: number | null;
  /** Where the dataset went: done, failed, or back to the queue. */
  readonly outcome: 'done' | 'failed' | 'queue';
}

export interface EngineState {
  version: 1;
  /**
   * Why the queue is paused, or null when it is not. state.json also holds `paused` and
   * `pauseReason` derived from it (state.ts), for readers that know only those.
   */
  pause: Pause | null;
  /** Pause once the current run ends (stop --after-job). */
  stopAfterJob: boolean;
  current: RunRecord | null;
  /** Ids of the control commands applied (newest last), so each is applied once. */
  applied: string[];
  results: CommandResult[];
  history: RunSummary[];
  errors: { at: string; message: string }[];
  /** Why the engine will not start a run although datasets wait (a config problem), or null. */
  blocked?: string | null;
  /** The consolidation pending or in progress; no run starts while it is set (consolidate.ts). */
  consolidation?: ConsolidationRecord | null;
  /** How the last consolidations ended, newest last (the CLI waits for its own here). */
  consolidations?: ConsolidationOutcome[];
  /** Snapshots made current since the last consolidation, and the local day of the last daily one. */
  consolidateCounters?: { snapshotsSince: number; lastDaily: string | null };
  updatedAt: string;
}

export type ConsolidationReason = 'command' | 'afterSnapshots' | 'daily';

/** A consolidation asked for (pending: waits for the run in progress) or merging. */
export interface ConsolidationRecord {
  /** The new model's id: models/<id>/ when done. */
  id: string;
  /** The snapshot merged; null while pending for "the current adapter", which is resolved when the merge starts. */
  snapshot: string | null;
  reason: ConsolidationReason;
  /** The control command that asked for it, if any. */
  commandId: string | null;
  requestedAt: string;
  status: 'pending' | 'merging';
  /** Set while merging. */
  startedAt: string | null;
  pid: number | null;
  startTime: string | null;
  /** Merges started for it (a merge cut short by an engine crash is tried once more). */
  attempts: number;
  /** The merge command as run, while merging. */
  command?: string[];
}

export interface ConsolidationOutcome {
  readonly id: string;
  readonly snapshot: string | null;
  readonly reason: ConsolidationReason;
  readonly commandId: string | null;
  readonly ok: boolean;
  readonly message: string;
  readonly at: string;
}
