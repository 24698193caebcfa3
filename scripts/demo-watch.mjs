#!/usr/bin/env node
// The main job's progress display: asks `lora-queue status --format json` twice a second and draws
// what the engine is doing (a progress bar for the run in training, the queue, what ended) until
// EXPECTED datasets have ended in done/ or failed/, or TIMEOUT seconds have passed.
//
//   node scripts/demo-watch.mjs CONFIG EXPECTED [TIMEOUT]
//
// Exits 0 when all have ended, 1 on timeout (the engine's log is then worth reading).
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [config, expectedArg, timeoutArg] = process.argv.slice(2);
if (!config || !expectedArg) {
  console.error('usage: demo-watch.mjs CONFIG EXPECTED [TIMEOUT]');
  process.exit(2);
}
const expected = Number(expectedArg);
const timeoutMs = Number(timeoutArg ?? 900) * 1000;
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'lora-queue.js');
const tty = process.stdout.isTTY;
const started = Date.now();
const seen = new Set();
let lastLine = '';

function status() {
  return JSON.parse(execFileSync(process.execPath, [cli, 'status', '--config', config, '--format', 'json'], { encoding: 'utf8' }));
}

function bar(step, total, width = 30) {
  const f = total ? Math.min(1, step / total) : 0;
  const n = Math.round(f * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}] ${String(Math.floor(f * 100)).padStart(3)}%`;
}

function show(line) {
  if (line === lastLine) return;
  lastLine = line;
  // On a terminal the bar redraws in place; in a log (CI) each change is one line.
  if (tty) process.stdout.write(`\r\x1b[2K${line}`);
  else console.log(line);
}

function note(line) {
  if (tty && lastLine) process.stdout.write('\r\x1b[2K');
  console.log(line);
  lastLine = '';
}

for (;;) {
  const s = status();
  for (const r of s.recentRuns ?? []) {
    if (seen.has(r.runId)) continue;
    seen.add(r.runId);
    note(`  run ${r.runId}: ${r.dataset} → ${r.outcome} (${r.kind}${r.message ? `: ${r.message}` : ''})`);
  }
  for (const f of s.failed) {
    if (seen.has(`failed:${f.name}`)) continue;
    seen.add(`failed:${f.name}`);
    note(`  failed/${f.name}: ${f.kind}: ${f.message}`);
  }
  const ended = s.done + s.failed.length;
  if (s.current) {
    const c = s.current;
    const loss = c.loss === null ? '' : ` loss ${c.loss.toFixed(4)}`;
    const eta = c.etaSeconds === null ? '' : ` ETA ${Math.round(c.etaSeconds)}s`;
    show(`  training ${c.dataset} ${bar(c.step ?? 0, c.totalSteps ?? 0)} step ${c.step ?? 0}/${c.totalSteps ?? '?'}${loss}${eta}`);
  } else if (s.paused || s.blocked) {
    show(`  not training: ${s.pauseReason ?? s.blocked}`);
  } else {
    show(`  waiting: ${s.queue.length} queued, ${s.inbox.length} in the inbox`);
  }
  if (ended >= expected && !s.current && s.queue.length === 0 && s.inbox.length === 0) {
    note(`  all ${expected} datasets have ended: ${s.done} done, ${s.failed.length} failed`);
    process.exit(0);
  }
  if (Date.now() - started > timeoutMs) {
    note(`  timed out after ${timeoutMs / 1000} s with ${ended} of ${expected} ended`);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 500));
}
