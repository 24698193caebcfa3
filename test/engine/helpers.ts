/** Workspaces, engine subprocesses and inventories for the engine tests. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(__dirname, '..', '..', '..');
/** The reference trainer's Python and the tiny model the tests build locally (scripts/setup-python.sh, make_tiny_model.py). */
export const PYTHON = join(REPO, '.venv', 'bin', 'python');
export const MODEL = join(REPO, '.cache', 'tiny-model');
/** Why the real trainer cannot run here, or false. */
export const realTrainerMissing: string | false = !existsSync(PYTHON) ? 'no .venv: run bash scripts/setup-python.sh'
  : !existsSync(join(MODEL, 'model.safetensors')) ? 'no tiny model: run .venv/bin/python scripts/make_tiny_model.py .cache/tiny-model'
  : false;
export const LAUNCHER = join(__dirname, 'launcher.js');
export const DOUBLE = join(REPO, 'test', 'engine', 'fixtures', 'trainer-double.mjs');

export const GOOD = (i: number | string): string => `{"messages":[{"role":"user","content":"Hi ${i}"},{"role":"assistant","content":"Hello ${i}"}]}\n`;
export const BAD = '{"messages":[{"role":"user","content":"Hi"},{"role":"asistant","content":"Hello"}]}\n';

export interface Workspace {
  readonly dir: string;
  readonly config: string;
  readonly root: string;
  readonly inputs: Map<string, string>;
}

const tempDirs: string[] = [];

/** A temporary folder, removed by removeTempDirs() (kept when LQ_KEEP_TEST_DIRS is set, to debug). */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

