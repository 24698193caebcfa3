#!/usr/bin/env node
// The Slurm executor's latencies against the local executor, measured in the same run on a
// one-node Slurm cluster on localhost (test/slurm/cluster.ts: Debian's Slurm, no systemd), with
// the real engine (`lora-queue daemon`, as the tests start it from out/) and the trainer double
// wrapped by stamp-trainer.mjs (which records when each trainer process started and exited).
//
//   node scripts/build.mjs --tests && node bench/engine/slurm.mjs [--reps 10] [--poll 1] [--json OUT]
//
// Root only (slurmd runs jobs as their users), after scripts/setup-slurm.sh.
// (a) submit -> first step: a dataset renamed into the inbox of an idle engine; latency = the
//     trainer's first `step` event - the moment before rename(2) (intake and validation included,
//     the same for both executors). For Slurm also sbatch -> first step (slurm.json submittedAt,
//     taken just before sbatch runs).
// (b) end -> next submit: a paused queue of reps+1 datasets is resumed; for each consecutive pair,
//     the previous trainer's exit (stamps.json) -> the next submission: for Slurm the moment before
//     sbatch (slurm.json submittedAt), for local the next trainer's start (its spawn). For Slurm
//     also end -> next trainer start (Slurm's scheduling and job launch added).
// Medians (and min, max) of --reps each; executor.pollSeconds = --poll for Slurm (the engine asks
// Slurm at once when the events say done, then every 250 ms until the job's end).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const { startCluster, whyNoCluster } = require(join(ROOT, 'out', 'test', 'slurm', 'cluster.js'));
const H = require(join(ROOT, 'out', 'test', 'engine', 'helpers.js'));
const STAMP = join(ROOT, 'bench', 'engine', 'stamp-trainer.mjs');
const { values: opt } = parseArgs({ options: { reps: { type: 'string', default: '10' }, poll: { type: 'string', default: '1' }, json: { type: 'string' } } });
const REPS = Number(opt.reps);

const why = whyNoCluster();
if (why) {
  console.error(`bench/engine/slurm.mjs: ${why}`);
  process.exit(2);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const stats = (xs) => ({ median: Math.round(median(xs)), min: Math.round(Math.min(...xs)), max: Math.round(Math.max(...xs)), n: xs.length });

async function waitFor(what, check, timeoutMs = 120_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let v;
    try { v = check(); } catch { v = undefined; }
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function workspace(kind) {
  const ws = H.makeWorkspace({ env: { TRAINER_DOUBLE_STEPS: '3', TRAINER_DOUBLE_STEP_MS: '20' } });
  const cfg = JSON.parse(readFileSync(ws.config, 'utf8'));
  cfg.trainer.command = [process.execPath, STAMP];
  cfg.executor = kind === 'slurm' ? { kind: 'slurm', pollSeconds: Number(opt.poll) } : { kind: 'local' };
  writeFileSync(ws.config, JSON.stringify(cfg, null, 2) + '\n');
  return ws;
}

function dropAt(ws, name, content) {
  mkdirSync(join(ws.root, 'inbox'), { recursive: true });
  const tmp = join(ws.root, 'inbox', `.${name}.tmp`);
  writeFileSync(tmp, content);
  const t0 = Date.now();
  renameSync(tmp, join(ws.root, 'inbox', name));
  return t0;
}

const firstStepMs = (ws, run) => { const e = H.events(ws, run).find((x) => x.type === 'step'); return e ? e.time * 1000 : undefined; };
const stamps = (ws, run) => JSON.parse(readFileSync(join(ws.root, 'runs', run, 'stamps.json'), 'utf8'));
const submittedMs = (ws, run) => Date.parse(JSON.parse(readFileSync(join(ws.root, 'runs', run, 'slurm.json'), 'utf8')).submittedAt);
const settled = (ws, n) => { const s = H.state(ws); return !s.current && s.history.length >= n; };

async function measure(kind) {
  const ws = workspace(kind);
  const d = H.startDaemon(ws);
  try {
    await waitFor('the engine', () => /owner of/.test(d.output()), 30_000);
    // (a) submit -> first step, one dataset at a time.
    const toStep = [];
    const sbatchToStep = [];
    for (let i = 0; i < REPS; i++) {
      // Run ids sort by the second they started in, then at random: the new run is the one not seen before.
      const before = new Set(H.runDirs(ws));
      await sleep(200 + Math.random() * 500);
      const t0 = dropAt(ws, `a${i}.jsonl`, H.GOOD(`a${i}`));
      const run = await waitFor('the run', () => H.runDirs(ws).find((r) => !before.has(r)));
      const step = await waitFor('its first step', () => firstStepMs(ws, run));
      toStep.push(step - t0);
      if (kind === 'slurm') sbatchToStep.push(step - submittedMs(ws, run));
      await waitFor('the run to settle', () => settled(ws, i + 1));
    }
    // (b) end -> next submit: a chain of REPS + 1 runs from a paused queue.
    await H.lq(ws, ['pause']);
    const done0 = H.state(ws).history.length;
    for (let i = 0; i <= REPS; i++) H.drop(ws, `b${String(i).padStart(2, '0')}.jsonl`, H.GOOD(`b${i}`));
    await waitFor('the chain queued', () => H.datasets(ws, 'queue').length === REPS + 1, 60_000);
    const runsBefore = new Set(H.runDirs(ws));
    await H.lq(ws, ['resume']);
    await waitFor('the chain done', () => settled(ws, done0 + REPS + 1), 300_000);
    const chain = H.runDirs(ws).filter((r) => !runsBefore.has(r)).sort((a, b) => stamps(ws, a).startedAt - stamps(ws, b).startedAt);
    const endToSubmit = [];
    const endToStart = [];
    for (let i = 1; i < chain.length; i++) {
      const prevExit = stamps(ws, chain[i - 1]).exitAt;
      const next = stamps(ws, chain[i]).startedAt;
      endToStart.push(next - prevExit);
      endToSubmit.push((kind === 'slurm' ? submittedMs(ws, chain[i]) : next) - prevExit);
    }
    return { submitToFirstStep: stats(toStep), ...(kind === 'slurm' && { sbatchToFirstStep: stats(sbatchToStep) }), endToNextSubmit: stats(endToSubmit), endToNextTrainerStart: stats(endToStart) };
  } finally {
    await H.stopDaemon(d);
  }
}

const dir = H.tempDir('lq-bench-slurm-');
const cluster = startCluster(dir, { cpus: 4, port: 18100 });
process.env.SLURM_CONF = cluster.conf;
const load = [loadavg()[0]];
let results;
try {
  const local = await measure('local');
  load.push(loadavg()[0]);
  const slurm = await measure('slurm');
  load.push(loadavg()[0]);
  results = {
    when: new Date().toISOString(), commit: execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim(),
    machine: `${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${load.map((l) => l.toFixed(1)).join(' → ')}`,
    slurmVersion: cluster.version, reps: REPS, pollSeconds: Number(opt.poll), local, slurm,
    ratios: { submitToFirstStep: +(slurm.submitToFirstStep.median / local.submitToFirstStep.median).toFixed(1), endToNextSubmit: +(slurm.endToNextSubmit.median / local.endToNextSubmit.median).toFixed(1) },
  };
} finally {
  cluster.stop();
  H.removeTempDirs();
}
console.log(JSON.stringify(results, null, 2));
if (opt.json) writeFileSync(opt.json, JSON.stringify(results, null, 2) + '\n');
