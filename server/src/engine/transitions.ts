/**
 * The engine's decisions as pure functions: queue order, what to run next, and where a dataset
 * goes after a run ends. No I/O here; the engine applies the results to the folders.
 */
import { END_KINDS, endKindOfTrainerError, FALLBACK_TRAINER_ERROR, isEndKind } from '../../../common/endKinds';
import { RESOURCE_PAUSE_PREFIX, type Pause } from '../../../common/pause';
import type { DatasetMeta, EndKind, EngineState, QueueEntry, RunSummary, StopMode } from './types';

export const MAX_APPLIED = 500;
export const MAX_RESULTS = 50;
export const MAX_HISTORY = 100;
export const MAX_ERRORS = 20;

/** The words a pause the engine lifts itself starts with (the kind says it; common/pause.ts). */
export { RESOURCE_PAUSE_PREFIX };

/** A pause to apply: its kind and reason (the engine stamps `since`). */
export type PauseRequest = Pick<Pause, 'kind' | 'reason'>;

export function emptyState(now: Date = new Date()): EngineState {
  return { version: 1, pause: null, stopAfterJob: false, current: null, applied: [], results: [], history: [], errors: [], updatedAt: now.toISOString() };
}

/** Queue order: an interrupted dataset first, then priority (high first), then age, then name. */
export function compareEntries(a: QueueEntry, b: QueueEntry): number {
  const ia = a.meta.interrupted ? 1 : 0;
  const ib = b.meta.interrupted ? 1 : 0;
  if (ia !== ib) return ib - ia;
  if (a.meta.priority !== b.meta.priority) return b.meta.priority - a.meta.priority;
  if (a.meta.added !== b.meta.added) return a.meta.added < b.meta.added ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export function orderQueue(entries: readonly QueueEntry[]): QueueEntry[] {
  return [...entries].sort(compareEntries);
}

/**
 * The dataset to train next: the first in queue order whose retry time has come. A dataset
 * waiting out its back-off does not hold up the others. A notBefore further in the future than
 * `maxWaitMs` (a clock that jumped back) counts as due.
 */
export function pickNext(entries: readonly QueueEntry[], now: number, maxWaitMs: number): QueueEntry | undefined {
  for (const e of orderQueue(entries)) {
    const nb = e.meta.notBefore ? Date.parse(e.meta.notBefore) : NaN;
    if (Number.isFinite(nb) && nb > now && nb - now <= maxWaitMs) continue;
    return e;
  }
  return undefined;
}

/** Why the engine will not start a run now, or undefined when it may. */
export function blockedBecause(state: EngineState, configProblem: string | undefined): string | undefined {
  if (state.current) return 'a run is in progress';
  if (state.pause) return `paused${state.pause.reason ? `: ${state.pause.reason}` : ''}`;
  if (configProblem) return configProblem;
  return undefined;
}

export interface EndDecision {
  /** Where the dataset goes. */
  readonly outcome: 'done' | 'failed' | 'queue';
  readonly meta: DatasetMeta;
  /** Pause the queue, with this kind and reason. */
  readonly pause?: PauseRequest;
}

/**
 * Where a dataset goes after its run ended, as the end kind's `after` in common/endKinds.ts says:
 * - done (success): done/.
 * - resume (stopped): back to the head of the queue, resuming from its last checkpoint (attempts kept).
 * - pause (config, gpu_unavailable): not the dataset's fault; it goes back to the head of the queue,
 *   attempts kept, and the queue pauses until someone fixes the cause and resumes.
 * - resourcePause (disk_full): the same, but the engine lifts the pause once the resource is back.
 * - fail (data): failed/ at once (the same data fails the same way).
 * - retry (nan_loss, cuda_oom, killed, crash, hang): another attempt after a back-off
 *   (retryBackoffSeconds, doubled per attempt), resuming from the last checkpoint; failed/ after maxAttempts.
 * Total: a kind the table does not know (state written by a newer engine) is settled as the
 * trainer's catch-all `other` would be, never thrown on, so the run always settles.
 */
export function decideAfterEnd(
  kind: EndKind,
  meta: DatasetMeta,
  opts: { maxAttempts: number; retryBackoffSeconds: number; lastCheckpoint: string | null; now: number; runId: string; message: string },
): EndDecision {
  const known: EndKind = isEndKind(kind) ? kind : endKindOfTrainerError(FALLBACK_TRAINER_ERROR);
  const runs = [...(meta.runs ?? []), ...(meta.runs?.includes(opts.runId) ? [] : [opts.runId])];
  const base: DatasetMeta = { ...meta, runs };
  const resumeFrom = opts.lastCheckpoint ?? meta.resumeFrom ?? null;
  const retry = (): EndDecision => {
    const attempts = meta.attempts + 1;
    if (attempts >= opts.maxAttempts) return { outcome: 'failed', meta: { ...base, attempts, interrupted: false, notBefore: null } };
    const delayMs = opts.retryBackoffSeconds * 1000 * 2 ** (attempts - 1);
    return { outcome: 'queue', meta: { ...base, attempts, interrupted: true, resumeFrom, notBefore: new Date(opts.now + delayMs).toISOString() } };
  };
  const after = END_KINDS[known].after;
  switch (after) {
    case 'done':
      return { outcome: 'done', meta: { ...base, interrupted: false, resumeFrom: null, notBefore: null } };
    case 'resume':
      return { outcome: 'queue', meta: { ...base, interrupted: true, resumeFrom, notBefore: null } };
    case 'pause':
      return {
        outcome: 'queue',
        meta: { ...base, interrupted: true, resumeFrom, notBefore: null },
        pause: { kind: 'run', reason: `${END_KINDS[known].words}: ${opts.message} (fix it, then resume)` },
      };
    case 'resourcePause':
      // Not the dataset's fault: back to the head of the queue, attempts kept; the queue pauses until
      // free space is back above disk.resumeFreeGiB (the engine re-checks it while paused).
      return {
        outcome: 'queue',
        meta: { ...base, interrupted: true, resumeFrom, notBefore: null },
        pause: { kind: 'disk', reason: `${RESOURCE_PAUSE_PREFIX}${END_KINDS[known].words} during run ${opts.runId}: ${opts.message} (the queue resumes by itself once ${known === 'disk_full' ? 'free space is back above disk.resumeFreeGiB' : 'the queue root is writable again'})` },
      };
    case 'fail':
      return { outcome: 'failed', meta: { ...base, attempts: meta.attempts + 1, interrupted: false, notBefore: null } };
    case 'retry':
      return retry();
    default: {
      // A new `after` in common/endKinds.ts that is not handled above is a compile error here.
      const unhandled: never = after;
      void unhandled;
      return retry();
    }
  }
}

/** The longest back-off the engine will honour (a later notBefore means the clock jumped back). */
export function maxBackoffMs(maxAttempts: number, retryBackoffSeconds: number): number {
  return retryBackoffSeconds * 1000 * 2 ** Math.max(0, maxAttempts - 1) + 60_000;
}

export function withApplied(state: EngineState, id: string, ok: boolean, message: string, now: Date): EngineState {
  return {
    ...state,
    applied: [...state.applied.filter((x) => x !== id), id].slice(-MAX_APPLIED),
    results: [...state.results, { id, ok, message, at: now.toISOString() }].slice(-MAX_RESULTS),
  };
}

export function withHistory(state: EngineState, s: RunSummary): EngineState {
  return { ...state, history: [...state.history, s].slice(-MAX_HISTORY) };
}

export function withError(state: EngineState, message: string, now: Date): EngineState {
  return { ...state, errors: [...state.errors, { at: now.toISOString(), message }].slice(-MAX_ERRORS) };
}

/**
 * Pauses the queue (or changes why). `since` stays when the kind does not change (a resource pause
 * whose reason is updated with each check is one pause), and is `now` otherwise.
 */
export function withPause(state: EngineState, p: PauseRequest, now: Date = new Date()): EngineState {
  const since = state.pause?.kind === p.kind ? state.pause.since : now.toISOString();
  return { ...state, pause: { kind: p.kind, reason: p.reason, since } };
}

export function withResume(state: EngineState): EngineState {
  return { ...state, pause: null, stopAfterJob: false };
}

/** A change of the engine's state, as every step returns it; the engine applies and saves it (Engine.change). */
export type StateChange = (s: EngineState) => EngineState;

/** A step that changes only the pause: pause (or change why), or resume (the resource gate's answers). */
export type PauseStep = { readonly pause: PauseRequest } | { readonly resume: true };

export function withPauseStep(state: EngineState, step: PauseStep, now: Date = new Date()): EngineState {
  return 'resume' in step ? withResume(state) : withPause(state, step.pause, now);
}


/** A stop request: every mode pauses the queue; the engine signals the trainer for now/afterStep. */
export function withStop(state: EngineState, mode: StopMode): EngineState {
  if (mode === 'afterJob' && state.current) return { ...state, stopAfterJob: true };
  return withPause({ ...state, stopAfterJob: false }, { kind: 'stop', reason: mode === 'afterJob' ? 'stopped after the job (resume to continue)' : 'stopped (resume to continue)' });
}
