#!/usr/bin/env node
// Language-server latency: a real LSP client over stdio against the built server.
//
//   node bench/lsp/run.mjs [--mb 10] [--changes 200] [--burst 50] [--typing-interval 30]
//                          [--via server|cli] [--json OUT] [--cpu-prof DIR (profiles the server)]
//
// 1. starts `node dist/server.js --stdio` (or, with --via cli, `node bin/lora-queue.js lsp --stdio`);
// 2. initialize / initialized, then didOpen of a ~10 MB chat-JSONL buffer (the first whole lines of
//    bench/data/chat-125M.jsonl, made by bench/validate/make_data.py when missing) as
//    file:///tmp/bench.jsonl, languageId jsonl, and times until the first publishDiagnostics;
// 3. N one-line incremental didChange notifications, one at a time, each waiting for the
//    publishDiagnostics carrying its version: change 2k breaks a line (a word gets a stray `"`,
//    so the line is not JSON), change 2k+1 repairs it with a different word (valid again, and
//    still unique). The line moves across the file every pair. Latency = didChange sent ->
//    publishDiagnostics for that version received; the diagnostic count is checked (1, then 0);
// 4. "fast typing": B single-character insertions into one line sent back to back with no wait;
//    time until the diagnostics for the last version arrive, and how many publishes came (the
//    server coalesces bursts: few publishes and no pile-up is the good outcome);
//    then "paced typing": the same number of insertions one every --typing-interval ms (30 ms, a
//    fast typist), time from the last keystroke to its diagnostics;
// 5. a second didOpen of the same text under another URI (warm: the JIT has seen the code).
//
// Needs `npm run build` (dist/server.js) and vscode-jsonrpc from node_modules.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readSync, closeSync, writeFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(ROOT, 'package.json'));
const { createMessageConnection, StreamMessageReader, StreamMessageWriter } = require('vscode-jsonrpc/node');

const { values: opt } = parseArgs({
  options: {
    mb: { type: 'string', default: '10' },
    changes: { type: 'string', default: '200' },
    burst: { type: 'string', default: '50' },
    via: { type: 'string', default: 'server' },
    source: { type: 'string', default: join(ROOT, 'bench', 'data', 'chat-125M.jsonl') },
    json: { type: 'string' },
    timeout: { type: 'string', default: '60' },
    'typing-interval': { type: 'string', default: '30' },
    'cpu-prof': { type: 'string' },
  },
});
const BYTES = Math.round(Number(opt.mb) * 1e6);
const CHANGES = Number(opt.changes);
const BURST = Number(opt.burst);
const WAIT_MS = Number(opt.timeout) * 1000;

// ---- the buffer ---------------------------------------------------------------------------
if (!existsSync(opt.source)) {
  console.error(`${opt.source} is missing: generating it (bench/validate/make_data.py)`);
  const r = spawnSync('python3', [join(ROOT, 'bench/validate/make_data.py'), dirname(opt.source), '--sizes', '125M'], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(2);
}
const fd = openSync(opt.source, 'r');
const raw = Buffer.alloc(BYTES);
const got = readSync(fd, raw, 0, BYTES, 0);
closeSync(fd);
const cut = raw.lastIndexOf(10, got - 1) + 1; // whole lines only, ending with a line break
const text = raw.toString('utf8', 0, cut);
const lines = text.split('\n');
lines.pop(); // the empty string after the final line break
console.error(`buffer: ${(cut / 1e6).toFixed(1)} MB, ${lines.length.toLocaleString()} lines, from ${opt.source}`);

// ---- the server -----------------------------------------------------------------------------
const serverArgs = opt.via === 'cli' ? [join(ROOT, 'bin', 'lora-queue.js'), 'lsp', '--stdio'] : [join(ROOT, 'dist', 'server.js'), '--stdio'];
if (!existsSync(join(ROOT, 'dist', 'server.js'))) {
  console.error('dist/server.js is missing: run `npm run build`');
  process.exit(2);
}
const nodeFlags = opt['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${opt['cpu-prof']}`] : [];
const child = spawn(process.execPath, [...nodeFlags, ...serverArgs], { stdio: ['pipe', 'pipe', 'inherit'] });
const conn = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));

/** uri -> version -> {t, count}; plus waiters. */
const published = new Map();
const waiters = new Map();
conn.onNotification('textDocument/publishDiagnostics', (p) => {
  const t = performance.now();
  const key = `${p.uri}#${p.version}`;
  if (!published.has(p.uri)) published.set(p.uri, []);
  published.get(p.uri).push({ version: p.version, t, count: p.diagnostics.length, codes: p.diagnostics.map((d) => d.code) });
  const w = waiters.get(key);
  if (w) {
    waiters.delete(key);
    w({ t, count: p.diagnostics.length, codes: p.diagnostics.map((d) => d.code) });
  }
});
conn.onNotification('window/logMessage', (p) => console.error(`server: ${p.message}`));
conn.onRequest((method) => {
  if (method === 'workspace/configuration') return [{}];
  return null; // client/registerCapability and the like
});
conn.listen();

