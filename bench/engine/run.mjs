#!/usr/bin/env node
// The engine's latencies and idle cost, measured on the real daemon (`node bin/lora-queue.js
// daemon`) with the trainer double as the trainer (wrapped by stamp-trainer.mjs, which records
// when each trainer process started and exited).
//
//   node bench/engine/run.mjs [--reps 20] [--chain 20] [--idle-seconds 60] [--queued 10000]
//                             [--status-reps 10] [--chain-queued 10] [--json OUT] [--keep]
//                             [--cli PATH (another checkout's bin/lora-queue.js, to compare)]
//
// (a) rename into inbox/ -> trainer start: a dataset written aside and renamed into the inbox of an
//     idle engine; latency = the trainer's performance.timeOrigin - the moment before rename(2).
//     The engine logs how long its validation took; "beyond validation" = latency - validation.
//     Between repetitions a random pause of 200-700 ms, so the renames land at any phase of the
//     engine's 500 ms tick.
// (b) trainer exit -> next trainer start: a paused queue of --chain datasets is resumed; for each
//     consecutive pair, the next trainer's timeOrigin - the previous one's exit (its 'exit' handler).
//     Again with --queued datasets waiting (--chain-queued runs).
// (c) idle engine: CPU % (utime + stime from /proc/<pid>/stat over --idle-seconds) and RSS
//     (VmRSS, VmHWM), with an empty queue, then with --queued datasets queued (paused).
// (d) `lora-queue status` and `status --format json` with --queued datasets queued: wall time of
//     the whole command (Node start-up included, as a user pays it).
// Baselines, measured in the same run: the bare spawn of the same trainer wrapper by this script
// (spawn -> its timeOrigin) for (a) and (b); a bare `node` process with a 500 ms interval timer for
// (c), measured at the same time; `node -e 0`, `node bin/lora-queue.js --help` and a readdir of
// queue/ (`ls -f`) for (d).
//
// The --queued datasets go through the real intake (written aside, renamed into the inbox of the
// paused engine), which also gives the intake throughput. Needs `node scripts/build.mjs`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { summary } from './stats.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const STAMP = join(ROOT, 'bench', 'engine', 'stamp-trainer.mjs');
const { values: opt } = parseArgs({
  options: {
    reps: { type: 'string', default: '20' },
    chain: { type: 'string', default: '20' },
    'chain-queued': { type: 'string', default: '10' },
    'idle-seconds': { type: 'string', default: '60' },
    queued: { type: 'string', default: '10000' },
    'status-reps': { type: 'string', default: '10' },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
    cli: { type: 'string' },
  },
});
const BIN = opt.cli ?? join(ROOT, 'bin', 'lora-queue.js');
const REPS = Number(opt.reps);
const CHAIN = Number(opt.chain);
const CHAIN_QUEUED = Number(opt['chain-queued']);
const IDLE_S = Number(opt['idle-seconds']);
const QUEUED = Number(opt.queued);
const STATUS_REPS = Number(opt['status-reps']);

const CHECKOUT = join(dirname(BIN), '..');
if (!existsSync(join(CHECKOUT, 'dist', 'cli.js'))) {
  console.error(`${join(CHECKOUT, 'dist', 'cli.js')} is missing: run \`node scripts/build.mjs\` first`);
  process.exit(2);
}
const newest = (dir) => Math.max(...readdirSync(dir).map((n) => statSync(join(dir, n)).mtimeMs));
if (newest(join(CHECKOUT, 'server', 'src', 'engine')) > statSync(join(CHECKOUT, 'dist', 'cli.js')).mtimeMs) console.error('warning: server/src/engine is newer than dist/cli.js: rebuild (node scripts/build.mjs) to measure the current code');

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const GOOD = (i) => `{"messages":[{"role":"user","content":"Hello ${i}"},{"role":"assistant","content":"Hi there, ${i}!"}]}\n`;
const load = () => loadavg().map((x) => Number(x.toFixed(2)));

const r1 = (x) => (x === null || x === undefined ? null : Math.round(x * 10) / 10);

