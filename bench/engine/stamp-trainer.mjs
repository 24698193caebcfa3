#!/usr/bin/env node
// Bench wrapper around the trainer double (test/engine/fixtures/trainer-double.mjs): records when
// this process started (performance.timeOrigin: set by Node at process start, before any script
// runs) and when it exits, in runs/<id>/stamps.json, then runs the double in the same process.
//
//   node stamp-trainer.mjs --job runs/<id>/job.json     (as trainer.command; the double does the work)
//   STAMP_OUT=FILE node stamp-trainer.mjs               (the baseline: start, stamp, exit)
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const startedAt = performance.timeOrigin;
const firstLineAt = performance.timeOrigin + performance.now();
const i = process.argv.indexOf('--job');
const out = i > 0 ? join(dirname(process.argv[i + 1]), 'stamps.json') : process.env.STAMP_OUT;
process.on('exit', (code) => {
  if (out) writeFileSync(out, JSON.stringify({ pid: process.pid, startedAt, firstLineAt, exitAt: performance.timeOrigin + performance.now(), code }) + '\n');
});
if (i > 0) {
  const double = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'engine', 'fixtures', 'trainer-double.mjs');
  await import(pathToFileURL(double).href);
}
