/**
 * One trainer run: spawned (or adopted from an earlier engine), followed through its events file,
 * watched for hangs, signalled for stops, and observed to its end. The trainer runs in its own
 * process group (detached) with stdout and stderr appended to runs/<id>/trainer.log through a file
 * descriptor, so it keeps running, and keeps logging, when the engine exits or dies. It is started
 * through the exit recorder (exitRecorder.ts), whose exit.json tells how it ended even when no
 * engine was watching.
 *
 * Signals: the graceful ones (SIGTERM for stop now, SIGUSR1 for stop after the step) go to the
 * trainer command's process, which forwards them as launchers (accelerate, torchrun) do; SIGKILL
 * (hang, stop grace exceeded) goes to the whole group and to every other process of the run:
 * a launcher's workers may run in sessions of their own, out of the group, so the run's processes
 * are also found by the mark in their environment (proc.ts RUN_MARK) and by descent. At the run's
 * end any process of it still alive is killed too: a leftover worker would hold GPU memory and
 * make the next run fail.
 */
import { closeSync, openSync, readSync, fstatSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnDetached } from './detached';
import { performance } from 'node:perf_hooks';
import { applyEvents } from './events';
import { exitRecordPath, readExitRecord } from './exitRecord';
import { childrenOf, isProcessAlive, killRun, oomCounterFile, oomKillCount, processesOfRun, processStartTime, readOomKills, RUN_MARK, type ProcId } from './proc';
import { TrainerRun, type ExitInfo } from './trainerRun';
import type { RunRecord } from './types';

/** The exit recorder sits beside this module: dist/exitRecorder.js in the bundles, exitRecorder.js in out/. */
const RECORDER = join(__dirname, 'exitRecorder.js');

export type { ExitInfo };

export class RunHandle extends TrainerRun {
  /**
   * The oom_kill counters of the memory cgroups the run's processes were seen in, with the count
   * when first seen. A trainer command may put itself in a memory-limited cgroup of its own
   * (`systemd-run --scope -p MemoryMax=…`, a container), whose OOM kills the engine's own cgroup
   * never counts.
   */
  private readonly oomWatch = new Map<string, number>();
  private lastOomScan = -Infinity;

  private constructor(record: RunRecord, adopted: boolean) {
    super(record, adopted);
  }

  /** Starts the trainer through the exit recorder (exitRecorder.ts), detached (detached.ts), output to trainer.log. */
  static spawn(record: RunRecord, argv: readonly string[], cwd: string, env: NodeJS.ProcessEnv): RunHandle {
    const h = new RunHandle(record, false);
    const exitFile = exitRecordPath(dirname(record.jobPath));
    // Inside VS Code the server runs on Electron's binary, which is Node only with this variable.
    const marked: NodeJS.ProcessEnv = { ...env, [RUN_MARK]: dirname(record.jobPath) };
    const recorderEnv: NodeJS.ProcessEnv = process.versions['electron'] ? { ...marked, ELECTRON_RUN_AS_NODE: '1' } : marked;
    const pid = spawnDetached(process.execPath, [RECORDER, exitFile, ...argv], { cwd, env: recorderEnv, logPath: record.logPath }, (end) => {
      if (h.exit !== undefined) return;
      // The recorder's record holds the trainer's own code or signal; without it (the recorder was
      // killed with its group), the recorder's end is the run's end.
      const rec = readExitRecord(exitFile);
      if (rec?.error) h.spawnError = rec.error;
      else if (!rec && end.notStarted) h.spawnError = end.notStarted;
      h.exit = rec ? { code: rec.code, signal: rec.signal } : { code: end.code, signal: end.signal };
      h.onExit?.();
    });
    if (pid !== undefined) {
      record.pid = pid;
      record.startTime = processStartTime(pid) ?? null;
      record.oomKillsAtStart = oomKillCount('self') ?? null;
    }
    return h;
  }

  /** Follows a trainer started by an earlier engine; its events are read again from the start. */
  static adopt(record: RunRecord): RunHandle {
    const h = new RunHandle(record, true);
    applyEvents(h.progress, h.tail.read());
    h.lastActivity = performance.now();
    return h;
  }

