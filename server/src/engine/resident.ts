/**
 * trainer.resident: one trainer process kept loaded between runs (the Python start, the imports, the
 * tokenizer and the base model paid once), handed each run's job.json over a unix socket in the
 * queue root. Local executor only.
 *
 * The engine still starts one process per run, the exit recorder, now as the resident trainer's
 * client (exitRecorder.ts `--resident`): it carries the run's mark and `--job`, takes the run's
 * signals and exits with the job's code, so supervision, adoption, stop modes and exit.json are
 * those of a cold run (supervisor.ts). The resident process itself has an identity of its own,
 * `resident/resident.json` (pid and start time, and what it was started for), and its own mark in
 * its environment (RESIDENT_MARK), never a run's: the end of a run does not kill it. It is
 * started detached, so it outlives a kill -9 of the engine; the next engine adopts it from
 * resident.json, and kills any other process that carries this root's mark (never two).
 *
 * It is killed (and the next run starts cold) after a run that ended in a hang, a crash, a kill,
 * a CUDA OOM or a lost GPU, and when a stop --now outlasts its grace; it is restarted when what
 * the loaded model depends on changes (the base model: a consolidation, a rollback, a config edit;
 * trainer.command or trainer.env), and recycled between runs after trainer.residentMaxJobs runs or
 * when its RSS or reserved GPU memory has grown past trainer.residentMemoryGrowth times what it held
 * after its first run. Each of these says why in the engine log. Layout of `resident/`:
 * resident.json (the engine's record), trainer.sock, trainer.log (the process's output between
 * runs; each run's output goes to its own trainer.log), stats.json (written by the trainer after
 * each run: runs served, RSS, GPU memory, model loads).
 */
import { mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { launcherOf } from '../config/launcher';
import type { Config } from '../config/schema';
import { readJsonQuiet, writeJsonAtomic } from './atomic';
import { spawnDetached } from './detached';
import type { EngineLog } from './log';
import { isProcessAlive, procStat, processStartTime } from './proc';
import type { EndKind } from './types';

/** The environment variable that marks the resident trainer of a queue root (its value: the root). */
export const RESIDENT_MARK = 'LORA_QUEUE_RESIDENT';
/** The socket, relative to the queue root (the cwd of the trainer and of the recorder): a long root cannot exceed the 108 bytes of a socket path. */
export const RESIDENT_SOCKET = 'resident/trainer.sock';

export interface ResidentRecord {
  readonly pid: number;
  readonly startTime: string;
  readonly startedAt: string;
  /** What the loaded process depends on: the trainer argv, trainer.env and the base model. */
  readonly key: string;
  readonly baseModel: string;
  /** Runs handed to it so far (counted by the engine, for trainer.residentMaxJobs). */
  readonly runs: number;
}

/** stats.json, as the trainer writes it after each run (resident.py). */
export interface ResidentStats {
  readonly pid?: number;
  readonly jobs?: number;
  readonly rss_bytes?: number | null;
  readonly first_rss_bytes?: number | null;
  readonly gpu_reserved_bytes?: number | null;
  readonly first_gpu_reserved_bytes?: number | null;
  readonly loaded?: string | null;
  readonly loads?: number;
  readonly load_seconds?: number;
}

/** What status and the views show of it. */
export interface ResidentStatus {
  readonly pid: number;
  readonly startedAt: string;
  /** A base model is loaded and waiting for (or training) the next run. */
  readonly warm: boolean;
  /** Runs handed to it (the one in progress included). */
  readonly runs: number;
  readonly baseModel: string;
  readonly rssBytes: number | null;
}

/** Runs that end like this leave the process in a state not to be trusted: it is killed. */
const KILLS_RESIDENT: ReadonlySet<EndKind> = new Set<EndKind>(['crash', 'hang', 'killed', 'cuda_oom', 'gpu_unavailable']);

export function residentDir(root: string): string {
  return join(root, 'resident');
}

function recordPath(root: string): string {
  return join(residentDir(root), 'resident.json');
}

function statsPath(root: string): string {
  return join(residentDir(root), 'stats.json');
}

export function readResidentRecord(root: string): ResidentRecord | undefined {
  const r = readJsonQuiet<Partial<ResidentRecord>>(recordPath(root));
  if (!r || typeof r.pid !== 'number' || typeof r.startTime !== 'string' || typeof r.key !== 'string') return undefined;
  return { pid: r.pid, startTime: r.startTime, startedAt: String(r.startedAt ?? ''), key: r.key, baseModel: String(r.baseModel ?? ''), runs: typeof r.runs === 'number' ? r.runs : 0 };
}

/** The resident trainer of `root` as the files say, when one is alive (for status: reads only). */
export function readResidentStatus(root: string): ResidentStatus | null {
  const rec = readResidentRecord(root);
  if (!rec || !isProcessAlive(rec.pid, rec.startTime)) return null;
  const st = readJsonQuiet<ResidentStats>(statsPath(root));
  const mine = st && st.pid === rec.pid ? st : undefined;
  return { pid: rec.pid, startedAt: rec.startedAt, warm: (mine?.loads ?? 0) > 0 && mine?.loaded != null, runs: rec.runs, baseModel: rec.baseModel, rssBytes: rssBytes(rec.pid) };
}

function rssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Live processes whose environment holds RESIDENT_MARK=`root` (one pass over /proc). */
export function residentProcesses(root: string): { pid: number; startTime: string }[] {
  const want = `${RESIDENT_MARK}=${root}`;
  const out: { pid: number; startTime: string }[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    let env: string;
    try {
      env = readFileSync(`/proc/${e}/environ`, 'latin1');
    } catch {
      continue;
    }
    if (!env.split('\0').includes(want)) continue;
    const st = procStat(Number(e));
    if (st && st.state !== 'Z' && st.state !== 'X') out.push({ pid: Number(e), startTime: st.startTime });
  }
  return out;
}

export class ResidentTrainer {
  private record: ResidentRecord | undefined;
  /** A pid this engine killed on purpose: its end is not news. */
  private killedPid: number | undefined;
  private warnedLauncher = false;

  constructor(private readonly root: string, private readonly log: EngineLog) {}

  /** At ownership: the resident trainer of an earlier engine is adopted, any other process with this root's mark killed. */
  recover(): void {
    const rec = readResidentRecord(this.root);
    this.record = rec && isProcessAlive(rec.pid, rec.startTime) ? rec : undefined;
    if (rec && !this.record) this.forget();
    if (this.record) this.log.info(`adopted the resident trainer pid ${this.record.pid} (started ${this.record.startedAt}, base model ${this.record.baseModel})`);
    this.killStrays();
  }

  /** The live record, or none (a process that ended is forgotten). */
  current(): ResidentRecord | undefined {
    if (this.record && !isProcessAlive(this.record.pid, this.record.startTime)) {
      this.log.info(`the resident trainer pid ${this.record.pid} is gone; the next run starts a new one`);
      this.forget();
    }
    return this.record;
  }

  /**
   * For the next run: the exit recorder's arguments that hand the job to the resident trainer
   * (started now when none is alive; restarted or recycled first when it must be), before
   * `--job <job.json>`; undefined for a cold run (trainer.resident off, or a launcher).
   */
  argsForRun(o: { config: Config; trainerArgv: readonly string[]; env: NodeJS.ProcessEnv; baseModel: string }): string[] | undefined {
    const t = o.config.trainer;
    if (!t.resident) {
      if (this.current()) this.kill('trainer.resident is false now');
      return undefined;
    }
    const launcher = launcherOf(t.command);
    if (launcher) {
      if (!this.warnedLauncher) this.log.warn(`trainer.resident: trainer.command starts ${launcher.kind}, which runs several processes; runs start cold`);
      this.warnedLauncher = true;
      if (this.current()) this.kill(`trainer.command starts ${launcher.kind}`);
      return undefined;
    }
    this.warnedLauncher = false;
    const key = JSON.stringify({ argv: o.trainerArgv, env: t.env, baseModel: o.baseModel });
    let rec = this.current();
    if (rec && rec.key !== key) {
      const was = JSON.parse(rec.key) as { argv: unknown; env: unknown; baseModel: string };
      this.kill(was.baseModel !== o.baseModel ? `the base model changed (${was.baseModel} → ${o.baseModel})` : 'trainer.command or trainer.env changed');
      rec = undefined;
    }
    if (rec) {
      const why = this.recycleReason(rec, t.residentMaxJobs, t.residentMemoryGrowth);
      if (why) {
        this.kill(`recycled: ${why}`);
        rec = undefined;
      }
    }
    rec ??= this.start(o.trainerArgv, o.env, key, o.baseModel);
    if (!rec) return undefined;
    this.record = { ...rec, runs: rec.runs + 1 };
    writeJsonAtomic(recordPath(this.root), this.record);
    return ['--resident', RESIDENT_SOCKET, String(rec.pid), rec.startTime];
  }

  /** After a run's end: a run that hung, crashed or was killed takes the resident process with it. */
  afterRun(kind: EndKind, runId: string): void {
    if (KILLS_RESIDENT.has(kind) && this.current()) this.kill(`run ${runId} ended with ${kind}; the next run starts cold`);
  }

  /** Ends the resident trainer when one is alive (an idle one: nothing to lose). */
  release(reason: string): void {
    if (this.current()) this.kill(reason);
  }

  /** SIGKILL to the resident trainer and its group (a hang, a stop past its grace, a crash, a restart). */
  kill(reason: string): void {
    const rec = this.record;
    if (!rec) return;
    this.killedPid = rec.pid;
    if (isProcessAlive(rec.pid, rec.startTime)) {
      try {
        process.kill(-rec.pid, 'SIGKILL');
      } catch {
        try { process.kill(rec.pid, 'SIGKILL'); } catch { /* gone meanwhile */ }
      }
    }
    this.log.warn(`resident trainer pid ${rec.pid} killed: ${reason}`);
    this.forget();
  }

  private recycleReason(rec: ResidentRecord, maxJobs: number, growth: number): string | undefined {
    if (rec.runs >= maxJobs) return `${rec.runs} runs served (trainer.residentMaxJobs ${maxJobs})`;
    // The trainer's own figures, written after each run (one run late at worst).
    const st = readJsonQuiet<ResidentStats>(statsPath(this.root));
    if (!st || st.pid !== rec.pid) return undefined;
    const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
    const rss = rssBytes(rec.pid);
    const firstRss = st.first_rss_bytes ?? null;
    if (rss !== null && firstRss && rss > growth * firstRss) return `its RSS grew to ${mib(rss)}, past ${growth} × the ${mib(firstRss)} after its first run (trainer.residentMemoryGrowth)`;
    const gpu = st.gpu_reserved_bytes ?? null;
    const firstGpu = st.first_gpu_reserved_bytes ?? null;
    if (gpu !== null && firstGpu && gpu > growth * firstGpu) return `its reserved GPU memory grew to ${mib(gpu)}, past ${growth} × the ${mib(firstGpu)} after its first run (trainer.residentMemoryGrowth)`;
    return undefined;
  }

  private start(argv: readonly string[], env: NodeJS.ProcessEnv, key: string, baseModel: string): ResidentRecord | undefined {
    this.killStrays();
    const dir = residentDir(this.root);
    mkdirSync(dir, { recursive: true });
    for (const f of [statsPath(this.root), join(this.root, RESIDENT_SOCKET)]) {
      try { unlinkSync(f); } catch { /* none */ }
    }
    let pid: number | undefined;
    try {
      pid = spawnDetached(argv[0]!, [...argv.slice(1), '--resident', RESIDENT_SOCKET], { cwd: this.root, env: { ...env, [RESIDENT_MARK]: this.root }, logPath: join(dir, 'trainer.log') }, (end) => {
        if (pid === undefined || pid === this.killedPid) return;
        const how = end.notStarted ?? (end.signal ? `killed by ${end.signal}` : `exit code ${end.code}`);
        this.log.warn(`resident trainer pid ${pid} ended (${how}); see resident/trainer.log`);
      });
    } catch (e) {
      this.log.error(`cannot start the resident trainer: ${(e as Error).message}; this run starts cold`);
      return undefined;
    }
    const startTime = pid === undefined ? undefined : processStartTime(pid);
    if (pid === undefined || startTime === undefined) {
      this.log.error(`the resident trainer did not start (${argv.join(' ')} --resident ${RESIDENT_SOCKET}); this run starts cold`);
      return undefined;
    }
    const rec: ResidentRecord = { pid, startTime, startedAt: new Date().toISOString(), key, baseModel, runs: 0 };
    writeJsonAtomic(recordPath(this.root), rec);
    this.record = rec;
    this.log.info(`resident trainer started as pid ${pid} (base model ${baseModel}): ${argv.join(' ')} --resident ${RESIDENT_SOCKET}`);
    return rec;
  }

  /** Processes with this root's mark that are not the recorded one (an engine died between the spawn and resident.json). */
  private killStrays(): void {
    for (const p of residentProcesses(this.root)) {
      if (this.record && p.pid === this.record.pid) continue;
      if (procStat(p.pid)?.startTime !== p.startTime) continue;
      try {
        process.kill(p.pid, 'SIGKILL');
        this.log.warn(`a resident trainer pid ${p.pid} of this queue root that resident/resident.json does not name: killed (never two)`);
      } catch { /* gone */ }
    }
  }

  private forget(): void {
    this.record = undefined;
    try { unlinkSync(recordPath(this.root)); } catch { /* none */ }
  }
}
