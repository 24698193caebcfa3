/**
 * What runs/ says, without state.json: each `runs/<id>/job.json` names its dataset (the file in
 * processing/ it trained), `end.json` says the engine settled the run, `exit.json` and
 * `events.jsonl` say how an unsettled one ended, and a live trainer is found by the mark in its
 * environment or the `--job` path on its command line (proc.ts). state.json is a cache of this:
 * an engine that starts without it rebuilds the run in progress and the attempts from here
 * (engine.ts `recover`), so losing it can neither re-train a finished dataset, forget an attempt,
 * nor start a second trainer.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { RETRYABLE_END_KINDS, isEndKind } from '../../../common/endKinds';
import { readJsonQuiet, writeJsonAtomic } from './atomic';
import { exitRecordPath, readExitRecord } from './exitRecord';
import type { RootPaths } from './paths';
import { procStat, processesUnderRuns, type ProcId } from './proc';

export const END_RECORD = 'end.json';

export interface RunOnDisk {
  readonly runId: string;
  readonly runDir: string;
  readonly jobPath: string;
  readonly eventsPath: string;
  readonly logPath: string;
  /** The dataset's absolute path as job.json names it (in processing/). */
  readonly datasetPath: string;
  /** Its base name: the dataset's name while it trained. */
  readonly dataset: string;
  /** When job.json was written (the run's start, as near as the files tell). */
  readonly startedAt: string;
  /** end.json: the engine settled it; its kind, if it says one. */
  readonly end: { readonly kind: string | null; readonly notStarted: boolean } | null;
  /** exit.json exists: the trainer command ended (or could not start). */
  readonly exited: boolean;
  /** events.jsonl holds at least one byte: the trainer started. */
  readonly hasEvents: boolean;
}

/** Every run folder with a readable job.json, oldest first (run ids begin with the UTC time). */
export function runsOnDisk(p: RootPaths): RunOnDisk[] {
  let names: string[];
  try {
    names = readdirSync(p.runs).sort();
  } catch {
    return [];
  }
  const out: RunOnDisk[] = [];
  for (const id of names) {
    const runDir = join(p.runs, id);
    const jobPath = join(runDir, 'job.json');
    const job = readJsonQuiet<{ dataset?: unknown; events?: unknown; run_id?: unknown }>(jobPath);
    if (!job || typeof job.dataset !== 'string') continue;
    let startedAt: string;
    try {
      startedAt = new Date(statSync(jobPath).mtimeMs).toISOString();
    } catch {
      continue;
    }
    const eventsPath = typeof job.events === 'string' ? job.events : join(runDir, 'events.jsonl');
    const endRec = readJsonQuiet<{ kind?: unknown; notStarted?: unknown }>(join(runDir, END_RECORD));
    let hasEvents = false;
    try {
      hasEvents = statSync(eventsPath).size > 0;
    } catch { /* none */ }
    out.push({
      runId: typeof job.run_id === 'string' ? job.run_id : id, runDir, jobPath, eventsPath, logPath: join(runDir, 'trainer.log'),
      datasetPath: job.dataset, dataset: basename(job.dataset), startedAt,
      end: endRec ? { kind: typeof endRec.kind === 'string' ? endRec.kind : null, notStarted: endRec.notStarted === true } : null,
      exited: readExitRecord(exitRecordPath(runDir)) !== undefined, hasEvents,
    });
  }
  return out;
}

/**
 * The live processes of every run of this root (proc.ts `processesUnderRuns`, one pass over /proc),
 * by run folder, each list with its leader first: the exit recorder leads the trainer's process
 * group (its pid is the run's pid in state.json), and the trainer beneath it carries the same
 * `--job` and mark.
 */
export function liveRunProcesses(p: RootPaths): Map<string, ProcId[]> {
  const found = processesUnderRuns(p.runs);
  const leader = (x: ProcId): number => (procStat(x.pid)?.pgrp === x.pid ? 0 : 1);
  for (const list of found.values()) list.sort((a, b) => leader(a) - leader(b) || a.pid - b.pid);
  return found;
}

/**
 * Runs of the dataset `name` that used up an attempt: settled with a retryable end (common/endKinds.ts)
 * at or after `since` (when the dataset was last admitted: `retry` starts the count afresh).
 */
export function attemptsFromRuns(runs: readonly RunOnDisk[], name: string, since: string): number {
  return runs.filter((r) => r.dataset === name && r.startedAt >= since && r.end?.kind != null && isEndKind(r.end.kind) && RETRYABLE_END_KINDS.has(r.end.kind)).length;
}

/** Marks a run that was prepared but never started, so no later recovery takes it for an unsettled one. */
export function markNotStarted(run: Pick<RunOnDisk, 'runDir'>, now: Date = new Date()): void {
  writeJsonAtomic(join(run.runDir, END_RECORD), { notStarted: true, outcome: 'queue', at: now.toISOString(), message: 'prepared but never started (the engine stopped in between): not an attempt' });
}