// ---- workspace and daemon -------------------------------------------------------------------
function writeSafetensors(file, tensors) {
  const header = {};
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

function makeWorkspace() {
  const dir = mkdtempSync(join(tmpdir(), 'lq-bench-engine-'));
  const model = join(dir, 'model');
  mkdirSync(model);
  writeFileSync(join(model, 'config.json'), JSON.stringify({ model_type: 'llama', hidden_size: 64, num_hidden_layers: 1 }) + '\n');
  writeFileSync(join(model, 'tokenizer.json'), '{}\n');
  writeSafetensors(join(model, 'model.safetensors'), {
    'model.embed_tokens.weight': [128, 64], 'model.layers.0.self_attn.q_proj.weight': [64, 64], 'model.layers.0.self_attn.v_proj.weight': [32, 64], 'lm_head.weight': [128, 64],
  });
  const config = {
    baseModel: 'model',
    trainer: { command: [process.execPath, STAMP], env: { TRAINER_DOUBLE_MODE: 'success', TRAINER_DOUBLE_STEPS: '3', TRAINER_DOUBLE_STEP_MS: '5', TRAINER_DOUBLE_CHECKPOINT_EVERY: '100' } },
    queue: { intakeStableSeconds: 2 },
    // The machine's free space must not pause the queue during a benchmark.
    disk: { minFreeGiB: 0, resumeFreeGiB: 0, minFreeInodes: 0 },
  };
  writeFileSync(join(dir, 'lora-queue.json'), JSON.stringify(config, null, 2) + '\n');
  return { dir, config: join(dir, 'lora-queue.json'), root: join(dir, '.lora-queue') };
}

function startDaemon(ws) {
  const child = spawn(process.execPath, [BIN, 'daemon', '--config', ws.config], { cwd: ws.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const d = { child, out: '' };
  child.stdout.on('data', (b) => (d.out += b));
  child.stderr.on('data', (b) => (d.out += b));
  d.exited = new Promise((res) => child.on('exit', res));
  return d;
}

function lq(ws, args) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, args[0], '--config', ws.config, ...args.slice(1)], { cwd: ws.dir, encoding: 'utf8', maxBuffer: 256 << 20 });
  return { ms: performance.now() - t0, code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function waitFor(what, check, timeoutMs = 120_000, every = 10) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

const datasets = (ws, folder) => {
  try {
    return readdirSync(join(ws.root, folder)).filter((n) => !n.startsWith('.') && n.endsWith('.jsonl'));
  } catch {
    return [];
  }
};
const readJson = (p) => JSON.parse(readFileSync(p, 'utf8'));
const stateOf = (ws) => readJson(join(ws.root, 'state.json'));

/** Writes a dataset aside (a dotfile in the inbox) and renames it in; returns the time just before the rename. */
function drop(ws, name, content) {
  const tmp = join(ws.root, 'inbox', `.${name}.tmp`);
  writeFileSync(tmp, content);
  const t = now();
  renameSync(tmp, join(ws.root, 'inbox', name));
  return t;
}

/** The run of a dataset: its run folder, once its trainer has exited (stamps.json written). */
function runOf(ws, dataset) {
  for (const id of readdirSync(join(ws.root, 'runs'))) {
    try {
      const job = readJson(join(ws.root, 'runs', id, 'job.json'));
      if (job.dataset.endsWith(`/${dataset}`) && existsSync(join(ws.root, 'runs', id, 'stamps.json'))) return { id, stamps: readJson(join(ws.root, 'runs', id, 'stamps.json')) };
    } catch {
      // being written
    }
  }
  return undefined;
}

const settled = (ws) => {
  try {
    return !stateOf(ws).current;
  } catch {
    return false;
  }
};

/**
 * What the engine logged about a run: at its end [settled ms, snapshot ms], at its start [queued,
 * picked ms, prepared and spawned ms], and when it wrote those lines (the log's ms timestamps).
 */
function logged(out, runId) {
  const end = new RegExp(`^(\\S+) .*run ${runId} \\(.*ended: .*\\[settled in ([\\d.]+) ms, snapshot ([\\d.]+) ms\\]`, 'm').exec(out);
  const start = new RegExp(`^(\\S+) .*run ${runId}: .*started as pid .*\\[picked from (\\d+) queued in ([\\d.]+) ms, prepared and spawned in ([\\d.]+) ms\\]`, 'm').exec(out);
  return {
    endLogAt: end ? Date.parse(end[1]) : null, settleMs: end ? Number(end[2]) : null, snapshotMs: end ? Number(end[3]) : null,
    startLogAt: start ? Date.parse(start[1]) : null, queued: start ? Number(start[2]) : null, pickMs: start ? Number(start[3]) : null, spawnMs: start ? Number(start[4]) : null,
  };
}

/** When the exit recorder wrote runs/<id>/exit.json (its endedAt), if there is one. */
function recordedEnd(ws, runId) {
  try {
    return Date.parse(readJson(join(ws.root, 'runs', runId, 'exit.json')).endedAt);
  } catch {
    return null;
  }
}

const diffs = (xs) => summary(xs.filter((x) => Number.isFinite(x)));
/** a - b, or NaN when either is unknown (a line the log did not have yet). */
const sub = (a, b) => (a === null || a === undefined || b === null || b === undefined ? NaN : a - b);

async function bareSpawn() {
  const out = join(tmpdir(), `lq-bench-stamp-${process.pid}.json`);
  const t0 = now();
  const child = spawn(process.execPath, [STAMP], { env: { ...process.env, STAMP_OUT: out }, stdio: 'ignore' });
  await new Promise((r) => child.on('exit', r));
  const s = readJson(out);
  rmSync(out, { force: true });
  return s.startedAt - t0;
}

// ---- /proc ------------------------------------------------------------------------------------
const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
function cpuTicks(pid) {
  const t = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
}
function memKiB(pid) {
  const t = readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k) => Number(new RegExp(`^${k}:\\s*(\\d+) kB`, 'm').exec(t)?.[1] ?? NaN);
  return { rss: get('VmRSS'), hwm: get('VmHWM') };
}

async function idle(pids, seconds) {
  const before = pids.map(cpuTicks);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const wall = (performance.now() - t0) / 1000;
  return pids.map((pid, i) => {
    const m = memKiB(pid);
    return { cpuPercent: (100 * (cpuTicks(pid) - before[i])) / TICKS / wall, cpuSeconds: (cpuTicks(pid) - before[i]) / TICKS, wallSeconds: wall, rssMiB: m.rss / 1024, peakRssMiB: m.hwm / 1024 };
  });
}

function bareIdleNode() {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 500)'], { stdio: 'ignore' });
}

