/**
 * state.json: read, written atomically, and rebuilt when missing or corrupt. Little in it is
 * irreplaceable: the datasets' folders and sidecars are the truth about the queue, and a running
 * trainer is found again from /proc. A corrupt file is kept aside as state.json.corrupt-<time>.
 */
import { renameSync } from 'node:fs';
import { readJson, writeJsonAtomic } from './atomic';
import type { RootPaths } from './paths';
import { emptyState } from './transitions';
import type { EngineState } from './types';

function looksLikeState(v: unknown): v is EngineState {
  if (!v || typeof v !== 'object') return false;
  const s = v as Partial<EngineState>;
  return s.version === 1 && typeof s.paused === 'boolean' && Array.isArray(s.applied) && Array.isArray(s.history) && Array.isArray(s.results) && Array.isArray(s.errors) && (s.current === null || typeof s.current === 'object');
}

export interface LoadedState {
  readonly state: EngineState;
  /** Set when the file was missing or corrupt and the state was rebuilt. */
  readonly rebuilt?: 'missing' | { corruptKeptAt: string; why: string };
}

export function loadState(p: RootPaths, now: Date = new Date()): LoadedState {
  let raw: unknown;
  let why: string;
  try {
    raw = readJson<unknown>(p.state);
    if (raw === undefined) return { state: emptyState(now), rebuilt: 'missing' };
    if (looksLikeState(raw)) return { state: { ...emptyState(now), ...raw } };
    why = 'not an engine state';
  } catch (e) {
    why = (e as Error).message;
  }
  const aside = `${p.state}.corrupt-${now.toISOString().replace(/[:.]/g, '-')}`;
  try {
    renameSync(p.state, aside);
  } catch {
    // Keep going with a fresh state; the bad file will be replaced on the next save.
  }
  return { state: emptyState(now), rebuilt: { corruptKeptAt: aside, why } };
}

/** Reads state.json for display (followers, the CLI); never moves anything. */
export function peekState(p: RootPaths): EngineState | undefined {
  try {
    const raw = readJson<unknown>(p.state);
    return looksLikeState(raw) ? raw : undefined;
  } catch {
    return undefined;
  }
}

export function saveState(p: RootPaths, s: EngineState, now: Date = new Date()): void {
  writeJsonAtomic(p.state, { ...s, updatedAt: now.toISOString() });
}
