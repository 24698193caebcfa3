/** Cutting a file into byte ranges on several threads must give exactly the single-pass report. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_OPTIONS } from '../../server/src/dataset/file';
import { splitPoints, validateFile } from '../../server/src/dataset/stream';

const ex = (n: number): string => `{"messages":[{"role":"user","content":"Q${n}"},{"role":"assistant","content":"A${n}"}]}`;

function makeFile(): string {
  const lines: string[] = [];
  for (let i = 0; i < 3000; i++) {
    if (i % 97 === 0) lines.push(ex(i % 500)); // duplicates spread over the whole file, across parts
    else if (i % 89 === 0) lines.push('{"messages":[{"role":"asistant","content":"x"}]}');
    else if (i % 211 === 0) lines.push('');
    else lines.push(ex(1000 + i));
  }
  const dir = mkdtempSync(join(tmpdir(), 'lq-par-'));
  const path = join(dir, 'data.jsonl');
  writeFileSync(path, '\ufeff' + lines.join('\r\n') + '\n');
  return path;
}

describe('parallel validation', () => {
  const path = makeFile();
  it('gives the single-pass report with 2, 3 and 4 threads', async () => {
    const single = await validateFile(path, DEFAULT_OPTIONS, { workers: 1 });
    assert.ok(single.diagnostics.some((d) => d.code === 'duplicate-example' && d.line > 2000), 'duplicates late in the file');
    for (const workers of [2, 3, 4]) {
      const parallel = await validateFile(path, DEFAULT_OPTIONS, { workers, minParallelBytes: 0 });
      assert.deepEqual(parallel, single, `${workers} threads`);
    }
  });
  it('gives the single-pass report when many small ranges are shared out between the threads', async () => {
    const single = await validateFile(path, DEFAULT_OPTIONS, { workers: 1 });
    for (const workers of [2, 3]) {
      const parallel = await validateFile(path, DEFAULT_OPTIONS, { workers, minParallelBytes: 0, rangeBytes: 4096 });
      assert.deepEqual(parallel, single, `${workers} threads, 4 KiB ranges`);
    }
  });
  it('keeps the cap and the totals the same', async () => {
    const opts = { ...DEFAULT_OPTIONS, maxDiagnostics: 20 };
    const single = await validateFile(path, opts, { workers: 1 });
    const parallel = await validateFile(path, opts, { workers: 3, minParallelBytes: 0 });
    assert.equal(single.diagnostics.length, 21);
    assert.deepEqual(parallel, single);
  });
  it('cuts only after line breaks', () => {
    const points = splitPoints(path, require('node:fs').statSync(path).size, 4);
    const bytes = require('node:fs').readFileSync(path) as Buffer;
    assert.equal(points.length, 5);
    for (const p of points.slice(1, -1)) assert.equal(bytes[p - 1], 10);
  });
});
