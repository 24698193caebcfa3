/**
 * What a queue root looks like right now, read from disk only: for `lora-queue status`, for a
 * follower, and for anyone who cannot ask the owner. Never changes anything.
 */
import { accessSync, constants, readdirSync } from 'node:fs';
import type { Pause } from '../../../common/pause';
import { diskFacts } from './resources';
import { readJsonQuiet } from './atomic';
import { listDatasets, listEntries, reasonPath } from './datasets';
import { applyEvents, emptyProgress, etaSeconds, EventTail } from './events';
import { inboxNotTaken as inboxNotTaken_ } from './intake';
import { holderAlive, readLock } from './lock';
import type { RootPaths } from './paths';
import { peekState } from './state';
import { readCurrent, type CurrentPointer } from './current';
import { currentSnapshotStatus, listSnapshots, type CurrentSnapshotStatus, type SnapshotEntry } from './snapshots';
import { orderQueue } from './transitions';
import { modelDir, readModelManifest } from './models';
import { readResidentStatus, type ResidentStatus } from './resident';
import type { ConsolidationOutcome, ConsolidationRecord, EndKind, EngineState, RunRecord, RunSummary } from './types';
import { isWaitingState } from './slurm/parse';

/** A run's Slurm job that is not training yet. */
export interface SlurmWaiting {
  scheduler: 'slurm';
  jobId: string | null;
  /** PENDING (and Slurm's other waiting states), or SUBMITTING / SUBMITTED before Slurm's first answer. */
  state: string;
  reason: string | null;
}

export interface QueueStatus {
  root: string;
  engine: { running: boolean; pid: number; host: string; since: string } | null;
  paused: boolean;
  pauseReason: string | null;
  /** The pause with its kind and since when (common/pause.ts); `paused` and `pauseReason` are derived from it. */
  pause: Pause | null;
  stopAfterJob: boolean;
  blocked: string | null;
  current: {
    runId: string;
    dataset: string;
    attempt: number;
    pid: number | null;
    startedAt: string;
    step: number | null;
    totalSteps: number | null;
    loss: number | null;
    evalLoss: number | null;
    etaSeconds: number | null;
    lastCheckpoint: string | null;
    stopping: string | null;
    /** executor "slurm": the run's job as Slurm last described it (id, state, reason, nodes); null for a local run. */
    slurm: { jobId: string | null; state: string | null; reason: string | null; nodes: string | null } | null;
    /** While the job waits in Slurm's queue (PENDING, or not yet submitted): what it waits for; null when it trains. */
    waiting: SlurmWaiting | null;
  } | null;
  queue: { name: string; priority: number; attempts: number; added: string; examples: number; size: number; notBefore: string | null; resumeFrom: string | null }[];
  /**
   * Why the queue root cannot take writes now (its filesystem full, read-only or not writable to
   * us), judged without writing; null when it can. Shown even when state.json, on that same disk,
   * could not record the engine's pause.
   */
  rootProblem: string | null;
  /** Inbox files waiting to be complete and taken. */
  inbox: string[];
  /** Inbox entries that will not be taken as they are, and why (hidden or partial names, other suffixes, folders, symlinks out of the inbox). */
  inboxNotTaken: { name: string; why: string }[];
  failed: { name: string; kind: string; message: string }[];
  done: number;
  pendingCommands: number;
  lastErrors: EngineState['errors'];
  recentRuns: RunSummary[];
  /** The live adapter (current.json), or null before the first snapshot. */
  snapshot: CurrentSnapshotStatus | null;
  /** The live base model: a consolidated models/<id> (with its generation and lineage size), or null for the config's baseModel. */
  base: { model: string; path: string; generation: number | null; adapters: number | null; datasets: number | null } | null;
  /** A consolidation pending (waiting for the run in progress) or merging, and the last one that ended. */
  consolidation: ConsolidationRecord | null;
  lastConsolidation: ConsolidationOutcome | null;
  /** The resident trainer (trainer.resident) when one is alive: warm when its base model is loaded; null: each run starts cold. */
  resident: ResidentStatus | null;
}

export function readStatus(p: RootPaths): QueueStatus {
  return readRoot(p).status;
}

/**
 * The status and the snapshots list together, for a state push that shows both: current.json is
 * read once and snapshots/ listed once (their manifests and verified.json read once), not once per
 * part that shows them.
 */
export function readRoot(p: RootPaths): { status: QueueStatus; snapshots: SnapshotEntry[] } {
  const pointer = readCurrent(p);
  const snapshots = listSnapshots(p, pointer);
  return { status: statusOf(p, pointer, snapshots), snapshots };
}

