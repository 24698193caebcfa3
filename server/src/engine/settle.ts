/**
 * How a finished run settles, as a pure function of what the engine saw: the end (classified),
 * what became of its snapshot, where its dataset goes, and the engine's next state (the run
 * cleared, its history line, an error, a pause). No I/O: `Engine.finishRun` gathers the inputs
 * (events, exit, the snapshot, current.json), then applies the result to the folders, end.json,
 * the ledger and state.json, in that order.
 */
import type { Classification } from './classify';
import { saysDiskFull } from './classify';
import type { Progress } from './events';
import { decideAfterEnd, withError, withHistory, withPause, type EndDecision } from './transitions';
import type { DatasetMeta, EngineState, RunRecord } from './types';

export interface SettleInput {
  readonly state: EngineState;
  readonly record: Pick<RunRecord, 'runId' | 'dataset' | 'attempt' | 'startedAt'>;
  /** The end as classified from the trainer's events, exit and the engine's evidence. */
  readonly end: Classification;
  /** After a success: what snapshotAfterSuccess did (`failure`: why no snapshot, the queue pauses); null otherwise. */
  readonly snapshot: { readonly made: boolean; readonly failure?: string } | null;
  /**
   * The live adapter fell back while the run trained (current.json's note says the engine moved
   * it): the run continued an adapter the live one does not hold.
   */
  readonly liveFellBack: boolean;
  /** The dataset's sidecar in processing/, if it reads. */
  readonly meta: DatasetMeta | undefined;
  readonly progress: Pick<Progress, 'lastCheckpoint' | 'done' | 'step' | 'loss'>;
  readonly queue: { readonly maxAttempts: number; readonly retryBackoffSeconds: number };
  readonly now: Date;
}

export interface Settlement {
  /** The end after the snapshot: a rejected adapter is bad_adapter, a snapshot cut by a full disk disk_full. */
  readonly end: Classification;
  readonly decision: EndDecision;
  /** The engine's state after the run: to be saved once the dataset has moved. */
  readonly state: EngineState;
  /** The snapshot made became current (counted for consolidate.afterSnapshots). */
  readonly snapshotMade: boolean;
  /** Set when the run's result is kept aside and its dataset trains again on the live adapter. */
  readonly requeuedOnFallback: boolean;
}

export function settle(i: SettleInput): Settlement {
  const rec = i.record;
  let end = i.end;
  const snapshotMade = i.snapshot?.made === true;
  let liveFellBack = false;
  if (end.kind === 'success' && i.snapshot) {
    // The snapshot comes before the dataset moves, so done/ always means "in the live adapter":
    // an adapter the checks reject (or a snapshot a full disk cuts short) keeps the dataset at the
    // head of the queue and pauses (bad_adapter; disk_full resumes by itself).
    if (i.snapshot.failure) end = { kind: saysDiskFull(i.snapshot.failure) ? 'disk_full' : 'bad_adapter', message: i.snapshot.failure };
    else if (!snapshotMade && i.liveFellBack) liveFellBack = true;
  }
  const meta = i.meta ?? { priority: 0, attempts: rec.attempt - 1, added: rec.startedAt, sha256: '', size: 0, examples: 0 };
  let decision = decideAfterEnd(end.kind, meta, {
    maxAttempts: i.queue.maxAttempts,
    retryBackoffSeconds: i.queue.retryBackoffSeconds,
    // A rejected adapter is trained again from the start (its checkpoints lead to the same adapter).
    lastCheckpoint: end.kind === 'bad_adapter' ? null : i.progress.lastCheckpoint ?? (end.kind === 'stopped' ? i.progress.done?.adapterPath ?? null : null),
    now: i.now.getTime(),
    runId: rec.runId,
    message: end.message,
  });
  if (end.kind === 'bad_adapter') decision = { ...decision, meta: { ...decision.meta, resumeFrom: null } };
  if (liveFellBack) decision = { outcome: 'queue', meta: { ...decision.meta, interrupted: true, resumeFrom: null, notBefore: null } };
  let s: EngineState = { ...i.state, current: null };
  s = withHistory(s, {
    runId: rec.runId, dataset: rec.dataset, attempt: rec.attempt, kind: end.kind, message: end.message, startedAt: rec.startedAt, endedAt: i.now.toISOString(),
    finalLoss: i.progress.done?.finalLoss ?? i.progress.loss, steps: i.progress.step, outcome: decision.outcome,
  });
  if (end.kind !== 'success' && end.kind !== 'stopped') s = withError(s, `run ${rec.runId} (${rec.dataset}): ${end.kind}: ${end.message}`, i.now);
  if (decision.pause) s = withPause(s, decision.pause, i.now);
  if (s.stopAfterJob) s = { ...withPause(s, { kind: 'stop', reason: 'stopped after the job (resume to continue)' }, i.now), stopAfterJob: false };
  return { end, decision, state: s, snapshotMade, requeuedOnFallback: liveFellBack };
}
