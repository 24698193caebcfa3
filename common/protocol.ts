/**
 * The one protocol module: every custom message between the VS Code client and the server,
 * declared once with its method name, its types, and which way it goes (the first words of its
 * comment), and the ids both sides name. Both sides import it and send, handle and receive each
 * message through its `type`, so the compiler checks params and results at both ends (as
 * vscode-eslint's customMessages.ts and rust-analyzer's lsp_ext.ts do). It imports neither
 * `vscode` nor Node: vscode-languageserver-protocol's common entry only.
 */
import { NotificationType, RequestType } from 'vscode-languageserver-protocol';
import type { EndKind } from './endKinds';
import type { Pause } from './pause';

export { CONFIG_FILE, DIAGNOSTIC_SOURCE, SETTINGS_SECTION, SHOW_DATASET_STATS_COMMAND } from './ids';

/** How a run ends (a run's `state` once it ended): the one table, common/endKinds.ts. */
export { END_KINDS, type EndKind } from './endKinds';

/** Client → server at start (initializationOptions), and again on a settings change. */
export interface ClientSettings {
  /** Most diagnostics published per dataset file (the last one says how many were left out). */
  readonly maxDiagnosticsPerFile?: number | undefined;
  /** Whether the workspace is trusted: an untrusted one is validated but runs nothing. */
  readonly trusted: boolean;
}

/** Attached to a diagnostic (`Diagnostic.data`) so the code-action request needs no revalidation. */
export type DiagnosticFixData =
  | { readonly title: string; readonly edits: readonly { readonly line?: number; readonly endLine?: number; readonly startCol: number; readonly endCol: number; readonly newText: string }[] }
  | { readonly title: string; readonly deleteLine: true; readonly lines?: number };


/** Token and length statistics of one dataset (the `lora-queue stats` JSON, one file). */
export interface DatasetStats {
  readonly file: string;
  readonly examples: number;
  readonly tokens: number;
  readonly trainableTokens: number;
  readonly minTokens: number;
  readonly p50Tokens: number;
  readonly p95Tokens: number;
  readonly maxTokens: number;
  readonly overLength: number;
  readonly maxSeqLength: number;
  readonly roles: Record<string, number>;
  readonly duplicates: number;
}

/** Client → server: the statistics of an open dataset (waits until every line is counted). */
export namespace DatasetStatsRequest {
  export const method = 'loraQueue/datasetStats' as const;
  export const type = new RequestType<Params, Result, void>(method);
  export interface Params {
    readonly uri: string;
  }
  export type Result = { readonly stats: DatasetStats } | { readonly error: string };
}

/** One run of text in the loss-mask preview: tokens that train, or tokens that are masked. */
export interface MaskSegment {
  readonly text: string;
  readonly trainable: boolean;
  /** The sequence it belongs to, when the example trains as several (one per assistant turn). */
  readonly sequence?: number;
}

/** Client → server: an example as the model sees it after the chat template, with its loss mask. */
export namespace LossMaskPreviewRequest {
  export const method = 'loraQueue/lossMaskPreview' as const;
  export const type = new RequestType<Params, Result, void>(method);
  export interface Params {
    readonly uri: string;
    /** 0-based line of the example. */
    readonly line: number;
  }
  export type Result =
    | {
        readonly segments: readonly MaskSegment[];
        readonly tokens: number;
        readonly trainable: number | null;
        readonly model: string;
        /** Which rendering the example trains as, when it is not the model's own template by the prefix rule. */
        readonly rendering?: string;
      }
    | { readonly error: string };
}

