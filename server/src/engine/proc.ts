/** Process identity on Linux: a pid plus its start time, so a reused pid is never mistaken for ours. */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface ProcStat {
  readonly state: string;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot. */
  readonly startTime: string;
  readonly pgrp: number;
  readonly ppid: number;
}

export function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself hold spaces and parentheses.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  const state = rest[0];
  const ppid = rest[1];
  const pgrp = rest[2];
  const start = rest[19];
  if (!state || !start || !pgrp || !ppid) return undefined;
  return { state, startTime: start, pgrp: Number(pgrp), ppid: Number(ppid) };
}

export function processStartTime(pid: number): string | undefined {
  return procStat(pid)?.startTime;
}

/**
 * Whether `pid` is running and is the same process as when `startTime` was read. A zombie counts
 * as gone: it has exited, and only waits for a parent (possibly one that never reaps) to collect it.
 */
export function isProcessAlive(pid: number, startTime?: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const st = procStat(pid);
  if (!st) return process.platform !== 'linux';
  if (st.state === 'Z' || st.state === 'X') return false;
  return startTime === undefined || st.startTime === startTime;
}

/** Processes whose command line holds `--job <path>` with the path accepted by `match`. */
export function findProcessesByJob(match: (jobPath: string) => boolean): { pid: number; startTime: string; jobPath: string }[] {
  const found: { pid: number; startTime: string; jobPath: string }[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return found;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    let args: string[];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const i = args.indexOf('--job');
    const jobPath = i >= 0 ? args[i + 1] : undefined;
    if (!jobPath || !match(jobPath)) continue;
    const st = procStat(pid);
    if (st && st.state !== 'Z' && st.state !== 'X') found.push({ pid, startTime: st.startTime, jobPath });
  }
  return found;
}

/**
 * The file holding the oom_kill counter of the memory cgroup `pid` belongs to (cgroup v2
 * `memory.events`, v1 `memory.oom_control`), where one is readable.
 */
export function oomCounterFile(pid: number | 'self'): string | undefined {
  let lines: string[];
  try {
    lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const candidates: string[] = [];
  for (const line of lines) {
    const m = /^([^:]*):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, , controllers, path] = m as unknown as [string, string, string, string];
    if (controllers === '') candidates.push(`/sys/fs/cgroup${path}/memory.events`, `/sys/fs/cgroup/unified${path}/memory.events`);
    else if (controllers.split(',').includes('memory')) candidates.push(`/sys/fs/cgroup/memory${path}/memory.oom_control`, '/sys/fs/cgroup/memory/memory.oom_control');
  }
  return candidates.find((f) => readOomKills(f) !== undefined);
}

