/**
 * Resource checks before each run: free space, free inodes and writability of the queue root's
 * filesystem, and, where `nvidia-smi` is on PATH, the GPU (present, enough free memory, uncorrected
 * ECC errors not rising between runs). A failed check pauses the queue with a clear reason instead
 * of failing the dataset; a pause for a resource that can come back (space, inodes, writability, a
 * GPU that is missing or busy) is re-checked every `disk.recheckSeconds` (and at once after a config
 * change) and lifted by itself once the resource is back; free space must then reach
 * `disk.resumeFreeGiB` (hysteresis). A rise in ECC errors pauses until a person resumes.
 * Design: docs/engine.md, "Resources".
 */
import { spawnSync } from 'node:child_process';
import { closeSync, fsyncSync, openSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Config } from '../config/schema';
import { liftsItself, RESOURCE_PAUSE_PREFIX } from '../../../common/pause';
import type { PauseStep } from './transitions';
import type { EngineState } from './types';

/** Pause reasons of the kinds the engine lifts itself start with this (the kind decides, not the text). */
export { RESOURCE_PAUSE_PREFIX };

const GIB = 1024 ** 3;

/** Paused for a resource the engine re-checks and lifts the pause for by itself (kinds `disk`, `gpu`). */
export function isResourcePause(state: Pick<EngineState, 'pause'>): boolean {
  return liftsItself(state.pause);
}

/**
 * What a resource check asks of the queue: pause (or change why), resume, or nothing (undefined).
 * The gate decides; the engine applies and saves it (Engine.change with withPauseStep).
 */
export type GateStep = PauseStep;

/** The kind of a resource pause for a transient problem: the GPU's, or the disk's (space, inodes, writability). */
function resourceKind(problem: string): 'gpu' | 'disk' {
  return /^(GPU \d|the GPU check failed|no GPU found)/.test(problem) ? 'gpu' : 'disk';
}

export interface DiskFacts {
  /** Bytes available to an unprivileged writer (bavail × bsize). */
  readonly freeBytes: number;
  /** Free inodes; null where the filesystem does not count them (files = 0, as btrfs reports). */
  readonly freeInodes: number | null;
}

export function diskFacts(dir: string): DiskFacts {
  const s = statfsSync(dir);
  return { freeBytes: Number(s.bavail) * Number(s.bsize), freeInodes: Number(s.files) > 0 ? Number(s.ffree) : null };
}

function gib(bytes: number): string {
  return `${(bytes / GIB).toFixed(bytes < GIB ? 3 : 1)} GiB`;
}

/**
 * The disk problem, or undefined. `resuming`: the queue is paused for resources, so free space must
 * reach disk.resumeFreeGiB (at least minFreeGiB) rather than minFreeGiB.
 */
export function diskProblem(f: DiskFacts, disk: Config['disk'], resuming: boolean): string | undefined {
  const needGiB = resuming ? Math.max(disk.resumeFreeGiB, disk.minFreeGiB) : disk.minFreeGiB;
  const key = resuming && disk.resumeFreeGiB > disk.minFreeGiB ? 'disk.resumeFreeGiB' : 'disk.minFreeGiB';
  if (f.freeBytes < needGiB * GIB) return `free space on the queue root's filesystem is ${gib(f.freeBytes)}, below ${key} = ${needGiB} GiB`;
  if (f.freeInodes !== null && f.freeInodes < disk.minFreeInodes) return `free inodes on the queue root's filesystem: ${f.freeInodes}, below disk.minFreeInodes = ${disk.minFreeInodes}`;
  return undefined;
}