  /** For a run whose trainer is already gone: its events, and an unknown exit. */
  static settled(record: RunRecord): RunHandle {
    const h = new RunHandle(record, true);
    applyEvents(h.progress, h.tail.read());
    h.exit = h.recordedExit();
    return h;
  }

  /**
   * Notes the memory cgroup of each process under the run's leader (the exit recorder and its
   * descendants, through /proc/<pid>/task/<pid>/children: a few small reads), once a second.
   */
  private watchOomCounters(now: number): void {
    if (now - this.lastOomScan < 1000 || this.record.pid === null) return;
    this.lastOomScan = now;
    const seen = new Set<number>();
    const todo = [this.record.pid];
    while (todo.length && seen.size < 256) {
      const pid = todo.pop()!;
      if (seen.has(pid)) continue;
      seen.add(pid);
      const file = oomCounterFile(pid);
      if (file !== undefined && !this.oomWatch.has(file)) {
        const n = readOomKills(file);
        if (n !== undefined) this.oomWatch.set(file, n);
      }
      todo.push(...childrenOf(pid));
    }
  }

  /** Reads new events; returns true when the run has ended (all its events read). */
  poll(now: number = performance.now()): boolean {
    if (this.exit === undefined) this.watchOomCounters(now);
    this.readEvents(now);
    if (this.exit === undefined && this.adopted && !this.alive()) this.exit = this.recordedExit();
    if (this.exit !== undefined) {
      // The trainer may have written its last events just before exiting.
      applyEvents(this.progress, this.tail.read());
      return true;
    }
    return false;
  }

  /** How a trainer nobody watched ended, from its exit record; null when unknown. */
  private recordedExit(): ExitInfo | null {
    const rec = readExitRecord(exitRecordPath(dirname(this.record.jobPath)));
    if (!rec) return null;
    if (rec.error) this.spawnError = rec.error;
    return { code: rec.code, signal: rec.signal };
  }

  alive(): boolean {
    const { pid, startTime } = this.record;
    if (pid === null) return false;
    return isProcessAlive(pid, startTime ?? undefined);
  }

  /** A graceful signal to the trainer command's process (a launcher forwards it); killAll is for SIGKILL. */
  signal(sig: NodeJS.Signals): boolean {
    const pid = this.record.pid;
    if (pid === null || !this.alive()) return false;
    try {
      process.kill(pid, sig);
      return true;
    } catch {
      return false;
    }
  }

  /** SIGKILL to the group and to every other process of the run (workers in their own sessions); returns those signalled. */
  killAll(): ProcId[] {
    return killRun(this.identity());
  }

  /** Processes of the run still alive (after its end there should be none). */
  processes(): ProcId[] {
    return processesOfRun(this.identity());
  }

  private identity(): { runDir: string; jobPath: string; rootPid: number | null } {
    const { jobPath, pid, startTime } = this.record;
    // The recorded pid is used for descent only while it is still the same process.
    const rootPid = pid !== null && isProcessAlive(pid, startTime ?? undefined) ? pid : null;
    return { runDir: dirname(jobPath), jobPath, rootPid };
  }

  /**
   * OOM kills during the run: in the engine's own memory cgroup since the spawn, plus in every
   * other memory cgroup a process of the run was seen in since it was first seen there. null when
   * none of them is readable.
   */
  oomKillsSinceStart(): number | null {
    const selfFile = oomCounterFile('self');
    let total: number | null = null;
    const base = this.record.oomKillsAtStart;
    const nowCount = oomKillCount('self');
    if (base !== null && nowCount !== undefined) total = Math.max(0, nowCount - base);
    for (const [file, first] of this.oomWatch) {
      if (file === selfFile) continue;
      const n = readOomKills(file);
      if (n !== undefined) total = (total ?? 0) + Math.max(0, n - first);
    }
    return total;
  }
}

/** The last `maxLines` lines of a log file (reads at most the last 64 KiB). */
export function logTail(path: string, maxLines = 20): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    return lines.slice(-maxLines).join('\n');
  } finally {
    closeSync(fd);
  }
}
