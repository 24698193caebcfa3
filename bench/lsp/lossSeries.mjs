#!/usr/bin/env node
// The loss chart's series request on a million-step run: a real LSP client over stdio against the
// built server, plus the pieces in-process.
//
//   node bench/lsp/lossSeries.mjs [--steps 1000000] [--eval-every 1000] [--max-points 2000] [--runs 5] [--json OUT]
//
// 1. writes runs/bench-<steps>/events.jsonl under a temporary queue root, one `step` event per
//    step as the Python trainer writes them (json.dumps: `", "` and `": "`), an `eval` every
//    --eval-every steps; kept in bench/data/ and reused;
// 2. starts `node dist/server.js --stdio` on a trusted workspace whose lora-queue.json names that
//    root (the engine owns it; no trainer runs), then times `loraQueue/lossSeries`:
//    cold (the first request parses the whole file), warm (cached; only the new bytes, none, read),
//    a zoom (a 10,000-step range, at full resolution), and the baseline: the raw series (maxPoints
//    = every step), as a client that downsampled itself would have to receive it;
//    each with its response size (JSON characters);
// 3. in-process (out/, from `node scripts/build.mjs --tests`): the reader's parse time for the
//    file, and minMaxIndices alone on the million points.
// Needs `node scripts/build.mjs --tests` (dist/server.js and out/).
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, symlinkSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(ROOT, 'package.json'));
const { createMessageConnection, StreamMessageReader, StreamMessageWriter } = require('vscode-jsonrpc/node');

const { values: opt } = parseArgs({
  options: {
    steps: { type: 'string', default: '1000000' },
    'eval-every': { type: 'string', default: '1000' },
    'max-points': { type: 'string', default: '2000' },
    runs: { type: 'string', default: '5' },
    json: { type: 'string' },
  },
});
const STEPS = Number(opt.steps);
const EVAL_EVERY = Number(opt['eval-every']);
const MAX_POINTS = Number(opt['max-points']);
const RUNS = Number(opt.runs);
const runId = `bench-${STEPS}`;

// ---- the run's events ---------------------------------------------------------------------
const dataDir = join(ROOT, 'bench', 'data', 'loss');
const events = join(dataDir, runId, 'events.jsonl');
if (!existsSync(events)) {
  mkdirSync(dirname(events), { recursive: true });
  const out = createWriteStream(events);
  const line = (o) => JSON.stringify(o).replaceAll('","', '", "').replaceAll('":', '": ').replaceAll(',"', ', "') + '\n';
  let t = 1_763_884_800;
  out.write(line({ type: 'start', time: t, total_steps: STEPS, world_size: 1, device: 'cuda' }));
  let buf = '';
  for (let s = 1; s <= STEPS; s++) {
    t += 0.25;
    // A falling loss with noise and a few spikes: what min/max buckets must keep.
    const loss = 2.5 * Math.exp(-s / (STEPS / 5)) + 0.3 + 0.05 * Math.sin(s * 12.9898) + (s % 99_991 === 0 ? 3 : 0);
    const lr = 2e-4 * Math.min(1, s / 1000) * (0.5 + 0.5 * Math.cos((Math.PI * s) / STEPS));
    buf += line({ type: 'step', time: t, step: s, epoch: s / STEPS, loss, lr, grad_norm: 1.0 + (s % 7) / 10, tokens_per_second: 5234.5 });
    if (s % EVAL_EVERY === 0) buf += line({ type: 'eval', time: t, step: s, eval_loss: loss + 0.05 });
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise((r) => out.once('drain', r));
      buf = '';
    }
  }
  out.write(buf);
  await new Promise((r) => out.end(r));
}
const fileBytes = statSync(events).size;

// ---- the workspace and the server ---------------------------------------------------------
const ws = mkdtempSync(join(tmpdir(), 'lq-bench-loss-'));
mkdirSync(join(ws, 'model'));
writeFileSync(join(ws, 'model', 'config.json'), '{}');
writeFileSync(join(ws, 'model', 'tokenizer.json'), '{}');
writeFileSync(join(ws, 'lora-queue.json'), JSON.stringify({ baseModel: 'model', root: 'q', trainer: { command: ['true'] } }));
mkdirSync(join(ws, 'q', 'runs'), { recursive: true });
symlinkSync(dirname(events), join(ws, 'q', 'runs', runId));

