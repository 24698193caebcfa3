#!/usr/bin/env node
// The extension's activation time in a real VS Code (code-server, see test/e2e/harness.mjs) and the
// .vsix's size. Activation times are VS Code's own, read from "Developer: Show Running Extensions",
// for LoRA Queue and, as the baseline measured in the same window, the built-in "JSON Language
// Features" (also a language client with its server, activated by opening a .json file).
//
//   npm run package && node bench/extension/run.mjs [--reps N]
//
// Prints a table and writes bench/out/extension.json.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { e2eAvailable, ROOT, startVsCode, until } from '../../test/e2e/harness.mjs';

const reps = Number(process.argv[process.argv.indexOf('--reps') + 1] || 3);
const vsix = join(ROOT, 'dist', 'lora-queue.vsix');
if (!e2eAvailable()) {
  console.error('code-server, Node 24 or Chromium missing: run bash scripts/setup-e2e.sh');
  process.exit(2);
}
const OURS = 'LoRA Queue';
const BASELINE = 'JSON Language Features';
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function once(i) {
  const ws = mkdtempSync(join(tmpdir(), 'lq-act-'));
  copyFileSync(join(ROOT, 'examples', 'datasets', 'good-chat.jsonl'), join(ws, 'good-chat.jsonl'));
  writeFileSync(join(ws, 'data.json'), '{"a": 1}\n');
  const vs = await startVsCode({ workspace: ws, vsix, outDir: join(ROOT, 'bench', 'out', 'extension-shots') });
  try {
    await vs.openFile('good-chat.jsonl');
    await vs.openFile('data.json');
    let lastRows = [];
    // The list fills in a moment after the editor opens (a modal editor in 1.139): open it once, then read it.
    await vs.command('Developer: Show Running Extensions');
    const times = await until(async () => {
      const rows = await vs.page.locator('.runtime-extensions-editor .monaco-list-row').allInnerTexts();
      const t = {};
      for (const r of rows) {
        const m = /^(.*)\n[\s\S]*Activation: (\d+)ms/.exec(r);
        if (m) t[m[1]] = Number(m[2]);
      }
      lastRows = rows;
      return t[OURS] !== undefined && t[BASELINE] !== undefined ? t : undefined;
    }, 'both extensions in Running Extensions', 60_000, 500).catch(async (e) => {
      await vs.screenshot('running-extensions-failed');
      throw new Error(`${e.message}; rows: ${JSON.stringify(lastRows)}`);
    });
    if (i === 0) await vs.screenshot('running-extensions');
    return times;
  } finally {
    await vs.stop();
    rmSync(ws, { recursive: true, force: true });
  }
}

const runs = [];
for (let i = 0; i < reps; i++) {
  const t = await once(i);
  runs.push({ ours: t[OURS], baseline: t[BASELINE] });
  console.log(`run ${i + 1}: ${OURS} ${t[OURS]} ms, ${BASELINE} ${t[BASELINE]} ms`);
}
const ours = median(runs.map((r) => r.ours));
const base = median(runs.map((r) => r.baseline));
const ratios = runs.map((r) => r.ours / r.baseline);

const size = statSync(vsix).size;
const listing = execFileSync('unzip', ['-l', vsix], { encoding: 'utf8' })
  .split('\n')
  .map((l) => /^\s*(\d+)\s+\S+\s+\S+\s+(\S.*)$/.exec(l))
  .filter((m) => m && m[2] !== 'Name')
  .map((m) => ({ file: m[2], bytes: Number(m[1]) }))
  .sort((a, b) => b.bytes - a.bytes);
const unpacked = listing.reduce((s, f) => s + f.bytes, 0);
const load = execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ').slice(0, 3).join(' ');

console.log('');
console.log(`activation (median of ${reps}): ${OURS} ${ours} ms, ${BASELINE} ${base} ms: ${(ours / base).toFixed(2)}x the baseline (per-run ratios ${ratios.map((r) => r.toFixed(2)).join(', ')})`);
console.log(`.vsix: ${(size / 1024).toFixed(0)} KiB packed, ${(unpacked / 1024).toFixed(0)} KiB unpacked, ${listing.length} files; largest:`);
for (const f of listing.slice(0, 8)) console.log(`  ${(f.bytes / 1024).toFixed(0).padStart(6)} KiB  ${f.file}`);
console.log(`load average at the end: ${load}`);
mkdirSync(join(ROOT, 'bench', 'out'), { recursive: true });
writeFileSync(join(ROOT, 'bench', 'out', 'extension.json'), JSON.stringify({ reps, runs, medianMs: { ours, baseline: base }, ratio: ours / base, vsixBytes: size, unpackedBytes: unpacked, files: listing.length, largest: listing.slice(0, 8), load }, null, 2) + '\n');
