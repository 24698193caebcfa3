/**
 * The Runs and Snapshots views' data, read from a queue root for each `loraQueue/state` push:
 * the run in progress and the recent runs (with their checkpoints and logs), and the snapshots.
 * Read only; a finished run's total step count is read once from its events and remembered.
 */
import { closeSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { RunView, SnapshotView } from '../../../common/protocol';
import type { RootPaths } from '../engine/paths';
import { listSnapshots, type SnapshotEntry } from '../engine/snapshots';
import { describeWaiting, type QueueStatus } from '../engine/status';

/** A run id from state.json names a folder under runs/: it must stay there. */
const SAFE_ID = /^(?!\.{1,2}$)[A-Za-z0-9._-]+$/;

/** The `start` event is the first line of events.jsonl; a resumed run's too. */
const HEAD_BYTES = 64 * 1024;

export class ViewReader {
  /** Finished runs never change: their start event's total steps and warm flag, by run id. */
  private readonly totals = new Map<string, StartFacts>();

  constructor(readonly paths: RootPaths) {}

  runs(status: QueueStatus): RunView[] {
    const out: RunView[] = [];
    const c = status.current;
    if (c && SAFE_ID.test(c.runId)) {
      out.push({
        ...this.files(c.runId), runId: c.runId, dataset: c.dataset, attempt: c.attempt, state: 'running', outcome: null, stopping: c.stopping, message: c.waiting ? `waiting: ${describeWaiting(c.waiting)}` : null,
        step: c.step, totalSteps: c.totalSteps, loss: c.loss, startedAt: c.startedAt, endedAt: null,
        warm: readStart(join(this.paths.runs, c.runId, 'events.jsonl')).warm,
      });
    }
    for (const id of this.totals.keys()) if (!status.recentRuns.some((r) => r.runId === id)) this.totals.delete(id);
    for (const r of [...status.recentRuns].reverse()) {
      if (!SAFE_ID.test(r.runId) || r.runId === c?.runId) continue;
      out.push({
        ...this.files(r.runId), runId: r.runId, dataset: r.dataset, attempt: r.attempt, state: r.kind, outcome: r.outcome, stopping: null, message: r.message || null,
        step: r.steps, totalSteps: this.start(r.runId).totalSteps, loss: r.finalLoss, startedAt: r.startedAt, endedAt: r.endedAt, warm: this.start(r.runId).warm,
      });
    }
    return out;
  }

  /** `list`: the snapshots as the push read them with the status (status.ts readRoot); by default read here. */
  snapshots(list: readonly SnapshotEntry[] = listSnapshots(this.paths)): SnapshotView[] {
    return list.map((s) => ({
      id: s.id, path: s.path, current: s.current, verified: s.verified, runId: s.runId, step: s.step, loss: s.loss, dataset: s.dataset, created: s.created,
    }));
  }

  private files(runId: string): Pick<RunView, 'dir' | 'logPath' | 'checkpoints'> {
    const dir = join(this.paths.runs, runId);
    return { dir, logPath: join(dir, 'trainer.log'), checkpoints: listCheckpoints(join(dir, 'checkpoints')) };
  }

  private start(runId: string): StartFacts {
    if (!this.totals.has(runId)) this.totals.set(runId, readStart(join(this.paths.runs, runId, 'events.jsonl')));
    return this.totals.get(runId)!;
  }
}

/** Checkpoint folders (`step-N`, `checkpoint-N`, …), ordered by the step in their name. */
export function listCheckpoints(dir: string): { step: number | null; path: string }[] {
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name);
  } catch {
    return [];
  }
  const step = (n: string): number | null => {
    const m = /(\d+)$/.exec(n);
    return m ? Number(m[1]) : null;
  };
  return names
    .map((n) => ({ step: step(n), path: join(dir, n) }))
    .sort((a, b) => (a.step ?? -1) - (b.step ?? -1) || a.path.localeCompare(b.path));
}

/** total_steps of the first `start` event in the head of an events file, or null. */
export function readTotalSteps(eventsFile: string): number | null {
  return readStart(eventsFile).totalSteps;
}

export interface StartFacts {
  readonly totalSteps: number | null;
  /** The start event's `warm` (a resident trainer had the model loaded), or null. */
  readonly warm: boolean | null;
}

/** What the first `start` event in the head of an events file says, or nulls. */
export function readStart(eventsFile: string): StartFacts {
  let text: string;
  try {
    const fd = openSync(eventsFile, 'r');
    try {
      const buf = Buffer.alloc(HEAD_BYTES);
      text = buf.subarray(0, readSync(fd, buf, 0, HEAD_BYTES, 0)).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return { totalSteps: null, warm: null };
  }
  for (const line of text.split('\n')) {
    try {
      const e = JSON.parse(line) as { type?: unknown; total_steps?: unknown; warm?: unknown };
      if (e.type === 'start') {
        return { totalSteps: typeof e.total_steps === 'number' && Number.isFinite(e.total_steps) ? e.total_steps : null, warm: typeof e.warm === 'boolean' ? e.warm : null };
      }
    } catch {
      // a line cut by HEAD_BYTES, or a torn write: not the start event
    }
  }
  return { totalSteps: null, warm: null };
}