function statusOf(p: RootPaths, pointer: CurrentPointer | undefined, snapshots: readonly SnapshotEntry[]): QueueStatus {
  const lock = readLock(p.lock);
  const state = peekState(p);
  const cur = state?.current ?? null;
  let current: QueueStatus['current'] = null;
  if (cur) {
    const progress = applyEvents(emptyProgress(), new EventTail(cur.eventsPath).read());
    current = {
      runId: cur.runId, dataset: cur.dataset, attempt: cur.attempt, pid: cur.pid, startedAt: cur.startedAt,
      step: progress.step, totalSteps: progress.totalSteps, loss: progress.loss, evalLoss: progress.evalLoss, etaSeconds: etaSeconds(progress),
      lastCheckpoint: progress.lastCheckpoint, stopping: cur.action,
      slurm: cur.slurm ? { jobId: cur.slurm.jobId, state: cur.slurm.state, reason: cur.slurm.reason, nodes: cur.slurm.nodes ?? null } : null,
      waiting: slurmWaiting(cur.slurm, progress.events),
    };
  }
  const failed = listDatasets(p.failed).map((name) => {
    const r = readJsonQuiet<{ kind?: EndKind | string; message?: string }>(reasonPath(p.failed, name));
    return { name, kind: r?.kind ?? 'unknown', message: r?.message ?? '' };
  });
  let inbox: string[] = [];
  let pending = 0;
  try {
    inbox = readdirSync(p.inbox).sort();
  } catch { /* none */ }
  const inboxNotTaken = inboxNotTaken_(p.inbox);
  const notTaken = new Set(inboxNotTaken.map((e) => e.name));
  inbox = inbox.filter((n) => !notTaken.has(n));
  try {
    pending = readdirSync(p.control).filter((n) => !n.startsWith('.') && n.endsWith('.json')).length;
  } catch { /* none */ }
  return {
    root: p.root,
    engine: lock ? { running: holderAlive(lock), pid: lock.pid, host: lock.host, since: lock.since } : null,
    paused: !!state?.pause,
    pauseReason: state?.pause ? state.pause.reason || null : null,
    pause: state?.pause ?? null,
    stopAfterJob: state?.stopAfterJob ?? false,
    blocked: state?.blocked ?? null,
    current,
    queue: orderQueue(listEntries(p.queue)).map(({ name, meta }) => ({
      name, priority: meta.priority, attempts: meta.attempts, added: meta.added, examples: meta.examples, size: meta.size, notBefore: meta.notBefore ?? null, resumeFrom: meta.resumeFrom ?? null,
    })),
    rootProblem: rootProblem(p.root),
    inbox,
    inboxNotTaken,
    failed,
    done: listDatasets(p.done).length,
    pendingCommands: pending,
    lastErrors: (state?.errors ?? []).slice(-5),
    recentRuns: (state?.history ?? []).slice(-5),
    snapshot: currentSnapshotStatus(p, pointer, snapshots),
    base: baseStatus(p, pointer),
    consolidation: state?.consolidation ?? null,
    lastConsolidation: state?.consolidations?.at(-1) ?? null,
    resident: readResidentStatus(p.root),
  };
}

/** A Slurm job that has not started training: submitting, or held by Slurm (PENDING and the like), with its reason. */
function slurmWaiting(s: RunRecord['slurm'], events: number): SlurmWaiting | null {
  if (!s) return null;
  if (s.state === null) return events ? null : { scheduler: 'slurm', jobId: s.jobId, state: s.jobId ? 'SUBMITTED' : 'SUBMITTING', reason: null };
  return isWaitingState(s.state) ? { scheduler: 'slurm', jobId: s.jobId, state: s.state, reason: s.reason } : null;
}

/** "Slurm job 12 PENDING (Resources)". */
export function describeWaiting(w: SlurmWaiting): string {
  return `Slurm job ${w.jobId ?? '(being submitted)'} ${w.state}${w.reason ? ` (${w.reason})` : ''}`;
}

