#!/usr/bin/env node
// CPU time of the WebAssembly fast path alone, in one process, for one or more builds of the module
// (no reading, no threads, no start-up): every line of FILE through check, then checkTools where
// check declines, as FastLines.check does. Builds alternate rep by rep; the best rep of each is
// printed with a checksum of the hashes (equal checksums: the builds agree on every line).
//
//   node bench/validate/fastline_cpu.js FILE REPS a/fastLine.wasm [b/fastLine.wasm ...]
//   e.g. node bench/validate/fastline_cpu.js bench/data/chat-tools-125M.jsonl 15 /tmp/old/dist/fastLine.wasm dist/fastLine.wasm
'use strict';
const fs = require('node:fs');

const [file, repsArg, ...wasms] = process.argv.slice(2);
if (!file || !wasms.length) {
  console.error('usage: node bench/validate/fastline_cpu.js FILE REPS A.wasm [B.wasm ...]');
  process.exit(2);
}
const buf = fs.readFileSync(file);
const reps = Number(repsArg) || 9;
const lines = [];
for (let pos = 0; pos < buf.length; ) {
  let nl = buf.indexOf(10, pos);
  if (nl < 0) nl = buf.length;
  lines.push(pos, nl);
  pos = nl + 1;
}
const builds = wasms.map((path) => {
  const x = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(path)), { env: { abort() { throw new Error('abort'); } } }).exports;
  const at = x.alloc(buf.length);
  const out = x.alloc((1 << 20) + 64);
  const scratch = x.alloc(6 * (1 << 18) + 256);
  new Uint8Array(x.memory.buffer, at, buf.length).set(buf);
  return { path, x, at, out, scratch, best: Infinity, sum: 0, declined: 0 };
});
for (let r = 0; r < reps; r++) {
  for (const b of builds) {
    const { x, at, out, scratch } = b;
    const t = process.cpuUsage();
    let sum = 0;
    let declined = 0;
    for (let i = 0; i < lines.length; i += 2) {
      const p = at + lines[i];
      const e = at + lines[i + 1];
      let h = x.check(p, e, out);
      if (h < 0 && x.checkTools && e - p <= 1 << 18) h = x.checkTools(p, e, out, scratch);
      if (h < 0) declined++;
      else sum = (sum + (h % 1000003)) % 1000003;
    }
    const c = process.cpuUsage(t);
    b.best = Math.min(b.best, (c.user + c.system) / 1000);
    b.sum = sum;
    b.declined = declined;
  }
}
for (const b of builds) console.log(`${b.path}: best of ${reps} ${b.best.toFixed(1)} CPU-ms, ${(buf.length / b.best / 1e3).toFixed(0)} MB/s, ${lines.length / 2} lines, ${b.declined} declined, checksum ${b.sum}`);
