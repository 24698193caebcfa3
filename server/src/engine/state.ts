/**
 * state.json: read, written atomically, and rebuilt when missing or corrupt. Little in it is
 * irreplaceable: the datasets' folders and sidecars are the truth about the queue, and a running
 * trainer is found again from /proc. A corrupt file is kept aside as state.json.corrupt-<time>.
 *
 * The pause is `pause: {kind, reason, since}` (common/pause.ts); the file also holds `paused` and
 * `pauseReason` derived from it, as it did before, for readers that know only those. A file from
 * before the structured pause (only `paused` and the reason's text) reads as the same pause, its
 * kind read from the text.
 */
import { renameSync } from 'node:fs';
import { pauseFromJson, pauseFromText } from '../../../common/pause';
import { readJson, writeJsonAtomic } from './atomic';
import type { RootPaths } from './paths';
import { emptyState } from './transitions';
import type { EngineState } from './types';

/** state.json as written: the state and the pause fields derived from it (and, in an older file, only those). */
type StateFile = Omit<EngineState, 'pause'> & { pause?: unknown; paused: boolean; pauseReason: string | null };

function looksLikeState(v: unknown): v is StateFile {
  if (!v || typeof v !== 'object') return false;
  const s = v as Partial<StateFile>;
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
    if (looksLikeState(raw)) return { state: { ...emptyState(now), ...fromFile(raw) } };
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
    return looksLikeState(raw) ? fromFile(raw) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The state in a file: the structured pause when it has one; otherwise `paused` and the reason's
 * text, from before the pause had a kind, read as the same pause.
 */
export function fromFile(raw: StateFile): EngineState {
  const { paused, pauseReason, pause, ...rest } = raw;
  const structured = pauseFromJson(pause);
  return { ...rest, pause: !paused ? null : structured ?? pauseFromText(pauseReason, raw.updatedAt ?? '') };
}

/** What state.json holds for a state: itself, and `paused`/`pauseReason` derived from its pause. */
export function toFile(s: EngineState, now: Date): StateFile {
  return { ...s, paused: s.pause !== null, pauseReason: s.pause ? s.pause.reason || null : null, updatedAt: now.toISOString() };
}

export function saveState(p: RootPaths, s: EngineState, now: Date = new Date()): void {
  writeJsonAtomic(p.state, toFile(s, now));
}
