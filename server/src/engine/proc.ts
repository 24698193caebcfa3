/** Process identity on Linux: a pid plus its start time, so a reused pid is never mistaken for ours. */
import { readFileSync, readdirSync } from 'node:fs';

export interface ProcStat {
  readonly state: string;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot. */
  readonly startTime: string;
  readonly pgrp: number;
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
  const pgrp = rest[2];
  const start = rest[19];
  if (!state || !start || !pgrp) return undefined;
  return { state, startTime: start, pgrp: Number(pgrp) };
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

/** The oom_kill counter of the memory cgroup `pid` belongs to (v2 or v1), where readable. */
export function oomKillCount(pid: number | 'self'): number | undefined {
  let lines: string[];
  try {
    lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const candidates: string[] = [];
  for (const line of lines) {
    const [, controllers, path] = line.split(':', 3).length === 3 ? (line.match(/^([^:]*):([^:]*):(.*)$/) ?? []) as string[] : [];
    if (path === undefined || controllers === undefined) continue;
    if (controllers === '') candidates.push(`/sys/fs/cgroup${path}/memory.events`, `/sys/fs/cgroup/unified${path}/memory.events`);
    else if (controllers.split(",").includes("memory")) candidates.push(`/sys/fs/cgroup/memory${path}/memory.oom_control`, "/sys/fs/cgroup/memory/memory.oom_control");
  }
  for (const file of candidates) {
    try {
      const m = /^oom_kill (\d+)$/m.exec(readFileSync(file, 'utf8'));
      if (m) return Number(m[1]);
    } catch {
      // not readable here
    }
  }
  return undefined;
}
