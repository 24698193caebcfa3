/**
 * `rollback ID` (docs/engine.md, "Snapshots and rollback" and "Consolidation"): the one place that
 * decides whether and how the live adapter goes back. ID is a snapshot (its adapter and the base it
 * was trained on go back together) or a consolidated model (the live base, with a fresh adapter).
 * Refused while a consolidation is pending or merging. The switch itself is written by current.ts.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { baseName, readCurrent, setCurrent } from './current';
import { checkModel, modelDir, readModelManifest } from './models';
import { MANIFEST, type RootPaths } from './paths';
import { listSnapshots, reverifySnapshot } from './snapshots';
import type { ConsolidationRecord } from './types';

export interface RollbackResult {
  readonly ok: boolean;
  readonly message: string;
}

/** What a rollback of the live adapter says about a consolidation that holds it. */
export function consolidationName(snapshot: string | null): string {
  return snapshot ? `snapshot ${snapshot}` : 'the current adapter';
}

/** `rollback ID` for the engine, the CLI and the editor: a snapshot or a model, refused while a consolidation runs. */
export function rollback(p: RootPaths, id: string, runInProgress: boolean, consolidating: ConsolidationRecord | null, now: Date = new Date()): RollbackResult {
  if (consolidating) return { ok: false, message: `a consolidation (${consolidationName(consolidating.snapshot)} into models/${consolidating.id}) is ${consolidating.status}: rollback once it has ended` };
  const model = readModelManifest(p, id);
  if (!model || listSnapshots(p).some((s) => s.id === id || s.runId === id)) return rollbackToSnapshot(p, id, runInProgress, now);
  return rollbackToModel(p, id, runInProgress, now);
}

/** Makes a snapshot current after verifying it again, with the base it was trained on. */
export function rollbackToSnapshot(p: RootPaths, id: string, runInProgress = false, now: Date = new Date()): RollbackResult {
  const all = listSnapshots(p);
  const s = all.find((x) => x.id === id || x.runId === id);
  if (!s) {
    const known = all.map((x) => x.id);
    return { ok: false, message: `no snapshot ${id}${known.length ? ` (snapshots: ${known.slice(0, 5).join(', ')}${known.length > 5 ? ', …' : ''})` : ' (there are none yet)'}` };
  }
  const v = reverifySnapshot(p, s.id, now);
  if (v.problems.length) return { ok: false, message: `snapshot ${s.id} is corrupt (${v.problems.slice(0, 3).join('; ')})${v.aside ? `; moved aside as snapshots/${v.aside}` : ''}; current is unchanged` };
  const cur = readCurrent(p);
  const before = cur?.snapshot ?? null;
  // The adapter and the base it was trained on go back together (a snapshot from before a consolidation).
  const base = s.base;
  if (base !== null && !existsSync(join(modelDir(p, base), MANIFEST))) return { ok: false, message: `snapshot ${s.id} was trained on models/${base}, which is gone; current is unchanged` };
  const baseBefore = cur?.base ?? null;
  if (before === s.id && baseBefore === base) return { ok: true, message: `${s.id} is already the current snapshot` };
  setCurrent(p, s.id, `rolled back from ${before ?? 'none'}${baseBefore !== base ? ` on ${baseName(baseBefore)}` : ''} (${now.toISOString()})`, now, base);
  return {
    ok: true,
    message: `current snapshot: ${s.id} (was ${before ?? 'none'})${baseBefore !== base ? `; base model: ${baseName(base)} (was ${baseName(baseBefore)})` : ''}; the next run continues from it${runInProgress ? '; the run in progress keeps the adapter it started from, and its result is kept as a snapshot without becoming current' : ''}`,
  };
}

/** Makes a consolidated model the live base, with no adapter, after checking it against its manifest. */
export function rollbackToModel(p: RootPaths, id: string, runInProgress = false, now: Date = new Date()): RollbackResult {
  const problems = checkModel(p, id);
  if (problems.length) return { ok: false, message: `models/${id} does not match its manifest (${problems.slice(0, 3).join('; ')}); current is unchanged` };
  const cur = readCurrent(p);
  if (cur?.base === id && !cur.snapshot) return { ok: true, message: `models/${id} is already the live base, with no adapter` };
  setCurrent(p, null, `rolled back to models/${id} from ${cur?.snapshot ?? 'no adapter'} on ${baseName(cur?.base ?? null)} (${now.toISOString()})`, now, id);
  return {
    ok: true,
    message: `live base: models/${id} (was ${baseName(cur?.base ?? null)}${cur?.snapshot ? ` with snapshot ${cur.snapshot}` : ''}); the next run trains a fresh adapter on it${runInProgress ? '; the run in progress keeps its base and adapter, and its result is kept as a snapshot without becoming current' : ''}`,
  };
}