function rootProblem(root: string): string | null {
  try {
    accessSync(root, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') return `the queue root is not writable (${code ?? (e as Error).message})`;
    return null;
  }
  try {
    const free = diskFacts(root).freeBytes;
    if (free < 2 ** 20) return `the queue root's filesystem is full (${(free / 1024).toFixed(0)} KiB free)`;
  } catch { /* unknown */ }
  return null;
}

function baseStatus(p: RootPaths, pointer: CurrentPointer | undefined): QueueStatus['base'] {
  const id = pointer?.base ?? null;
  if (!id) return null;
  const m = readModelManifest(p, id);
  return { model: id, path: modelDir(p, id), generation: m?.generation ?? null, adapters: m?.adapters.length ?? null, datasets: m?.datasets.length ?? null };
}

function duration(s: number): string {
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.round(s % 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/** The trainer's line of the status: warm (a resident trainer with its model loaded) or cold. */
export function residentLine(r: ResidentStatus | null): string {
  if (!r) return 'trainer: cold (each run starts the trainer and loads the model)';
  const mem = r.rssBytes !== null ? `, RSS ${(r.rssBytes / 2 ** 20).toFixed(0)} MiB` : '';
  return r.warm
    ? `trainer: warm — resident pid ${r.pid}, base model ${r.baseModel} loaded, ${r.runs} run(s) served since ${r.startedAt}${mem}`
    : `trainer: resident pid ${r.pid} started ${r.startedAt}, loading (its first run pays the model load)${mem}`;
}

/** How many queued datasets the text status lists. */
export const STATUS_QUEUE_LINES = 25;

export function formatStatus(s: QueueStatus): string[] {
  const out: string[] = [];
  out.push(`queue root: ${s.root}`);
  out.push(s.engine?.running ? `engine: running (pid ${s.engine.pid} on ${s.engine.host}, since ${s.engine.since})` : 'engine: not running (commands are applied directly; nothing trains until `lora-queue daemon` or the editor starts one)');
  if (s.blocked && !s.current) out.push(`not training: ${s.blocked}`);
  if (s.rootProblem) out.push(`disk: ${s.rootProblem}`);
  out.push(s.paused ? `queue: paused${s.pauseReason ? ` — ${s.pauseReason}` : ''}` : s.stopAfterJob ? 'queue: pauses after the current run' : 'queue: active');
  if (s.current) {
    const c = s.current;
    const pct = c.step !== null && c.totalSteps ? ` (${Math.floor((100 * c.step) / c.totalSteps)}%)` : '';
    const parts = [`step ${c.step ?? 0}/${c.totalSteps ?? '?'}${pct}`];
    if (c.loss !== null) parts.push(`loss ${c.loss.toFixed(4)}`);
    if (c.etaSeconds !== null) parts.push(`ETA ${duration(c.etaSeconds)}`);
    if (c.stopping) parts.push(`stopping (${c.stopping})`);
    if (c.waiting) out.push(`waiting: ${c.dataset} — run ${c.runId}, attempt ${c.attempt}: ${describeWaiting(c.waiting)}${c.stopping ? `, stopping (${c.stopping})` : ''}`);
    else out.push(`training: ${c.dataset} — run ${c.runId}, attempt ${c.attempt}, ${c.slurm ? `Slurm job ${c.slurm.jobId ?? '?'}${c.slurm.nodes ? ` on ${c.slurm.nodes}` : ''}` : `pid ${c.pid ?? '?'}`}: ${parts.join(', ')}`);
  } else out.push('training: nothing');
  out.push(residentLine(s.resident));
  out.push(`queued: ${s.queue.length}`);
  // A queue of thousands would bury the rest of the status: its head, then how many more.
  s.queue.slice(0, STATUS_QUEUE_LINES).forEach((q, i) => {
    const extra = [`priority ${q.priority}`, `${q.examples} examples`];
    if (q.attempts) extra.push(`${q.attempts} failed attempt${q.attempts === 1 ? '' : 's'}`);
    if (q.notBefore) extra.push(`retry after ${q.notBefore}`);
    if (q.resumeFrom) extra.push(`resumes from ${q.resumeFrom}`);
    out.push(`  ${i + 1}. ${q.name} (${extra.join(', ')})`);
  });
  if (s.queue.length > STATUS_QUEUE_LINES) out.push(`  … and ${s.queue.length - STATUS_QUEUE_LINES} more (status --format json lists them all)`);
  if (s.inbox.length) out.push(`inbox: ${s.inbox.join(', ')}`);
  if (s.inboxNotTaken.length) {
    out.push(`inbox, not taken: ${s.inboxNotTaken.length}`);
    for (const e of s.inboxNotTaken) out.push(`  ${JSON.stringify(e.name)}: ${e.why}`);
  }
  out.push(s.snapshot?.snapshot
    ? `adapter: snapshot ${s.snapshot.snapshot} (step ${s.snapshot.step ?? '?'}, loss ${s.snapshot.loss?.toFixed(4) ?? '?'}, ${s.snapshot.dataset ?? '?'}; since ${s.snapshot.since ?? '?'})`
    : s.snapshot?.adapter ? `adapter: ${s.snapshot.adapter}` : 'adapter: the base model (no snapshot yet)');
  if (s.snapshot?.note) out.push(`  ${s.snapshot.note}`);
  out.push(s.base
    ? `base model: models/${s.base.model}${s.base.generation !== null ? ` (generation ${s.base.generation}: ${s.base.adapters} adapter(s), ${s.base.datasets} dataset(s) merged)` : ' (its manifest is unreadable)'}`
    : "base model: the config's baseModel");
  if (s.consolidation) {
    const c = s.consolidation;
    out.push(c.status === 'merging'
      ? `consolidating: snapshot ${c.snapshot ?? '?'} into models/${c.id}, merging since ${c.startedAt ?? '?'} (pid ${c.pid ?? '?'}); no run starts until it ends`
      : `consolidation pending: ${c.snapshot ? `snapshot ${c.snapshot}` : 'the current adapter'} into models/${c.id}, once the run in progress ends; no run starts until it is done`);
  } else if (s.lastConsolidation && !s.lastConsolidation.ok) out.push(`last consolidation failed: ${s.lastConsolidation.message}`);
  out.push(`done: ${s.done}`);
  out.push(`failed: ${s.failed.length}`);
  for (const f of s.failed) out.push(`  ${f.name}: ${f.kind}: ${f.message}`);
  if (s.pendingCommands) out.push(`commands waiting for the engine: ${s.pendingCommands}`);
  if (s.lastErrors.length) {
    out.push('last errors:');
    for (const e of s.lastErrors) out.push(`  ${e.at} ${e.message}`);
  }
  return out;
}
