import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_OPTIONS, type FileReport } from '../../server/src/dataset/file';
import { firstInvalidUtf8, validateChunks } from '../../server/src/dataset/stream';

const GOOD = '{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]}';
const good = (n: number): string => `{"messages":[{"role":"user","content":"Q${n}"},{"role":"assistant","content":"A${n}"}]}`;

async function run(input: Buffer | Buffer[] | string, opts = DEFAULT_OPTIONS): Promise<FileReport> {
  const chunks = typeof input === 'string' ? [Buffer.from(input)] : Array.isArray(input) ? input : [input];
  return validateChunks((async function* () { yield* chunks; })(), opts);
}

const summary = (r: FileReport): string[] => r.diagnostics.map((d) => `${d.line + 1}:${d.startCol + 1} ${d.code}`);

describe('byte-level input', () => {
  it('an empty file is an error', async () => {
    const r = await run('');
    assert.deepEqual(summary(r), ['1:1 empty-file']);
    assert.equal(r.errors, 1);
  });
  it('a file of only newlines: each blank line, and empty-file', async () => {
    const r = await run('\n\n\n');
    assert.deepEqual(summary(r), ['1:1 blank-line', '1:1 empty-file', '2:1 blank-line', '3:1 blank-line']);
  });
  it('CRLF line ends are accepted and do not shift columns', async () => {
    const r = await run(`${GOOD}\r\n{"messages": 5}\r\n`);
    assert.deepEqual(summary(r), ['2:14 messages-not-array']);
    assert.equal(r.examples, 2);
  });
  it('a BOM is a warning on line 1, and the line still parses', async () => {
    const r = await run(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(GOOD + '\n')]));
    assert.deepEqual(summary(r), ['1:1 bom']);
    assert.equal(r.examples, 1);
  });
  it('invalid UTF-8 is reported at the bad byte, in UTF-16 columns', async () => {
    const line = Buffer.concat([Buffer.from('{"messages":[{"role":"user","content":"é'), Buffer.from([0xff]), Buffer.from('"},{"role":"assistant","content":"b"}]}\n')]);
    const r = await run(line);
    const d = r.diagnostics.find((x) => x.code === 'invalid-utf8')!;
    assert.equal(d.startCol, '{"messages":[{"role":"user","content":"é'.length);
    assert.match(d.message, /0xff/);
  });
  it('a literal U+FFFD is valid UTF-8, not an error', async () => {
    const r = await run(`{"messages":[{"role":"user","content":"\ufffd"},{"role":"assistant","content":"b"}]}\n`);
    assert.deepEqual(summary(r), []);
  });
  it('firstInvalidUtf8 finds overlongs, surrogates and truncated sequences', () => {
    assert.equal(firstInvalidUtf8(Buffer.from([0x61, 0xc0, 0x80]), 0, 3), 1);
    assert.equal(firstInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80]), 0, 3), 0);
    assert.equal(firstInvalidUtf8(Buffer.from([0x61, 0xe2, 0x82]), 0, 3), 1);
    assert.equal(firstInvalidUtf8(Buffer.from('ok €😀'), 0, Buffer.byteLength('ok €😀')), -1);
  });
  it('lines split across chunks at every byte are the same as one chunk', async () => {
    const text = `${good(1)}\r\n\n{"messages": [1]}\n${good(2)}`;
    const whole = summary(await run(text));
    const bytes = Buffer.from(text);
    for (let cut = 1; cut < bytes.length; cut += 7) {
      assert.deepEqual(summary(await run([bytes.subarray(0, cut), bytes.subarray(cut)])), whole, `cut at ${cut}`);
    }
  });
  it('a 1 GB line is reported, never held in memory, and the next line is still checked', async () => {
    const chunk = Buffer.alloc(1 << 20, 0x61);
    const before = process.memoryUsage().rss;
    let peak = before;
    const r = await validateChunks((async function* () {
      yield Buffer.from(good(0) + '\n{"messages":"');
      for (let i = 0; i < 1024; i++) {
        yield chunk;
        if ((i & 63) === 0) peak = Math.max(peak, process.memoryUsage().rss);
      }
      yield Buffer.from('"}\n{"messages": 7}\n');
    })(), DEFAULT_OPTIONS);
    assert.deepEqual(summary(r), ['2:1 line-too-large', '3:14 messages-not-array']);
    assert.match(r.diagnostics[0]!.message, /1\.0 GiB, over the 16\.0 MiB limit/);
    // Not a speed or memory benchmark: a sanity bound an order of magnitude under the line's size.
    assert.ok(peak - before < 256 * 1024 * 1024, `memory grew by ${peak - before} bytes`);
  });
});

describe('whole-file checks', () => {
  it('duplicates are reported on the later line, naming the first', async () => {
    const r = await run([good(1), good(2), good(1), `  ${good(2).replace(':', ': ')}  `, good(1)].join('\n'));
    assert.deepEqual(summary(r), ['3:1 duplicate-example', '4:1 duplicate-example', '5:1 duplicate-example']);
    assert.deepEqual(r.diagnostics.map((d) => d.message), ['duplicate example: the same as line 1', 'duplicate example: the same as line 2', 'duplicate example: the same as line 1']);
  });
  it('the cap keeps N and the last diagnostic says how many were left out', async () => {
    const lines = Array.from({ length: 50 }, (_, i) => `{"messages": ${i}}`).join('\n');
    const r = await run(lines, { ...DEFAULT_OPTIONS, maxDiagnostics: 10 });
    assert.equal(r.diagnostics.length, 11);
    const last = r.diagnostics[10]!;
    assert.equal(last.code, 'too-many-diagnostics');
    assert.match(last.message, /40 more diagnostics were left out \(limit 10 per file; 50 errors and 0 warnings/);
    assert.equal(r.errors, 50);
  });
});

describe('duplicate normalisation', () => {
  it('ignores whitespace, key order and escaping, but not content', async () => {
    const a = '{"messages":[{"role":"user","content":"café"},{"role":"assistant","content":"b","weight":1}]}';
    const b = '{ "messages" : [ {"content":"caf\\u00e9", "role":"user"}, {"weight":1, "role":"assistant","content":"b"} ] }';
    const c = '{"messages":[{"role":"user","content":"cafe"},{"role":"assistant","content":"b","weight":1}]}';
    const r = await run([a, b, c].join('\n'));
    assert.deepEqual(summary(r), ['2:1 duplicate-example']);
  });
});