const proc = spawn(process.execPath, [join(ROOT, 'dist', 'server.js'), '--stdio'], { cwd: ws, stdio: ['pipe', 'pipe', 'inherit'] });
const conn = createMessageConnection(new StreamMessageReader(proc.stdout), new StreamMessageWriter(proc.stdin));
let owner;
const owned = new Promise((r) => (owner = r));
conn.onNotification('loraQueue/state', (p) => p.engine === 'owner' && owner());
conn.onRequest('workspace/configuration', () => [{}]);
conn.listen();
await conn.sendRequest('initialize', { processId: process.pid, rootUri: pathToFileURL(ws).href, capabilities: {}, workspaceFolders: null, initializationOptions: { trusted: true } });
await conn.sendNotification('initialized', {});
await owned;

async function timed(params) {
  const t0 = performance.now();
  const r = await conn.sendRequest('loraQueue/lossSeries', params);
  const ms = performance.now() - t0;
  const s = r.runs[0];
  if (s.error) throw new Error(s.error);
  return { ms, chars: JSON.stringify(r).length, points: s.steps.length + s.evalSteps.length, of: s.points + s.evalPoints };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cold = await timed({ runIds: [runId], maxPoints: MAX_POINTS });
const warm = [];
for (let i = 0; i < RUNS; i++) warm.push(await timed({ runIds: [runId], maxPoints: MAX_POINTS }));
const zoom = [];
for (let i = 0; i < RUNS; i++) {
  const from = Math.floor((STEPS * (i + 1)) / (RUNS + 2));
  zoom.push(await timed({ runIds: [runId], fromStep: from, toStep: from + 9_999, maxPoints: MAX_POINTS * 10 }));
}
const raw = [];
for (let i = 0; i < Math.min(RUNS, 3); i++) raw.push(await timed({ runIds: [runId], maxPoints: 100_000_000 }));
await conn.sendRequest('shutdown');
await conn.sendNotification('exit');

// ---- in-process ---------------------------------------------------------------------------
const { RunSeries } = require(join(ROOT, 'out', 'server', 'src', 'engine', 'series.js'));
const { minMaxIndices } = require(join(ROOT, 'out', 'common', 'downsample.js'));
const parse = [];
let series;
for (let i = 0; i < Math.min(RUNS, 3); i++) {
  series = new RunSeries(events);
  const t0 = performance.now();
  await series.update();
  parse.push(performance.now() - t0);
}
const ds = [];
for (let i = 0; i < RUNS * 4; i++) {
  const t0 = performance.now();
  minMaxIndices(series.train.step.data, series.loss.data, 0, series.train.length, MAX_POINTS);
  ds.push(performance.now() - t0);
}

const summary = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), load: loadavg().map((l) => l.toFixed(2)), node: process.version },
  steps: STEPS, evals: Math.floor(STEPS / EVAL_EVERY), fileMB: +(fileBytes / 1e6).toFixed(1), maxPoints: MAX_POINTS,
  lsp: {
    coldMs: +cold.ms.toFixed(1), coldPoints: cold.points, coldChars: cold.chars,
    warmMedianMs: +median(warm.map((w) => w.ms)).toFixed(1), warmChars: warm[0].chars,
    zoom10kMedianMs: +median(zoom.map((w) => w.ms)).toFixed(1), zoomPoints: zoom[0].points, zoomChars: zoom[0].chars,
    rawMedianMs: +median(raw.map((w) => w.ms)).toFixed(1), rawPoints: raw[0].points, rawChars: raw[0].chars,
  },
  inProcess: { parseMedianMs: +median(parse).toFixed(1), downsampleMedianMs: +median(ds).toFixed(2), downsampleMinMs: +Math.min(...ds).toFixed(2) },
};
console.log(JSON.stringify(summary, null, 2));
if (opt.json) writeFileSync(opt.json, JSON.stringify(summary, null, 2) + '\n');