/** Creates, writes, fsyncs and deletes a probe file in `dir`; the error, or undefined. */
export function writeProbe(dir: string): string | undefined {
  const f = join(dir, `.probe-${process.pid}-${Math.random().toString(36).slice(2, 8)}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(f, 'wx', 0o644);
    writeSync(fd, 'probe\n');
    fsyncSync(fd);
    return undefined;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return `the queue root is not writable (${err.code ?? err.message})`;
  } finally {
    if (fd !== undefined) closeSync(fd);
    try { unlinkSync(f); } catch { /* never created */ }
  }
}

// ---- GPU -------------------------------------------------------------------------------------

export const NVIDIA_SMI_ARGS = ['--query-gpu=index,name,memory.free,memory.total,ecc.errors.uncorrected.volatile.total', '--format=csv,noheader,nounits'] as const;

export interface GpuInfo {
  readonly index: number;
  readonly name: string;
  /** MiB; null when nvidia-smi says [N/A] or the value is not a number. */
  readonly memoryFreeMiB: number | null;
  readonly memoryTotalMiB: number | null;
  /** Uncorrected volatile ECC errors; null when ECC is off or not reported ([N/A], [Not Supported]). */
  readonly eccUncorrected: number | null;
}

function field(v: string | undefined): number | null {
  if (v === undefined) return null;
  const t = v.trim();
  if (!/^\d+(\.\d+)?$/.test(t)) return null;
  return Number(t);
}

/** Parses the CSV of NVIDIA_SMI_ARGS. Lines that do not look like a GPU row are skipped. */
export function parseNvidiaSmi(csv: string): GpuInfo[] {
  const gpus: GpuInfo[] = [];
  for (const raw of csv.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    const parts = line.split(',').map((s) => s.trim());
    if (parts.length < 5) continue;
    const index = field(parts[0]);
    if (index === null || !Number.isInteger(index)) continue;
    // A name may itself hold a comma: the last three fields are the numbers.
    const name = parts.slice(1, parts.length - 3).join(', ');
    gpus.push({ index, name, memoryFreeMiB: field(parts[parts.length - 3]), memoryTotalMiB: field(parts[parts.length - 2]), eccUncorrected: field(parts[parts.length - 1]) });
  }
  return gpus;
}

export type GpuQuery = { readonly kind: 'absent' } | { readonly kind: 'ok'; readonly stdout: string } | { readonly kind: 'failed'; readonly why: string };

/** Runs nvidia-smi (argument array, no shell, with a timeout); `absent` when it is not on PATH. */
export function queryNvidiaSmi(env: NodeJS.ProcessEnv = process.env, timeoutMs = 15_000): GpuQuery {
  const r = spawnSync('nvidia-smi', [...NVIDIA_SMI_ARGS], { env, timeout: timeoutMs, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1024 * 1024 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'absent' };
    if (code === 'ETIMEDOUT') return { kind: 'failed', why: `nvidia-smi did not answer within ${Math.round(timeoutMs / 1000)} s` };
    return { kind: 'failed', why: `nvidia-smi could not be run (${code ?? r.error.message})` };
  }
  if (r.signal) return { kind: 'failed', why: `nvidia-smi was killed by ${r.signal}` };
  if (r.status !== 0) {
    const msg = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim().split('\n').filter(Boolean).slice(-1)[0] ?? '';
    return { kind: 'failed', why: `nvidia-smi exited with code ${r.status}${msg ? `: ${msg.slice(0, 200)}` : ''}` };
  }
  return { kind: 'ok', stdout: r.stdout ?? '' };
}

export interface GpuVerdict {
  /** A problem that can clear by itself (no GPU, busy GPU): the queue resumes when it does. */
  readonly transient?: string;
  /** A problem a person must look at (rising ECC errors): the queue stays paused until resume. */
  readonly fatal?: string;
  /** ECC counts to compare with next time (index → count). */
  readonly ecc: ReadonlyMap<number, number>;
}

/**
 * Judges an nvidia-smi answer. `visible`: CUDA_VISIBLE_DEVICES as numeric indices, when set so;
 * only those GPUs are checked.
 */
export function judgeGpus(q: GpuQuery, opts: { minFreeMiB: number; previousEcc: ReadonlyMap<number, number>; visible?: readonly number[] | undefined }): GpuVerdict {
  const ecc = new Map(opts.previousEcc);
  if (q.kind === 'absent') return { ecc };
  if (q.kind === 'failed') return { transient: `the GPU check failed: ${q.why}`, ecc };
  let gpus = parseNvidiaSmi(q.stdout);
  if (opts.visible) gpus = gpus.filter((g) => opts.visible!.includes(g.index));
  if (!gpus.length) {
    const said = q.stdout.trim().split('\n')[0]?.slice(0, 200);
    return { transient: `no GPU found by nvidia-smi${said ? ` (it said: ${said})` : ''}`, ecc };
  }
  const rising: string[] = [];
  for (const g of gpus) {
    if (g.eccUncorrected === null) continue;
    const before = opts.previousEcc.get(g.index);
    if (before !== undefined && g.eccUncorrected > before) rising.push(`GPU ${g.index} (${g.name}): uncorrected ECC errors rose from ${before} to ${g.eccUncorrected} since the last check`);
    ecc.set(g.index, g.eccUncorrected);
  }
  if (rising.length) return { fatal: `${rising.join('; ')} (check the GPU, then resume)`, ecc };
  if (opts.minFreeMiB > 0) {
    const low = gpus.filter((g) => g.memoryFreeMiB !== null && g.memoryFreeMiB < opts.minFreeMiB);
    if (low.length) return { transient: low.map((g) => `GPU ${g.index} (${g.name}) has ${g.memoryFreeMiB} MiB free, below gpu.minFreeMiB = ${opts.minFreeMiB}`).join('; '), ecc };
  }
  return { ecc };
}

/** CUDA_VISIBLE_DEVICES as indices; undefined when unset or not plain indices (UUIDs, MIG). */
export function visibleIndices(v: string | undefined): number[] | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  const parts = v.split(',').map((s) => s.trim());
  if (!parts.every((p) => /^\d+$/.test(p))) return undefined;
  return parts.map(Number);
}

// ---- the gate ---------------------------------------------------------------------------------

export interface CheckResult {
  /** undefined when everything is fine. */
  readonly problem?: string;
  /** The problem clears by itself (the queue resumes by itself). */
  readonly transient: boolean;
}

export interface ResourceEnv {
  readonly root: string;
  readonly config: Config;
  /** The trainer's environment (PATH for nvidia-smi, CUDA_VISIBLE_DEVICES). */
  readonly env: NodeJS.ProcessEnv;
  readonly log: { info(m: string): void; warn(m: string): void };
}

/**
 * Holds what the checks need between runs (the ECC counts) and when to check again while paused.
 * The engine calls `beforeRun` right before starting a run and `whilePaused` on every tick.
 */
export class ResourceGate {
  private ecc = new Map<number, number>();
  private lastCheck = -Infinity;
  private lastConfig: Config | undefined;
  private lastProblem: string | undefined;
  /** For tests and the status: the outcome of the last check. */
  last: CheckResult | undefined;

  check(e: ResourceEnv, resuming: boolean): CheckResult {
    this.lastCheck = performance.now();
    this.lastConfig = e.config;
    const r = this.run(e, resuming);
    this.last = r;
    return r;
  }

  private run(e: ResourceEnv, resuming: boolean): CheckResult {
    let facts: DiskFacts;
    try {
      facts = diskFacts(e.root);
    } catch (err) {
      return { problem: `cannot read the free space of the queue root (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, transient: true };
    }
    const disk = diskProblem(facts, e.config.disk, resuming);
    if (disk) return { problem: disk, transient: true };
    const probe = writeProbe(e.root);
    if (probe) return { problem: probe, transient: true };
    // With Slurm the job runs on a compute node: the login node's GPUs say nothing about it, and
    // the trainer reports gpu_unavailable from inside the job (docs/slurm.md).
    if (e.config.executor.kind === 'slurm') return { transient: true };
    const env = e.env;
    const v = judgeGpus(queryNvidiaSmi(env, e.config.gpu.queryTimeoutSeconds * 1000), { minFreeMiB: e.config.gpu.minFreeMiB, previousEcc: this.ecc, visible: visibleIndices(env['CUDA_VISIBLE_DEVICES']) });
    // The new counts become the baseline: after a person resumes, only a further rise pauses again.
    this.ecc = new Map(v.ecc);
    if (v.fatal) return { problem: v.fatal, transient: false };
    if (v.transient) return { problem: v.transient, transient: true };
    return { transient: true };
  }

  /**
   * Right before a run: the pause to apply when a resource is short, or undefined when the run may
   * start.
   */
  beforeRun(e: ResourceEnv): GateStep | undefined {
    const r = this.check(e, false);
    if (!r.problem) {
      this.lastProblem = undefined;
      return undefined;
    }
    e.log.warn(`not starting a run: ${r.problem}; the queue is paused${r.transient ? ' until the resource is back' : ' until resume'}`);
    this.lastProblem = r.problem;
    return { pause: r.transient ? { kind: resourceKind(r.problem), reason: `${RESOURCE_PAUSE_PREFIX}${r.problem} (checked again every ${e.config.disk.recheckSeconds} s; the queue resumes by itself)` } : { kind: 'gpuError', reason: `GPU error: ${r.problem}` } };
  }

  /**
   * On every tick: while the queue is paused for resources (and nothing runs), checks again every
   * disk.recheckSeconds, or at once when the config changed; returns the step to apply when the
   * pause is lifted (or its reason changed), undefined otherwise.
   */
  whilePaused(e: ResourceEnv, state: Pick<EngineState, 'pause' | 'current'>): GateStep | undefined {
    if (!isResourcePause(state) || state.current) return undefined;
    const due = e.config !== this.lastConfig || performance.now() - this.lastCheck >= e.config.disk.recheckSeconds * 1000;
    if (!due) return undefined;
    const r = this.check(e, true);
    if (!r.problem) {
      const why = state.pause?.reason ?? '';
      e.log.info(`resources are back (the queue was paused because ${why.startsWith(RESOURCE_PAUSE_PREFIX) ? why.slice(RESOURCE_PAUSE_PREFIX.length) : why}): the queue resumes`);
      this.lastProblem = undefined;
      return { resume: true };
    }
    if (!r.transient) {
      e.log.warn(`paused for resources, and now: ${r.problem}; the queue stays paused until resume`);
      return { pause: { kind: 'gpuError', reason: `GPU error: ${r.problem}` } };
    }
    // Compared without its numbers: free space changes on every check, the reason does not.
    const shape = (t: string | undefined): string | undefined => t?.replace(/\d+(\.\d+)?/g, '#');
    if (shape(r.problem) !== shape(this.lastProblem)) {
      this.lastProblem = r.problem;
      e.log.info(`still waiting for resources: ${r.problem}`);
      return { pause: { kind: resourceKind(r.problem), reason: `${RESOURCE_PAUSE_PREFIX}${r.problem} (checked again every ${e.config.disk.recheckSeconds} s; the queue resumes by itself)` } };
    }
    return undefined;
  }
}

export { saysDiskFull } from './classify';