export function removeTempDirs(): void {
  if (process.env['LQ_KEEP_TEST_DIRS']) return;
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export function makeWorkspace(overrides: { trainer?: Record<string, unknown>; queue?: Record<string, unknown>; env?: Record<string, string>; disk?: Record<string, unknown>; gpu?: Record<string, unknown>; snapshots?: Record<string, unknown> } = {}): Workspace {
  const dir = tempDir('lq-engine-');
  const model = join(dir, 'model');
  mkdirSync(model);
  writeFileSync(join(model, 'config.json'), '{}\n');
  writeFileSync(join(model, 'tokenizer.json'), '{}\n');
  writeFakeBaseModel(model);
  const config = {
    baseModel: 'model',
    trainer: { command: [process.execPath, DOUBLE], hangTimeoutSeconds: 60, stopGraceSeconds: 5, env: { TRAINER_DOUBLE_MODE: 'success', ...overrides.env }, ...overrides.trainer },
    queue: { maxAttempts: 2, retryBackoffSeconds: 0, intakeStableSeconds: 0, ...overrides.queue },
    // The tests must not depend on the free space of the machine they run on (resources.test.ts sets these).
    disk: { minFreeGiB: 0, resumeFreeGiB: 0, minFreeInodes: 0, ...overrides.disk },
    ...(overrides.gpu && { gpu: overrides.gpu }),
    ...(overrides.snapshots && { snapshots: overrides.snapshots }),
  };
  writeFileSync(join(dir, 'lora-queue.json'), JSON.stringify(config, null, 2) + '\n');
  const root = join(dir, '.lora-queue');
  return { dir, config: join(dir, 'lora-queue.json'), root, inputs: new Map() };
}

export function sha(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Drops a dataset into the inbox the safe way (written aside, renamed in); remembers its hash. */
export function drop(ws: Workspace, name: string, content: string): void {
  mkdirSync(join(ws.root, 'inbox'), { recursive: true });
  const tmp = join(ws.root, 'inbox', `.${Math.random().toString(36).slice(2)}.tmp`);
  writeFileSync(tmp, content);
  renameSync(tmp, join(ws.root, 'inbox', name));
  ws.inputs.set(sha(content), name);
}

export interface Daemon {
  readonly child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

export function startDaemon(ws: Workspace, extraArgs: readonly string[] = []): Daemon {
  const child = spawn(process.execPath, [LAUNCHER, 'daemon', '--config', ws.config, ...extraArgs], { cwd: ws.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  return { child, output: () => out, exited };
}

export async function stopDaemon(d: Daemon): Promise<void> {
  if (d.child.exitCode !== null || d.child.signalCode !== null) return;
  d.child.kill('SIGTERM');
  await d.exited;
}

export function lq(ws: Workspace, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [LAUNCHER, args[0]!, '--config', ws.config, ...args.slice(1)], { cwd: ws.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', rej);
    p.on('close', (code) => res({ code: code ?? -1, stdout, stderr }));
  });
}

/** Polls `check` until it returns a value other than undefined/false; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = 60_000, diag?: () => string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let v: T | undefined | false;
    try {
      v = check();
    } catch {
      v = undefined;
    }
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}${diag ? `\n${diag()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function datasets(ws: Workspace, folder: string): string[] {
  try {
    return readdirSync(join(ws.root, folder)).filter((n) => !n.startsWith('.') && n.endsWith('.jsonl')).sort();
  } catch {
    return [];
  }
}

export function readJson<T = Record<string, unknown>>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export function state(ws: Workspace): { paused: boolean; current: unknown; history: { runId: string; dataset: string; kind: string; outcome: string }[]; results: { id: string; ok: boolean; message: string }[]; applied: string[] } {
  return readJson(join(ws.root, 'state.json'));
}

/**
 * Nothing lost, nothing doubled: every dataset given to the queue is in exactly one of the
 * folders, byte for byte (sha256), and no other dataset file is there.
 */
export function assertInventory(ws: Workspace, extraInboxAllowed: string[] = []): void {
  const seen = new Map<string, string[]>();
  for (const f of ['inbox', 'queue', 'processing', 'done', 'failed']) {
    for (const n of datasets(ws, f)) {
      if (f === 'inbox' && extraInboxAllowed.includes(n)) continue;
      const h = sha(readFileSync(join(ws.root, f, n)));
      seen.set(h, [...(seen.get(h) ?? []), `${f}/${n}`]);
    }
  }
  for (const [h, name] of ws.inputs) {
    const where = seen.get(h) ?? [];
    assert.equal(where.length, 1, `${name} should be in exactly one place, found in: ${JSON.stringify(where)}`);
  }
  for (const [h, where] of seen) assert.ok(ws.inputs.has(h), `unexpected dataset ${JSON.stringify(where)}`);
}

export function runDirs(ws: Workspace): string[] {
  try {
    return readdirSync(join(ws.root, 'runs')).sort();
  } catch {
    return [];
  }
}

export function events(ws: Workspace, runId: string): { type: string; [k: string]: unknown }[] {
  const p = join(ws.root, 'runs', runId, 'events.jsonl');
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string });
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /.test(st);
  } catch {
    return false;
  }
}

/** Stops the daemons and any trainer double still running from this workspace (only ours, by pid). */
export async function cleanup(ws: Workspace, daemons: Daemon[]): Promise<void> {
  for (const d of daemons) await stopDaemon(d);
  for (const r of runDirs(ws)) {
    const f = join(ws.root, 'runs', r, 'double.json');
    if (!existsSync(f)) continue;
    const pid = readJson<{ pid: number }>(f).pid;
    if (alive(pid)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
    }
  }
}

export function doublePid(ws: Workspace, runId: string): number | undefined {
  const f = join(ws.root, 'runs', runId, 'double.json');
  return existsSync(f) ? readJson<{ pid: number }>(f).pid : undefined;
}

export function lastStep(ws: Workspace, runId: string): number {
  const steps = events(ws, runId).filter((e) => e.type === 'step');
  return (steps[steps.length - 1]?.['step'] as number | undefined) ?? 0;
}

/** A safetensors file of zero-filled F32 tensors (name → shape): 8-byte LE header length, JSON header, data. */
export function writeSafetensors(file: string, tensors: Record<string, number[]>): void {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [name, shape] of Object.entries(tensors)) {
    const bytes = shape.reduce((a, d) => a * d, 1) * 4;
    header[name] = { dtype: 'F32', shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let h = JSON.stringify(header);
  h += ' '.repeat((8 - (h.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(h)));
  writeFileSync(file, Buffer.concat([len, Buffer.from(h), Buffer.alloc(off)]));
}

/** The modules of the fake base model every workspace gets (the trainer double's adapters fit them). */
export const FAKE_BASE_WEIGHTS: Record<string, number[]> = {
  'model.embed_tokens.weight': [128, 64],
  'model.layers.0.self_attn.q_proj.weight': [64, 64],
  'model.layers.0.self_attn.k_proj.weight': [32, 64],
  'model.layers.0.self_attn.v_proj.weight': [32, 64],
  'model.layers.0.mlp.up_proj.weight': [96, 64],
  'model.norm.weight': [64],
  'lm_head.weight': [128, 64],
};

/** Gives a base model folder a config.json and a model.safetensors listing FAKE_BASE_WEIGHTS. */
export function writeFakeBaseModel(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'llama', hidden_size: 64, num_hidden_layers: 1 }) + '\n');
  writeSafetensors(join(dir, 'model.safetensors'), FAKE_BASE_WEIGHTS);
}