// ---- the phases -------------------------------------------------------------------------------
const results = {
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, memGiB: Number((totalmem() / 2 ** 30).toFixed(1)), node: process.version, date: new Date().toISOString() },
  cli: BIN,
  options: { reps: REPS, chain: CHAIN, chainQueued: CHAIN_QUEUED, idleSeconds: IDLE_S, queued: QUEUED, statusReps: STATUS_REPS, trainerSteps: 3 },
};
const ws = makeWorkspace();
const d = startDaemon(ws);
console.error(`workspace ${ws.dir}`);
try {
  await waitFor('the daemon to own the root', () => /owner of/.test(d.out), 30_000);
  await sleep(500);

  // (a) rename -> spawn, interleaved with the bare-spawn baseline.
  {
    const lat = [];
    const beyond = [];
    const validation = [];
    const admission = [];
    const base = [];
    const loads = [];
    const parts = { noticeAndAdmit: [], admittedToSpawnLog: [], spawnLogToTrainerStart: [] };
    for (let k = 0; k < REPS; k++) {
      base.push(await bareSpawn());
      await sleep(200 + Math.random() * 500);
      const name = `rename-${k}.jsonl`;
      const t = drop(ws, name, GOOD(k));
      const run = await waitFor(`${name} to run`, () => runOf(ws, name));
      await waitFor(`${name} to settle`, () => settled(ws) && datasets(ws, 'done').includes(name));
      const m = new RegExp(`inbox/${name.replace('.', '\\.')} → .*\\[admitted in ([\\d.]+) ms, validation ([\\d.]+) ms\\]`).exec(d.out);
      const ms = run.stamps.startedAt - t;
      lat.push(ms);
      // Where the time went, from the log's ms timestamps: the admission line is written once the
      // dataset is queued; the start line once the trainer was spawned and the state saved.
      const admitAt = new RegExp(`^(\\S+) .*inbox/${name.replace('.', '\\.')} → queued`, 'm').exec(d.out);
      const lg = logged(d.out, run.id);
      if (admitAt && lg.startLogAt) {
        parts.noticeAndAdmit.push(Date.parse(admitAt[1]) - t);
        parts.admittedToSpawnLog.push(lg.startLogAt - Date.parse(admitAt[1]));
        parts.spawnLogToTrainerStart.push(run.stamps.startedAt - lg.startLogAt);
      }
      if (m) {
        admission.push(Number(m[1]));
        validation.push(Number(m[2]));
        beyond.push(ms - Number(m[2]));
      }
      loads.push(load()[0]);
    }
    results.renameToSpawn = {
      latencyMs: summary(lat), beyondValidationMs: summary(beyond), validationMs: summary(validation), admissionMs: summary(admission), baselineBareSpawnMs: summary(base), load1: summary(loads),
      breakdownMs: Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, diffs(v)])),
    };
    console.error('(a) rename -> spawn done');
  }

  // (b) exit -> next spawn: a chain of runs.
  async function chain(count, label) {
    lq(ws, ['pause']);
    const names = [];
    for (let k = 0; k < count; k++) {
      const name = `${label}-${String(k).padStart(3, '0')}.jsonl`;
      drop(ws, name, GOOD(`${label}${k}`));
      names.push(name);
    }
    await waitFor(`${label}: all queued`, () => names.every((n) => datasets(ws, 'queue').includes(n)), 300_000, 50);
    const before = new Set(readdirSync(join(ws.root, 'runs')));
    const r = lq(ws, ['resume']);
    if (r.code !== 0) throw new Error(`resume: ${r.stderr}${r.stdout}`);
    const mine = () => readdirSync(join(ws.root, 'runs')).filter((id) => !before.has(id));
    await waitFor(`${label}: ${count} runs`, () => mine().length >= count && mine().slice(0, count).every((id) => existsSync(join(ws.root, 'runs', id, 'end.json'))), 600_000, 50);
    lq(ws, ['pause']);
    await waitFor(`${label}: settled`, () => settled(ws), 120_000, 50);
    const runs = mine().sort().map((id) => ({ id, stamps: readJson(join(ws.root, 'runs', id, 'stamps.json')), recordedAt: recordedEnd(ws, id), ...logged(d.out, id) }));
    runs.sort((a, b) => a.stamps.startedAt - b.stamps.startedAt);
    const gaps = [];
    const parts = { trainerExitToExitRecord: [], exitRecordToSettledLog: [], settledLogToSpawnLog: [], spawnLogToTrainerStart: [] };
    for (let k = 1; k < runs.length; k++) {
      const [p, n] = [runs[k - 1], runs[k]];
      gaps.push(n.stamps.startedAt - p.stamps.exitAt);
      parts.trainerExitToExitRecord.push(sub(p.recordedAt, p.stamps.exitAt));
      parts.exitRecordToSettledLog.push(sub(p.endLogAt, p.recordedAt ?? p.stamps.exitAt));
      parts.settledLogToSpawnLog.push(sub(n.startLogAt, p.endLogAt));
      parts.spawnLogToTrainerStart.push(sub(n.stamps.startedAt, n.startLogAt));
    }
    const base = [];
    for (let k = 0; k < 10; k++) base.push(await bareSpawn());
    return {
      gapMs: summary(gaps), settleMs: summary(runs.map((x) => x.settleMs).filter((x) => x !== null)), snapshotMs: summary(runs.map((x) => x.snapshotMs).filter((x) => x !== null)),
      pickMs: summary(runs.map((x) => x.pickMs).filter((x) => x !== null)), spawnMs: summary(runs.map((x) => x.spawnMs).filter((x) => x !== null)), queuedAtPick: summary(runs.map((x) => x.queued).filter((x) => x !== null)),
      baselineBareSpawnMs: summary(base), load1: load()[0],
      breakdownMs: Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, diffs(v)])),
    };
  }
  results.exitToSpawn = await chain(CHAIN + 1, 'chain');
  console.error('(b) exit -> spawn done');

  // (c) idle, empty queue (resumed: nothing to do), with a bare node process as the baseline.
  lq(ws, ['resume']);
  await sleep(2000);
  {
    const bare = bareIdleNode();
    await sleep(1000);
    const [eng, b] = await idle([d.child.pid, bare.pid], IDLE_S);
    bare.kill();
    results.idleEmpty = { engine: eng, baselineBareNode: b, load1: load() };
    console.error('(c) idle, empty queue done');
  }

  if (QUEUED > 0) {
    // The queue of QUEUED datasets, through the real intake of the paused engine.
    lq(ws, ['pause']);
    const t0 = performance.now();
    for (let k = 0; k < QUEUED; k++) drop(ws, `q-${String(k).padStart(5, '0')}.jsonl`, GOOD(`q${k}`));
    const written = performance.now() - t0;
    await waitFor(`${QUEUED} queued`, () => datasets(ws, 'queue').length >= QUEUED, 1_800_000, 1000);
    results.intake = { files: QUEUED, writeSeconds: written / 1000, intakeSeconds: (performance.now() - t0) / 1000, filesPerSecond: QUEUED / ((performance.now() - t0) / 1000), load1: load() };
    console.error(`intake of ${QUEUED}: ${results.intake.intakeSeconds.toFixed(1)} s`);
    await sleep(3000);

    // (c) idle, paused, QUEUED queued.
    {
      const bare = bareIdleNode();
      await sleep(1000);
      const [eng, b] = await idle([d.child.pid, bare.pid], IDLE_S);
      bare.kill();
      results.idleQueued = { queued: datasets(ws, 'queue').length, engine: eng, baselineBareNode: b, load1: load() };
      console.error('(c) idle, queued done');
    }

    // (d) status latency, alternating text / json / baselines.
    {
      const rows = { text: [], json: [], nodeStart: [], cliHelp: [], lsQueue: [] };
      let lines = 0;
      let bytes = 0;
      for (let k = 0; k < STATUS_REPS; k++) {
        const t = lq(ws, ['status']);
        if (t.code !== 0) throw new Error(`status: ${t.stderr}`);
        rows.text.push(t.ms);
        lines = t.stdout.split('\n').length;
        const j = lq(ws, ['status', '--format', 'json']);
        if (j.code !== 0) throw new Error(`status --format json: ${j.stderr}`);
        rows.json.push(j.ms);
        bytes = j.stdout.length;
        let s = performance.now();
        spawnSync(process.execPath, ['-e', '0']);
        rows.nodeStart.push(performance.now() - s);
        s = performance.now();
        spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
        rows.cliHelp.push(performance.now() - s);
        s = performance.now();
        spawnSync('ls', ['-f', join(ws.root, 'queue')], { encoding: 'utf8', maxBuffer: 64 << 20 });
        rows.lsQueue.push(performance.now() - s);
      }
      results.status = { queued: datasets(ws, 'queue').length, textLines: lines, jsonBytes: bytes, ...Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, summary(v)])), load1: load() };
      console.error('(d) status done');
    }

    // (b) again, with QUEUED datasets waiting behind the chain.
    if (CHAIN_QUEUED > 0) {
      results.exitToSpawnQueued = await chain(CHAIN_QUEUED + 1, 'qchain');
      console.error('(b) exit -> spawn with the queue done');
    }
  }
} finally {
  d.child.kill('SIGTERM');
  await d.exited;
  if (!opt.keep) rmSync(ws.dir, { recursive: true, force: true });
}

