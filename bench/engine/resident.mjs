#!/usr/bin/env node
// The idle gap between queued runs with the REAL reference trainer, cold (a trainer process per
// run) against trainer.resident (one process kept loaded), measured on the real daemon.
//
//   node bench/engine/resident.mjs [--model .cache/tiny-model] [--transitions 10] [--examples 2]
//                                  [--modes cold,resident] [--json OUT] [--keep]
//
// For each mode: a queue of transitions+1 small datasets (--examples chats each, batch 2, one
// epoch: one optimizer step per run) is queued while paused, then resumed; the gap of each
// consecutive pair of runs = the next run's first `step` event time − the previous run's `done`
// event time (both written by the trainer with time.time(), the same clock). It holds everything
// a user waits for between two datasets: the engine settling the run (snapshot, dataset move),
// picking the next, the trainer start (cold: Python, imports, tokenizer, model load; resident:
// the per-run client and the job hand-over), tokenizing and the first step itself. The first step
// is part of both modes alike; the baseline is the cold mode, measured in the same run. Machine
// load (`uptime`) is recorded before and after each mode. Needs `node scripts/build.mjs` and .venv.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { summary } from './stats.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: opt } = parseArgs({
  options: {
    model: { type: 'string', default: join(ROOT, '.cache', 'tiny-model') },
    transitions: { type: 'string', default: '10' },
    examples: { type: 'string', default: '2' },
    modes: { type: 'string', default: 'cold,resident' },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
    timeout: { type: 'string', default: '3600' },
  },
});
const MODEL = resolve(opt.model);
const N = Number(opt.transitions) + 1;
const PYTHON = join(ROOT, '.venv', 'bin', 'python');
const BIN = join(ROOT, 'bin', 'lora-queue.js');
if (!existsSync(join(ROOT, 'dist', 'cli.js'))) {
  console.error('dist/cli.js is missing: run `node scripts/build.mjs` first');
  process.exit(2);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const uptime = () => spawnSync('uptime', { encoding: 'utf8' }).stdout.trim();

const readJson = (f) => JSON.parse(readFileSync(f, 'utf8'));
const events = (root, runId) => readFileSync(join(root, 'runs', runId, 'events.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

function lq(dir, config, args) {
  const r = spawnSync(process.execPath, [BIN, args[0], '--config', config, ...args.slice(1)], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`lora-queue ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function measure(mode) {
  const dir = mkdtempSync(join(tmpdir(), `lq-bench-resident-${mode}-`));
  const config = join(dir, 'lora-queue.json');
  const root = join(dir, '.lora-queue');
  writeFileSync(config, JSON.stringify({
    baseModel: MODEL, maxSeqLength: 64,
    trainer: { command: [PYTHON, '-m', 'lora_queue_trainer'], resident: mode === 'resident', hangTimeoutSeconds: 900 },
    queue: { maxAttempts: 1, intakeStableSeconds: 0 },
    lora: { rank: 8, alpha: 16, dropout: 0 },
    training: { epochs: 1, batchSize: 2, gradientAccumulation: 1, evalSplit: 0, checkpointEverySteps: 1000, bf16: false },
    snapshots: { keep: 3 },
    disk: { minFreeGiB: 0, resumeFreeGiB: 0, minFreeInodes: 0 },
  }, null, 2));
  const d = spawn(process.execPath, [BIN, 'daemon', '--config', config], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  d.stdout.on('data', (x) => (out += x));
  d.stderr.on('data', (x) => (out += x));
  try {
    for (let t = 0; !existsSync(join(root, 'engine.lock')); t++) {
      if (t > 200) throw new Error(`no engine:\n${out}`);
      await sleep(50);
    }
    lq(dir, config, ['pause']);
    mkdirSync(join(root, 'inbox'), { recursive: true });
    for (let i = 0; i < N; i++) {
      const rows = Array.from({ length: Number(opt.examples) }, (_, j) => JSON.stringify({ messages: [{ role: 'user', content: `Run ${i}: what is ${j} plus ${i}?` }, { role: 'assistant', content: `${j} plus ${i} is ${i + j}.` }] }));
      const tmp = join(root, 'inbox', `.d${i}.tmp`);
      writeFileSync(tmp, rows.join('\n') + '\n');
      renameSync(tmp, join(root, 'inbox', `d${String(i).padStart(3, '0')}.jsonl`));
    }
    for (let t = 0; readdirSync(join(root, 'queue')).filter((n) => n.endsWith('.jsonl')).length < N; t++) {
      if (t > 600) throw new Error(`intake did not take ${N} datasets:\n${out}`);
      await sleep(100);
    }
    const loadBefore = uptime();
    const t0 = Date.now();
    lq(dir, config, ['resume']);
    const deadline = Date.now() + Number(opt.timeout) * 1000;
    for (;;) {
      const st = readJson(join(root, 'state.json'));
      if (st.history.length >= N && !st.current) break;
      if (Date.now() > deadline) throw new Error(`timed out with ${st.history.length} of ${N} runs settled:\n${out.slice(-4000)}`);
      await sleep(250);
    }
    const wallSeconds = (Date.now() - t0) / 1000;
    const loadAfter = uptime();
    const history = readJson(join(root, 'state.json')).history;
    const bad = history.filter((h) => h.kind !== 'success');
    if (bad.length) throw new Error(`runs did not succeed: ${JSON.stringify(bad)}\n${out.slice(-4000)}`);
    const gaps = [];
    const toStart = [];
    const firstStep = [];
    const warm = [];
    for (let i = 1; i < history.length; i++) {
      const done = events(root, history[i - 1].runId).find((e) => e.type === 'done');
      const ev = events(root, history[i].runId);
      const step = ev.find((e) => e.type === 'step');
      const start = ev.find((e) => e.type === 'start');
      gaps.push(step.time - done.time);
      // Split: up to the trainer's start event (settling, hand-over or process start and model load,
      // tokenizing), then the first optimizer step itself, which both modes pay alike.
      toStart.push(start.time - done.time);
      firstStep.push(step.time - start.time);
      warm.push(start.warm === true);
    }
    const stats = mode === 'resident' && existsSync(join(root, 'resident', 'stats.json')) ? readJson(join(root, 'resident', 'stats.json')) : null;
    return { mode, runs: history.length, gapSeconds: summary(gaps), toStartSeconds: summary(toStart), firstStepSeconds: summary(firstStep), gaps, warmRuns: warm.filter(Boolean).length, wallSeconds, residentStats: stats, loadBefore, loadAfter };
  } finally {
    d.kill('SIGTERM');
    await new Promise((r) => d.on('exit', r));
    // The resident trainer outlives its engine by design: ended here, by its recorded pid.
    const rec = existsSync(join(root, 'resident', 'resident.json')) ? readJson(join(root, 'resident', 'resident.json')) : null;
    if (rec) try { process.kill(rec.pid, 'SIGKILL'); } catch { /* gone */ }
    if (!opt.keep) rmSync(dir, { recursive: true, force: true });
    else console.error(`kept ${dir}`);
  }
}

const results = { model: MODEL, transitions: N - 1, examples: Number(opt.examples), cpus: cpus().length, commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim(), modes: {} };
for (const mode of opt.modes.split(',')) {
  console.error(`${mode}: ${N} runs on ${MODEL} …`);
  results.modes[mode] = await measure(mode);
  const g = results.modes[mode].gapSeconds;
  console.error(`${mode}: gap median ${g.median.toFixed(3)} s, p95 ${g.p95.toFixed(3)} s (${g.min.toFixed(3)}–${g.max.toFixed(3)}); done → start ${results.modes[mode].toStartSeconds.median.toFixed(3)} s, start → step ${results.modes[mode].firstStepSeconds.median.toFixed(3)} s (medians); ${results.modes[mode].loadAfter}`);
}
if (results.modes.cold && results.modes.resident) {
  results.ratio = { median: results.modes.resident.gapSeconds.median / results.modes.cold.gapSeconds.median, p95: results.modes.resident.gapSeconds.p95 / results.modes.cold.gapSeconds.p95 };
  console.error(`resident / cold: median ${(100 * results.ratio.median).toFixed(1)} %, p95 ${(100 * results.ratio.p95).toFixed(1)} %`);
}
if (opt.json) writeFileSync(opt.json, JSON.stringify(results, null, 2) + '\n');
else console.log(JSON.stringify(results, null, 2));
