/**
 * The engine's decisions as pure functions: queue order, what to run next, and where a dataset
 * goes after a run ends. No I/O here; the engine applies the results to the folders.
 */
import { END_KINDS, endKindOfTrainerError, FALLBACK_TRAINER_ERROR, isEndKind } from '../../../common/endKinds';
import type { DatasetMeta, EndKind, EngineState, QueueEntry, RunSummary, StopMode } from './types';

export const MAX_APPLIED = 500;
export const MAX_RESULTS = 50;
export const MAX_HISTORY = 100;
export const MAX_ERRORS = 20;

/** Pause reasons that start with this are lifted by the engine once the resource is back (resources.ts). */
export const RESOURCE_PAUSE_PREFIX = 'waiting for resources: ';

export function emptyState(now: Date = new Date()): EngineState {
  return { version: 1, paused: false, pauseReason: null, stopAfterJob: false, current: null, applied: [], results: [], history: [], errors: [], updatedAt: now.toISOString() };
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
  if (state.paused) return `paused${state.pauseReason ? `: ${state.pauseReason}` : ''}`;
  if (configProblem) return configProblem;
  return undefined;
}

export interface EndDecision {
  /** Where the dataset goes. */
  readonly outcome: 'done' | 'failed' | 'queue';
  readonly meta: DatasetMeta;
  /** Pause the queue, with this reason. */
  readonly pause?: string;
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
        pause: `${END_KINDS[known].words}: ${opts.message} (fix it, then resume)`,
      };
    case 'resourcePause':
      // Not the dataset's fault: back to the head of the queue, attempts kept; the queue pauses until
      // free space is back above disk.resumeFreeGiB (the engine re-checks it while paused).
      return {
        outcome: 'queue',
        meta: { ...base, interrupted: true, resumeFrom, notBefore: null },
        pause: `${RESOURCE_PAUSE_PREFIX}${END_KINDS[known].words} during run ${opts.runId}: ${opts.message} (the queue resumes by itself once ${known === 'disk_full' ? 'free space is back above disk.resumeFreeGiB' : 'the queue root is writable again'})`,
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

export function withPause(state: EngineState, reason: string | null): EngineState {
  return { ...state, paused: true, pauseReason: reason };
}

export function withResume(state: EngineState): EngineState {
  return { ...state, paused: false, pauseReason: null, stopAfterJob: false };
}

/** A stop request: every mode pauses the queue; the engine signals the trainer for now/afterStep. */
export function withStop(state: EngineState, mode: StopMode): EngineState {
  if (mode === 'afterJob' && state.current) return { ...state, stopAfterJob: true };
  return withPause({ ...state, stopAfterJob: false }, mode === 'afterJob' ? 'stopped after the job (resume to continue)' : 'stopped (resume to continue)');
}
