/**
 * Every way a training run ends: one table, from which the engine's `EndKind`, the trainer's
 * error kinds (protocol v1 `error.kind`), what becomes of the dataset and the words a person reads
 * all derive. Adding an end is one entry here; the `satisfies` below makes it say what happens
 * to the dataset, and the `never` check in `decideAfterEnd` (engine/transitions.ts) makes the
 * engine handle that. The Python trainer's `ERROR_KINDS` is checked against `TRAINER_ERROR_KINDS`
 * by test/trainer/test_units.py. Both sides import this through common/protocol.ts.
 */

/**
 * What becomes of the dataset after such an end (engine/transitions.ts#decideAfterEnd):
 * - `done`: into done/.
 * - `resume`: back to the head of the queue, resuming from its last checkpoint, attempts kept.
 * - `pause`: the same, and the queue pauses until someone fixes the cause and resumes (not the data's fault).
 * - `resourcePause`: the same, and the queue pauses until the resource is back (the engine lifts it).
 * - `fail`: failed/ at once (the same data fails the same way).
 * - `retry`: another attempt after a back-off, failed/ after queue.maxAttempts.
 */
export type AfterEnd = 'done' | 'resume' | 'pause' | 'resourcePause' | 'fail' | 'retry';

interface EndKindInfo {
  readonly after: AfterEnd;
  /** The `error.kind` a trainer reports for this end, or null when the engine infers it from the process. */
  readonly trainerError: string | null;
  /** What happened, in words for a person (a pause reason, a tooltip). */
  readonly words: string;
}

export const END_KINDS = {
  success: { after: 'done', trainerError: null, words: 'the run finished' },
  stopped: { after: 'resume', trainerError: null, words: 'the run was stopped on request' },
  nan_loss: { after: 'retry', trainerError: 'nan_loss', words: 'the loss became NaN or infinite' },
  cuda_oom: { after: 'retry', trainerError: 'cuda_oom', words: 'the GPU ran out of memory' },
  gpu_unavailable: { after: 'pause', trainerError: 'gpu_unavailable', words: 'the GPU is unavailable' },
  data: { after: 'fail', trainerError: 'data', words: 'the trainer rejected the data' },
  config: { after: 'pause', trainerError: 'config', words: 'the trainer reported a configuration error' },
  killed: { after: 'retry', trainerError: null, words: 'the trainer was killed by the system' },
  // `other` is the trainer's catch-all; an error kind this table does not know is taken as `other` too.
  crash: { after: 'retry', trainerError: 'other', words: 'the trainer crashed' },
  hang: { after: 'retry', trainerError: null, words: 'the trainer hung' },
  disk_full: { after: 'resourcePause', trainerError: null, words: 'the disk filled up' },
  // The queue root became read-only or unwritable while the run trained (EROFS, EACCES on the
  // engine's own writes, or EROFS in trainer.log): not the data's fault either.
  disk_unwritable: { after: 'resourcePause', trainerError: null, words: 'the queue root became unwritable' },
  // The trainer said done, but its adapter failed the snapshot checks (it does not fit the base
  // model, a copy that does not read back): not in the live adapter, so not done/ (issue #14).
  bad_adapter: { after: 'pause', trainerError: null, words: 'the adapter failed the snapshot checks' },
  // Slurm (docs/slurm.md): a job that reached its time limit after a checkpoint (the warning
  // signal's, or a periodic one) made progress and resumes from it without using an attempt; one
  // that reached it before any checkpoint of its run would do the same again, so it uses one.
  timeout: { after: 'resume', trainerError: null, words: 'the Slurm job reached its time limit' },
  timeout_no_checkpoint: { after: 'retry', trainerError: null, words: 'the Slurm job reached its time limit before any checkpoint' },
  // NODE_FAIL, PREEMPTED, BOOT_FAIL: the cluster's doing, not the data's: back to the head of the queue, no attempt used.
  requeued: { after: 'resume', trainerError: null, words: 'the cluster ended the job (node failure, preemption or boot failure)' },
} as const satisfies Record<string, EndKindInfo>;

/** Every way a run ends. */
export type EndKind = keyof typeof END_KINDS;

export const END_KIND_NAMES = Object.keys(END_KINDS) as EndKind[];

/** A trainer's `error.kind` values (protocol v1). */
export type TrainerErrorKind = NonNullable<(typeof END_KINDS)[EndKind]['trainerError']>;

/** The trainer error kind an unknown one is taken as. */
export const FALLBACK_TRAINER_ERROR: TrainerErrorKind = 'other';

const BY_TRAINER_ERROR = new Map<string, EndKind>(
  END_KIND_NAMES.flatMap((k) => {
    const e: string | null = END_KINDS[k].trainerError;
    return e === null ? [] : [[e, k] as const];
  }),
);

/** Every `error.kind` a trainer may report, in table order. */
export const TRAINER_ERROR_KINDS = [...BY_TRAINER_ERROR.keys()] as TrainerErrorKind[];

export function isEndKind(s: string): s is EndKind {
  return Object.prototype.hasOwnProperty.call(END_KINDS, s);
}

export function isTrainerErrorKind(s: string): s is TrainerErrorKind {
  return BY_TRAINER_ERROR.has(s);
}

/** The end a trainer's error event means; an unknown kind is the trainer's `other`. */
export function endKindOfTrainerError(kind: string): EndKind {
  return BY_TRAINER_ERROR.get(kind) ?? BY_TRAINER_ERROR.get(FALLBACK_TRAINER_ERROR)!;
}

/** The ends that use up an attempt (the dataset's fault or a transient failure of the run). */
export const RETRYABLE_END_KINDS: ReadonlySet<EndKind> = new Set(END_KIND_NAMES.filter((k) => END_KINDS[k].after === 'retry'));
