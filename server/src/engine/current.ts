/**
 * current.json, the live adapter pointer (docs/engine.md, "Snapshots and rollback"): the one module
 * that reads and writes it. Everything that moves the live adapter or the live base (a new
 * snapshot, a fall-back at start, a rollback, a consolidation) goes through `setCurrent`, which
 * keeps its history (`previous`) the same way for all of them.
 *
 *   current.json   {snapshot, since, previous, adapter, note?, base}, written atomically
 */
import { existsSync, renameSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readJsonQuiet, writeJsonAtomic } from './atomic';
import { modelDir } from './models';
import { MANIFEST, snapshotsDir, type RootPaths } from './paths';

export interface CurrentPointer {
  /** The snapshot id, or null when there is none (the next run starts from the base model). */
  snapshot: string | null;
  since: string;
  /** The snapshot that was current before the last switch to another one (its history, one deep). */
  previous: string | null;
  /** Absolute path of the snapshot folder (or, in a current.json from before snapshots, the run's adapter). */
  adapter: string | null;
  /** Why current is what it is, when the engine chose it (a fallback after a corrupt snapshot). */
  note?: string | null;
  /** The live base model: a models/ id (consolidate.ts), or null for the config's baseModel. */
  base: string | null;
}

export function readCurrent(p: RootPaths): CurrentPointer | undefined {
  const c = readJsonQuiet<Partial<CurrentPointer> & { kind?: string }>(p.current);
  if (!c || typeof c !== 'object') return undefined;
  return {
    snapshot: typeof c.snapshot === 'string' ? c.snapshot : null, since: c.since ?? '', previous: c.previous ?? null, adapter: typeof c.adapter === 'string' ? c.adapter : null, note: c.note ?? null,
    base: typeof c.base === 'string' ? c.base : null,
  };
}

/**
 * The pointer after switching to snapshot `id` (null: none) with `note`; `base` given switches the
 * live base too, otherwise it stays. The history: `previous` becomes the snapshot that was current
 * when it changes to another one, and stays as it was when the same snapshot is set again (a new
 * note, a base switch with the same adapter).
 */
export function nextPointer(p: RootPaths, old: CurrentPointer | undefined, id: string | null, note: string | null, now: Date, base?: string | null): CurrentPointer {
  return {
    snapshot: id, since: now.toISOString(), previous: old?.snapshot && old.snapshot !== id ? old.snapshot : old?.previous ?? null,
    adapter: id ? join(snapshotsDir(p), id) : null, note, base: base === undefined ? old?.base ?? null : base,
  };
}

/** Switches the live adapter (and, when `base` is given, the live base model; otherwise it stays). */
export function setCurrent(p: RootPaths, id: string | null, note: string | null = null, now: Date = new Date(), base?: string | null): CurrentPointer {
  const c = nextPointer(p, readCurrent(p), id, note, now, base);
  writeJsonAtomic(p.current, c);
  return c;
}

/** A current.json that does not read: renamed aside as current.json.corrupt-<stamp>; returns that name. */
export function setCurrentAside(p: RootPaths, stamp: string): string {
  const aside = `${p.current}.corrupt-${stamp}`;
  try { renameSync(p.current, aside); } catch { /* replaced by the next setCurrent anyway */ }
  return basename(aside);
}

/** Whether current.json exists but does not read as a pointer. */
export function currentUnreadable(p: RootPaths): boolean {
  return existsSync(p.current) && !readCurrent(p);
}

/** The live base model: its models/ id (null: the config's baseModel) and absolute path. */
export function liveBase(p: RootPaths, configBaseModel: string, c: CurrentPointer | undefined = readCurrent(p)): { id: string | null; path: string } {
  const id = c?.base ?? null;
  return { id, path: id ? modelDir(p, id) : configBaseModel };
}

/** The adapter the next run continues from (absolute), or null: the current snapshot's folder. */
export function currentAdapter(p: RootPaths, c: CurrentPointer | undefined = readCurrent(p)): string | null {
  if (!c) return null;
  if (c.snapshot) {
    const dir = join(snapshotsDir(p), c.snapshot);
    return existsSync(join(dir, MANIFEST)) ? dir : null;
  }
  // A current.json from before snapshots named the run's adapter folder.
  return c.adapter && existsSync(c.adapter) ? c.adapter : null;
}

/**
 * Whether current.json's note says the engine itself moved the live adapter (a damaged current
 * snapshot, a rebuilt current.json), as opposed to a person (rollback) or a consolidation.
 */
export function isFallbackNote(note: string | null | undefined): boolean {
  return /^current snapshot .* (is corrupt|is missing)|^current\.json was unreadable/.test(note ?? '');
}

/** How a base model is named to a person: models/<id>, or "the config's baseModel". */
export function baseName(id: string | null): string {
  return id ? `models/${id}` : "the config's baseModel";
}