function waitFor(uri, version) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiters.delete(`${uri}#${version}`);
      reject(new Error(`no publishDiagnostics for ${uri} version ${version} within ${WAIT_MS / 1000} s`));
    }, WAIT_MS);
    waiters.set(`${uri}#${version}`, (r) => {
      clearTimeout(timer);
      resolve(r);
    });
  });
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (i - lo);
};
const fmt = (ms) => `${ms.toFixed(1)} ms`;

// A word inside the last message's content: lower-case letters after a space, before a space or punctuation.
const WORD = /(?<= )[a-z]{4,}(?=[ ,.;:!?])/g;
function wordIn(line) {
  const from = line.lastIndexOf('"content": "');
  WORD.lastIndex = from < 0 ? 0 : from;
  const m = WORD.exec(line);
  return m ? { start: m.index, end: m.index + m[0].length, word: m[0] } : undefined;
}

function commit() {
  const r = spawnSync('git', ['describe', '--always', '--dirty'], { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

async function main() {
  const loadBefore = loadavg()[0];
  const t0 = performance.now();
  await conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri: null,
    workspaceFolders: null,
    capabilities: { textDocument: { publishDiagnostics: { versionSupport: true }, synchronization: { dynamicRegistration: false } } },
  });
  conn.sendNotification('initialized', {});
  const initMs = performance.now() - t0;

  const uri = 'file:///tmp/bench.jsonl';
  let version = 1;
  let tSend = performance.now();
  conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'jsonl', version, text } });
  let r = await waitFor(uri, version);
  const openMs = r.t - tSend;
  const openDiagnostics = r.count;
  console.error(`didOpen -> first publishDiagnostics: ${fmt(openMs)} (${r.count} diagnostics)`);

  // ---- one change at a time ----
  const latencies = { invalid: [], valid: [] };
  const wrong = [];
  const edit = (line, start, end, newText) => {
    version++;
    const params = {
      textDocument: { uri, version },
      contentChanges: [{ range: { start: { line, character: start }, end: { line, character: end } }, text: newText }],
    };
    lines[line] = lines[line].slice(0, start) + newText + lines[line].slice(end);
    tSend = performance.now();
    conn.sendNotification('textDocument/didChange', params);
    return waitFor(uri, version);
  };
  for (let k = 0; k < CHANGES / 2; k++) {
    let line = (k * 7919 + 13) % lines.length;
    let w = wordIn(lines[line]);
    while (!w) w = wordIn(lines[(line = (line + 1) % lines.length)]);
    // Break it: the word gets a stray quote in its middle, so the line is no longer JSON.
    const broken = w.word.slice(0, 2) + '"' + w.word.slice(2);
    r = await edit(line, w.start, w.end, broken);
    latencies.invalid.push(r.t - tSend);
    if (r.count !== openDiagnostics + 1) wrong.push({ version, expected: openDiagnostics + 1, got: r.count, codes: r.codes });
    // Repair it with another word (valid again; the example still differs from every other one).
    const repaired = w.word.split('').reverse().join('');
    r = await edit(line, w.start, w.start + broken.length, repaired);
    latencies.valid.push(r.t - tSend);
    if (r.count !== openDiagnostics) wrong.push({ version, expected: openDiagnostics, got: r.count, codes: r.codes });
  }
  const all = [...latencies.invalid, ...latencies.valid];

  // ---- fast typing: BURST insertions back to back ----
  const burstLine = Math.floor(lines.length / 2);
  const typed = 'the quick brown fox jumps over the lazy dog and then some more words '.repeat(4).slice(0, BURST);
  const at = wordIn(lines[burstLine]).start;
  const before = published.get(uri).length;
  const firstVersion = version + 1;
  const tBurst = performance.now();
  let tLastSend = tBurst;
  for (let i = 0; i < BURST; i++) {
    version++;
    conn.sendNotification('textDocument/didChange', {
      textDocument: { uri, version },
      contentChanges: [{ range: { start: { line: burstLine, character: at + i }, end: { line: burstLine, character: at + i } }, text: typed[i] }],
    });
    tLastSend = performance.now();
  }
  lines[burstLine] = lines[burstLine].slice(0, at) + typed + lines[burstLine].slice(at);
  r = await waitFor(uri, version);
  await new Promise((res) => setTimeout(res, 200)); // anything still to come would be a pile-up
  const burstPublishes = published.get(uri).slice(before);
  const burst = {
    changes: BURST,
    sendMs: tLastSend - tBurst,
    firstSendToLastPublishMs: r.t - tBurst,
    lastSendToLastPublishMs: r.t - tLastSend,
    publishes: burstPublishes.length,
    publishedVersions: burstPublishes.map((p) => p.version - firstVersion + 1),
    lastCount: r.count,
  };

  // ---- paced typing: BURST insertions, one every --typing-interval ms (a fast typist) ----
  const INTERVAL = Number(opt['typing-interval']);
  const paceLine = Math.floor(lines.length / 3);
  const paceAt = wordIn(lines[paceLine]).start;
  const beforePace = published.get(uri).length;
  const paceFirst = version + 1;
  const tPace = performance.now();
  for (let i = 0; i < BURST; i++) {
    version++;
    conn.sendNotification('textDocument/didChange', {
      textDocument: { uri, version },
      contentChanges: [{ range: { start: { line: paceLine, character: paceAt + i }, end: { line: paceLine, character: paceAt + i } }, text: typed[i] }],
    });
    if (i < BURST - 1) await new Promise((res) => setTimeout(res, INTERVAL));
  }
  const tPaceLast = performance.now();
  lines[paceLine] = lines[paceLine].slice(0, paceAt) + typed + lines[paceLine].slice(paceAt);
  r = await waitFor(uri, version);
  await new Promise((res) => setTimeout(res, 200));
  const pacePublishes = published.get(uri).slice(beforePace);
  const paced = {
    changes: BURST,
    intervalMs: INTERVAL,
    typingMs: tPaceLast - tPace,
    lastSendToLastPublishMs: r.t - tPaceLast,
    publishes: pacePublishes.length,
    lastCount: r.count,
  };

  // ---- a second open, warm ----
  const uri2 = 'file:///tmp/bench2.jsonl';
  tSend = performance.now();
  conn.sendNotification('textDocument/didOpen', { textDocument: { uri: uri2, languageId: 'jsonl', version: 1, text } });
  r = await waitFor(uri2, 1);
  const openWarmMs = r.t - tSend;

  let serverPeakRss;
  try {
    serverPeakRss = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]) * 1024;
  } catch {
    serverPeakRss = undefined;
  }

  await conn.sendRequest('shutdown');
  conn.sendNotification('exit');

  const result = {
    date: new Date().toISOString(),
    machine: { cores: cpus().length, cpu: cpus()[0]?.model, ramGiB: +(totalmem() / 2 ** 30).toFixed(1), node: process.version },
    commit: commit(),
    loadavg1: { before: loadBefore, after: loadavg()[0] },
    server: serverArgs.map((a) => a.replace(ROOT + '/', '')).join(' '),
    buffer: { bytes: cut, lines: lines.length },
    initializeMs: initMs,
    openColdMs: openMs,
    openWarmMs,
    openDiagnostics,
    changes: {
      n: all.length,
      medianMs: quantile(all, 0.5),
      p95Ms: quantile(all, 0.95),
      maxMs: Math.max(...all),
      minMs: Math.min(...all),
      invalidMedianMs: quantile(latencies.invalid, 0.5),
      validMedianMs: quantile(latencies.valid, 0.5),
      wrongCounts: wrong,
    },
    burst,
    paced,
    serverPeakRssMiB: serverPeakRss && +(serverPeakRss / 2 ** 20).toFixed(1),
  };

  console.log(`LSP benchmark — ${result.buffer.bytes.toLocaleString()} bytes, ${result.buffer.lines.toLocaleString()} lines, ${result.server} (commit ${result.commit}, load average ${loadBefore.toFixed(2)} -> ${result.loadavg1.after.toFixed(2)} on ${result.machine.cores} cores)`);
  console.log(`  initial full validation (didOpen -> publish): ${fmt(openMs)} cold, ${fmt(openWarmMs)} warm`);
  console.log(`  ${all.length} one-line didChange -> publish: median ${fmt(result.changes.medianMs)}, p95 ${fmt(result.changes.p95Ms)}, min ${fmt(result.changes.minMs)}, max ${fmt(result.changes.maxMs)}`);
  console.log(`    breaking edits median ${fmt(result.changes.invalidMedianMs)}, repairing edits median ${fmt(result.changes.validMedianMs)}; diagnostic counts ${wrong.length ? `WRONG in ${wrong.length} cases: ${JSON.stringify(wrong.slice(0, 3))}` : 'all as expected'}`);
  console.log(`  fast typing: ${BURST} changes sent in ${fmt(burst.sendMs)}; last version's diagnostics ${fmt(burst.firstSendToLastPublishMs)} after the first send (${fmt(burst.lastSendToLastPublishMs)} after the last); ${burst.publishes} publish(es) for the burst (versions ${burst.publishedVersions.join(',')})`);
  console.log(`  paced typing: ${BURST} changes, one every ${INTERVAL} ms (${fmt(paced.typingMs)} in all); last version's diagnostics ${fmt(paced.lastSendToLastPublishMs)} after the last keystroke; ${paced.publishes} publishes`);
  if (result.serverPeakRssMiB) console.log(`  server peak RSS: ${result.serverPeakRssMiB} MiB`);
  if (opt.json) {
    mkdirSync(dirname(opt.json), { recursive: true });
    writeFileSync(opt.json, JSON.stringify(result, null, 2) + '\n');
  }
  setTimeout(() => process.exit(wrong.length ? 1 : 0), 100);
}

main().catch((e) => {
  console.error(e);
  child.kill();
  process.exit(2);
});