/** What the client shows of a queue (a view of the engine's status; the server's type must fit it). */
export interface QueueStatusView {
  readonly root: string;
  readonly engine: { readonly running: boolean; readonly pid: number; readonly host: string; readonly since: string } | null;
  readonly paused: boolean;
  readonly pauseReason: string | null;
  /** The pause with its kind (common/pause.ts): what the client decides on; `pauseReason` is its reason. */
  readonly pause: Pause | null;
  readonly blocked: string | null;
  readonly current: {
    readonly runId: string;
    readonly dataset: string;
    readonly attempt: number;
    readonly step: number | null;
    readonly totalSteps: number | null;
    readonly loss: number | null;
    readonly etaSeconds: number | null;
    readonly stopping: string | null;
    /**
     * Set while the run waits for a scheduler before training (a Slurm job PENDING, with Slurm's
     * reason: Resources, Priority…); null or absent when it trains.
     */
    readonly waiting?: { readonly scheduler: 'slurm'; readonly jobId: string | null; readonly state: string; readonly reason: string | null } | null;
  } | null;
  readonly queue: readonly { readonly name: string; readonly priority: number; readonly attempts: number; readonly examples: number; readonly size: number }[];
  readonly inbox: readonly string[];
  /** Inbox entries that will not be taken as they are, with why (absent from older servers). */
  readonly inboxNotTaken?: readonly { readonly name: string; readonly why: string }[];
  readonly failed: readonly { readonly name: string; readonly kind: string; readonly message: string }[];
  readonly done: number;
  readonly lastErrors: readonly { readonly at: string; readonly message: string }[];
  /** The live base model when a consolidation made one (models/<id>); null or absent: the config's baseModel. */
  readonly base?: { readonly model: string; readonly path: string; readonly generation: number | null; readonly datasets: number | null } | null;
  /**
   * The resident trainer (trainer.resident) when one is alive: warm once its base model is loaded,
   * with the runs it served. null or absent: no trainer stays loaded (each run starts cold).
   */
  readonly resident?: { readonly pid: number; readonly warm: boolean; readonly runs: number; readonly baseModel: string; readonly startedAt: string; readonly rssBytes: number | null } | null;
}

/** Server → client: the queue changed (pushed, never polled by the client). */
export namespace QueueStateNotification {
  export const method = 'loraQueue/state' as const;
  export const type = new NotificationType<Params>(method);
  export interface Params {
    /** This window's engine: the owner of the queue root, a follower of another owner, or off (and why). */
    readonly engine: 'owner' | 'follower' | 'off';
    readonly why?: string;
    readonly status: QueueStatusView | null;
    /** The run in progress (first) and the recent runs, newest first; absent when the engine is off. */
    readonly runs?: readonly RunView[];
    /** The adapter snapshots, newest first; absent when the engine is off. */
    readonly snapshots?: readonly SnapshotView[];
  }
}

/** One run in the Runs view: the one in progress or a finished one (from the engine's history). */
export interface RunView {
  readonly runId: string;
  readonly dataset: string;
  readonly attempt: number;
  /** `running`, or how it ended (common/endKinds.ts). */
  readonly state: 'running' | EndKind;
  /** Where the dataset went (done, failed, back to the queue); null while it runs. */
  readonly outcome: 'done' | 'failed' | 'queue' | null;
  /** What the engine asked of a running trainer (stop-after-step, stop-now, …), or null. */
  readonly stopping: string | null;
  readonly message: string | null;
  readonly step: number | null;
  readonly totalSteps: number | null;
  readonly loss: number | null;
  readonly startedAt: string;
  readonly endedAt: string | null;
  /** Absolute paths: the run folder and its trainer.log. */
  readonly dir: string;
  readonly logPath: string;
  /** Checkpoints under runs/<id>/checkpoints, by step. */
  readonly checkpoints: readonly { readonly step: number | null; readonly path: string }[];
  /** The trainer's `start` event: true when a resident trainer had the base model loaded already, false when it was loaded for this run; null or absent: not known (yet). */
  readonly warm?: boolean | null;
}

/** One adapter snapshot in the Snapshots view. */
export interface SnapshotView {
  readonly id: string;
  /** Absolute path of the snapshot folder. */
  readonly path: string;
  readonly current: boolean;
  /** The last verification: true good, false bad, null never verified. */
  readonly verified: boolean | null;
  readonly runId: string | null;
  readonly step: number | null;
  readonly loss: number | null;
  readonly dataset: string | null;
  readonly created: string | null;
}