// ---- report -------------------------------------------------------------------------------------
const outFile = opt.json ?? join(ROOT, 'bench', 'out', `engine-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}Z.json`);
mkdirSync(dirname(outFile), { recursive: true });
writeFileSync(outFile, JSON.stringify(results, null, 2) + '\n');

const row = (what, s, base, note = '') => `| ${what} | ${r1(s?.median)} | ${r1(s?.p95)} | ${base ? r1(base.median) : '—'} | ${base && s ? `${(s.median / base.median).toFixed(1)}×` : '—'} | ${note} |`;
const out = ['| figure | median | p95 | baseline (median) | ratio | notes |', '|---|---:|---:|---:|---:|---|'];
const a = results.renameToSpawn;
out.push(row('(a) rename → trainer start, ms', a.latencyMs, a.baselineBareSpawnMs, `baseline: bare spawn → timeOrigin; load ${a.load1.median}`));
out.push(row('(a) … beyond validation, ms', a.beyondValidationMs, a.baselineBareSpawnMs, `validation ${r1(a.validationMs.median)} ms, whole admission ${r1(a.admissionMs.median)} ms`));
const b = results.exitToSpawn;
out.push(row('(b) trainer exit → next start, ms', b.gapMs, b.baselineBareSpawnMs, `settle ${r1(b.settleMs.median)} (snapshot ${r1(b.snapshotMs.median)}), pick ${r1(b.pickMs.median)}, prepare+spawn ${r1(b.spawnMs.median)}; load ${b.load1}`));
if (results.exitToSpawnQueued) {
  const q = results.exitToSpawnQueued;
  out.push(row(`(b) … with ${r1(q.queuedAtPick.median)} queued, ms`, q.gapMs, q.baselineBareSpawnMs, `settle ${r1(q.settleMs.median)} (snapshot ${r1(q.snapshotMs.median)}), pick ${r1(q.pickMs.median)}, prepare+spawn ${r1(q.spawnMs.median)}; load ${q.load1}`));
}
const idleRow = (label, x) => {
  out.push(`| (c) idle CPU, ${label} | ${x.engine.cpuPercent.toFixed(2)} % | — | ${x.baselineBareNode.cpuPercent.toFixed(2)} % | — | ${x.engine.cpuSeconds.toFixed(2)} CPU-s in ${x.engine.wallSeconds.toFixed(0)} s; load ${x.load1[0]} |`);
  out.push(`| (c) RSS, ${label} | ${x.engine.rssMiB.toFixed(1)} MiB | peak ${x.engine.peakRssMiB.toFixed(1)} | ${x.baselineBareNode.rssMiB.toFixed(1)} MiB | ${(x.engine.rssMiB / x.baselineBareNode.rssMiB).toFixed(1)}× | |`);
};
idleRow('empty queue', results.idleEmpty);
if (results.idleQueued) idleRow(`${results.idleQueued.queued} queued (paused)`, results.idleQueued);
if (results.status) {
  const s = results.status;
  out.push(row(`(d) status, ${s.queued} queued, ms`, s.text, s.cliHelp, `${s.textLines} lines; baseline: lora-queue --help`));
  out.push(row('(d) status --format json, ms', s.json, s.cliHelp, `${s.jsonBytes} bytes`));
  out.push(row('(d) baseline: node -e 0, ms', s.nodeStart, null));
  out.push(row('(d) baseline: ls -f queue/, ms', s.lsQueue, null));
}
const parts = (label, b) => `${label}: ${Object.entries(b).map(([k, v]) => `${k} ${r1(v.median)}`).join(', ')} (medians, ms; from the log's ms timestamps)`;
const notes = [parts('(a)', a.breakdownMs), parts('(b)', b.breakdownMs)];
if (results.exitToSpawnQueued) notes.push(parts('(b) queued', results.exitToSpawnQueued.breakdownMs));
if (results.intake) out.push(`| intake of ${results.intake.files} renamed files | ${results.intake.intakeSeconds.toFixed(1)} s | — | — | — | ${results.intake.filesPerSecond.toFixed(0)} files/s |`);
console.log(out.join('\n'));
console.log(`\n${notes.join('\n')}`);
console.log(`\nJSON: ${outFile}`);
