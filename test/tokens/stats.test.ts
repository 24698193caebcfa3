import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Output } from '../../server/src/cli/output';
import { runStats, type FileStats } from '../../server/src/cli/stats';
import { loadFixtures, modelFolder } from './fixtures';

function capture(): Output & { out: string[]; errs: string[] } {
  const out: string[] = [];
  const errs: string[] = [];
  return { out, errs, line: (s) => out.push(s), err: (s) => errs.push(s), flush: async () => undefined };
}

const doc = loadFixtures();

function workspace(config: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'lq-stats-'));
  writeFileSync(join(dir, 'lora-queue.json'), JSON.stringify(config));
  return dir;
}

describe('lora-queue stats (runStats)', () => {
  const model = 'llama3';
  const exs = doc.examples.filter((e) => doc.expected[model]![e.name]!.trainable !== undefined);
  const want = exs.map((e) => doc.expected[model]![e.name]!);
  const lines = exs.map((e) => JSON.stringify({ messages: e.messages, ...(e.tools ? { tools: e.tools } : {}) }));

  it('sums tokens and trainable tokens exactly, with lengths, roles and duplicates', async () => {
    const dir = workspace({ baseModel: modelFolder(model), maxSeqLength: 32 });
    const file = join(dir, 'data.jsonl');
    writeFileSync(file, [...lines, lines[0], '', '{bad json'].join('\n') + '\n');
    const o = capture();
    const code = await runStats({ format: 'json', operands: [file] }, o);
    assert.equal(code, 0, o.errs.join('\n'));
    const [s] = JSON.parse(o.out.join('\n')) as FileStats[];
    assert.ok(s);
    const tokens = [...want.map((w) => w.tokens!), want[0]!.tokens!];
    assert.equal(s.file, file);
    assert.equal(s.examples, lines.length + 1);
    assert.equal(s.tokens, tokens.reduce((a, b) => a + b, 0));
    assert.equal(s.trainableTokens, [...want, want[0]!].reduce((a, w) => a + w.trainable!, 0));
    assert.equal(s.maxTokens, Math.max(...tokens));
    assert.equal(s.minTokens, Math.min(...tokens));
    assert.equal(s.overLength, tokens.filter((t) => t > 32).length);
    assert.equal(s.duplicates, 1);
    assert.equal(s.skippedLines, 2);
    assert.equal(s.roles['assistant'], [...exs, exs[0]!].reduce((a, e) => a + e.messages.filter((m) => m['role'] === 'assistant').length, 0));
    const sorted = [...tokens].sort((a, b) => a - b);
    assert.equal(s.p50Tokens, sorted[Math.ceil(0.5 * sorted.length) - 1]);
  });

  it('prints a readable summary per file', async () => {
    const dir = workspace({ baseModel: modelFolder(model) });
    const a = join(dir, 'a.jsonl');
    const b = join(dir, 'b.jsonl');
    writeFileSync(a, lines.slice(0, 3).join('\n'));
    writeFileSync(b, lines.slice(3).join('\r\n') + '\r\n');
    const o = capture();
    assert.equal(await runStats({ format: 'text', operands: [a, b] }, o), 0, o.errs.join('\n'));
    const text = o.out.join('\n');
    assert.match(text, /a\.jsonl: 3 examples, [\d,]+ tokens, [\d,]+ trainable/);
    assert.match(text, /b\.jsonl: \d+ examples/);
    assert.match(text, /p50 \d+, p95 \d+/);
  });

  it('uses --config over the nearest config', async () => {
    const dir = workspace({});
    const cfgDir = workspace({ baseModel: modelFolder('qwen3') });
    const file = join(dir, 'x.jsonl');
    writeFileSync(file, lines[0] + '\n');
    const o = capture();
    assert.equal(await runStats({ format: 'json', config: join(cfgDir, 'lora-queue.json'), operands: [file] }, o), 0, o.errs.join('\n'));
    const [s] = JSON.parse(o.out.join('\n')) as FileStats[];
    assert.equal(s!.tokens, doc.expected['qwen3']![exs[0]!.name]!.tokens);
  });

  it('exits 2 with a clear message when no baseModel is configured', async () => {
    const dir = workspace({ maxSeqLength: 1024 });
    const file = join(dir, 'x.jsonl');
    writeFileSync(file, lines[0] + '\n');
    const o = capture();
    assert.equal(await runStats({ format: 'text', operands: [file] }, o), 2);
    assert.match(o.errs.join('\n'), /no "baseModel" configured/);
  });

  it('exits 2 on a missing file or a model folder without a tokenizer', async () => {
    const dir = workspace({ baseModel: '.' });
    writeFileSync(join(dir, 'config.json'), '{}');
    const file = join(dir, 'x.jsonl');
    writeFileSync(file, lines[0] + '\n');
    let o = capture();
    assert.equal(await runStats({ format: 'text', operands: [join(dir, 'missing.jsonl')] }, o), 2);
    o = capture();
    assert.equal(await runStats({ format: 'text', operands: [file] }, o), 2);
    assert.match(o.errs.join('\n'), /tokenizer/);
  });
});