/** The oom_kill count in a counter file (oomCounterFile), or undefined when unreadable. */
export function readOomKills(file: string): number | undefined {
  try {
    const m = /^oom_kill (\d+)$/m.exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The oom_kill counter of the memory cgroup `pid` belongs to (v2 or v1), where readable. */
export function oomKillCount(pid: number | 'self'): number | undefined {
  const f = oomCounterFile(pid);
  return f === undefined ? undefined : readOomKills(f);
}

/** The direct children of a process (`/proc/<pid>/task/<pid>/children`); none where the kernel does not offer the file. */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * The environment variable that marks every process of a run: the engine sets it to the run's
 * folder when it starts the trainer command, and every process that command starts inherits it,
 * launcher workers in sessions of their own included. A worker whose launcher died is re-parented
 * and no longer a descendant of anything the engine knows, but it still carries the mark.
 */
export const RUN_MARK = 'LORA_QUEUE_RUN';

export interface ProcId {
  readonly pid: number;
  readonly startTime: string;
}

/**
 * Every live process of a run, found three ways, so none escapes: the descendants of `rootPid`
 * (the exit recorder, the group leader), and, through processesUnderRuns, the processes whose
 * environment holds RUN_MARK=`runDir` or whose command line names the run's job file. Zombies are
 * left out (they hold nothing but a pid), and so is the engine itself.
 */
export function processesOfRun(run: { runDir: string; jobPath: string; rootPid: number | null }): ProcId[] {
  const found = new Map<number, string>();
  for (const p of processesUnderRuns(dirname(run.runDir)).get(run.runDir) ?? []) found.set(p.pid, p.startTime);
  for (const p of descendantsOf(run.rootPid)) found.set(p.pid, p.startTime);
  return [...found].map(([pid, startTime]) => ({ pid, startTime }));
}

/** `rootPid` and every live process below it (by the parent pid in /proc/<pid>/stat); none when it is null or gone. */
function descendantsOf(rootPid: number | null): ProcId[] {
  if (rootPid === null) return [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  const stats = new Map<number, ProcStat>();
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    const st = procStat(pid);
    if (!st || st.state === 'Z' || st.state === 'X') continue;
    stats.set(pid, st);
    const list = children.get(st.ppid);
    if (list) list.push(pid);
    else children.set(st.ppid, [pid]);
  }
  const out: ProcId[] = [];
  const seen = new Set<number>();
  const todo = stats.has(rootPid) ? [rootPid] : [];
  while (todo.length) {
    const pid = todo.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    out.push({ pid, startTime: stats.get(pid)!.startTime });
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/**
 * SIGKILL to every process of a run (processesOfRun) and to the group of `rootPid`. Returns the
 * processes it signalled. A pid is signalled only while its start time still matches, so a pid
 * reused since the listing is never hit.
 */
export function killRun(run: { runDir: string; jobPath: string; rootPid: number | null }): ProcId[] {
  if (run.rootPid !== null) {
    try {
      process.kill(-run.rootPid, 'SIGKILL');
    } catch { /* no such group any more */ }
  }
  const killed: ProcId[] = [];
  for (const p of processesOfRun(run)) {
    if (procStat(p.pid)?.startTime !== p.startTime) continue;
    try {
      process.kill(p.pid, 'SIGKILL');
      killed.push(p);
    } catch { /* gone meanwhile */ }
  }
  return killed;
}

/**
 * Every live process of any run under `runsDir` (one pass over /proc), by run folder: those whose
 * command line has `--job <runsDir>/<id>/…` and those whose environment holds the mark
 * RUN_MARK=<runsDir>/<id>. The engine asks before it starts a run, and when it recovers without a
 * run in state.json, so a trainer it does not know of is adopted instead of joined by a second one.
 */
export function processesUnderRuns(runsDir: string): Map<string, ProcId[]> {
  const out = new Map<string, ProcId[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  const prefix = runsDir.endsWith('/') ? runsDir : `${runsDir}/`;
  const markPrefix = `${RUN_MARK}=${prefix}`;
  const add = (runDir: string, p: ProcId): void => {
    const list = out.get(runDir);
    if (!list) out.set(runDir, [p]);
    else if (!list.some((x) => x.pid === p.pid)) list.push(p);
  };
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    let runDir: string | undefined;
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const i = args.indexOf('--job');
      const job = i >= 0 ? args[i + 1] : undefined;
      if (job?.startsWith(prefix)) runDir = job.slice(0, job.lastIndexOf('/'));
    } catch {
      continue;
    }
    if (runDir === undefined) {
      let env: string;
      try {
        env = readFileSync(`/proc/${pid}/environ`, 'latin1');
      } catch {
        continue; // another user's, or gone
      }
      const at = env.startsWith(markPrefix) ? 0 : env.indexOf(`\0${markPrefix}`) + 1;
      if (at > 0 || env.startsWith(markPrefix)) {
        const end = env.indexOf('\0', at);
        runDir = env.slice(at + RUN_MARK.length + 1, end < 0 ? undefined : end);
      }
    }
    if (runDir === undefined) continue;
    const st = procStat(pid);
    if (st && st.state !== 'Z' && st.state !== 'X') add(runDir, { pid, startTime: st.startTime });
  }
  return out;
}