export type QueueCommand =
  | { readonly type: 'enqueue'; readonly path: string; readonly priority?: number }
  | { readonly type: 'stop'; readonly mode: 'now' | 'afterStep' | 'afterJob' }
  | { readonly type: 'pause' }
  | { readonly type: 'resume' }
  | { readonly type: 'retry'; readonly name: string }
  | { readonly type: 'remove'; readonly name: string }
  | { readonly type: 'priority'; readonly name: string; readonly priority: number }
  | { readonly type: 'rollback'; readonly snapshot: string }
  /** Merge a snapshot (default: the current one) into its base model as models/<id>/; waits for the queue to be idle. */
  | { readonly type: 'consolidate'; readonly snapshot?: string };

/** Client → server: one queue command (enqueue, stop, pause, resume, retry, remove, priority, rollback, consolidate), applied exactly once. */
export namespace QueueCommandRequest {
  export const method = 'loraQueue/command' as const;
  export const type = new RequestType<Params, Result, void>(method);
  export type Params = QueueCommand;
  export interface Result {
    readonly ok: boolean;
    readonly message: string;
  }
}

/** One run's loss curve, columnar. `null` where the trainer logged no finite number (NaN, Infinity, missing). */
export interface LossSeries {
  readonly runId: string;
  /** Train steps, with the loss and the learning rate logged at each. */
  readonly steps: readonly number[];
  readonly loss: readonly (number | null)[];
  readonly lr: readonly (number | null)[];
  /** Eval steps, with the eval loss at each. */
  readonly evalSteps: readonly number[];
  readonly evalLoss: readonly (number | null)[];
}

/** A run the loss chart can show. */
export interface ChartRun {
  readonly runId: string;
  readonly dataset: string;
  readonly attempt: number;
  /** `training` while it runs, else how it ended (common/endKinds.ts). */
  readonly state: 'training' | EndKind;
  readonly startedAt: string;
}

/** Client → server: the runs the loss chart can show, newest first (the current one, then the recent ended ones). */
export namespace LossRunsRequest {
  export const method = 'loraQueue/lossRuns' as const;
  export const type = new RequestType<Params, Result, void>(method);
  export type Params = Record<string, never>;
  export interface Result {
    readonly runs: readonly ChartRun[];
    readonly current: string | null;
  }
}

/** Client → server: runs' loss curves over a step range, downsampled by the server (min/max per bucket) to at most `maxPoints` per series. */
export namespace LossSeriesRequest {
  export const method = 'loraQueue/lossSeries' as const;
  export const type = new RequestType<Params, Result, void>(method);
  export interface Params {
    readonly runIds: readonly string[];
    /** Inclusive step range; the whole run when absent. */
    readonly fromStep?: number;
    readonly toStep?: number;
    /** Most points per series (default 2000). */
    readonly maxPoints?: number;
  }
  export type RunResult =
    | (LossSeries & {
        readonly totalSteps: number | null;
        /** Train and eval points in the range before downsampling. */
        readonly points: number;
        readonly evalPoints: number;
        readonly downsampled: boolean;
      })
    | { readonly runId: string; readonly error: string };
  export interface Result {
    readonly runs: readonly RunResult[];
  }
}

/**
 * Server → client: the points a training run logged since the last batch, at full resolution
 * (at most about ten batches a second). `reset` means the curve was cut back (a resume from an
 * earlier checkpoint, a replaced file): the points replace what the client had from their first step on.
 * `training` is false in the last batch of a run, sent once it is no longer the training run.
 */
export namespace LossProgressNotification {
  export const method = 'loraQueue/progress' as const;
  export const type = new NotificationType<Params>(method);
  export interface Params {
    readonly runs: readonly (LossSeries & { readonly totalSteps: number | null; readonly reset: boolean; readonly training: boolean })[];
  }
}
