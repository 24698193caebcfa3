/** `runs/<id>/exit.json`: how the trainer ended, written by exitRecorder.ts, read by the engine. */
import { join } from 'node:path';
import { readJsonQuiet, writeJsonAtomic } from './atomic';

export interface ExitRecord {
  /** The trainer's exit code, or null when a signal ended it (or it never started). */
  readonly code: number | null;
  readonly signal: string | null;
  /** The trainer's own pid (the recorder's child). */
  readonly pid: number | null;
  readonly endedAt: string;
  /** Set when the trainer command could not be started at all. */
  readonly error?: string;
}

export const EXIT_RECORD = 'exit.json';

export function exitRecordPath(runDir: string): string {
  return join(runDir, EXIT_RECORD);
}

export function writeExitRecord(file: string, r: ExitRecord): void {
  writeJsonAtomic(file, r);
}

/** The record, or undefined when there is none (the recorder was killed too) or it is unreadable. */
export function readExitRecord(file: string): ExitRecord | undefined {
  const r = readJsonQuiet<Partial<ExitRecord>>(file);
  if (!r || typeof r !== 'object' || typeof r.endedAt !== 'string') return undefined;
  if (r.code !== null && typeof r.code !== 'number') return undefined;
  if (r.signal !== null && typeof r.signal !== 'string') return undefined;
  return { code: r.code ?? null, signal: r.signal ?? null, pid: typeof r.pid === 'number' ? r.pid : null, endedAt: r.endedAt, ...(typeof r.error === 'string' && { error: r.error }) };
}
