/**
 * A seeded fuzz test of the validator, cheap enough for every CI run: lines of the corpus mutated
 * (bytes set, inserted, deleted; the tokens that fuzzing found accepted silently inserted
 * anywhere), checked one by one and as files. The validator never throws, every diagnostic lies
 * inside its line, and the WebAssembly fast path changes no report.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_OPTIONS } from '../../server/src/dataset/file';
import { hashingReady } from '../../server/src/dataset/hash';
import { validateLine } from '../../server/src/dataset/line';
import { validateChunks, validateText } from '../../server/src/dataset/stream';
import { CORPUS } from './corpus';

before(() => hashingReady());

const opts = { ...DEFAULT_OPTIONS, maxDiagnostics: 100_000 };
const SEED = 19;

/** What fuzzing found, and the characters JSON turns on. */
const TOKENS = ['\r', '\ufeff', '\\ud800', '\\udc00', '\\ud83d\\ude00', '1e400', '-1e400', '"messages":[],', '"role":"user",', '"role":"assistant",', '"weight":0,', ',', '"', '\\', '{', '}', '[', ']', ':', ' ', '\u0000', '\t', 'é', '😀', 'null', '"tool_calls":[],'];

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('token' as const), at: fc.nat(), token: fc.constantFrom(...TOKENS) }),
  fc.record({ kind: fc.constantFrom('set' as const, 'insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(line: string, ms: readonly Mutation[]): Buffer {
  let b = Buffer.from(line, 'utf8');
  for (const m of ms) {
    const i = m.at % (b.length + 1);
    if (m.kind === 'token') b = Buffer.concat([b.subarray(0, i), Buffer.from(m.token, 'utf8'), b.subarray(i)]);
    else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, i), Buffer.from([m.byte]), b.subarray(i)]);
    else if (m.kind === 'set' && i < b.length) b[i] = m.byte;
    else if (m.kind === 'delete') b = Buffer.concat([b.subarray(0, i), b.subarray(i + m.length)]);
  }
  return b;
}

const mutatedLine = fc.tuple(fc.constantFrom(...CORPUS.map((c) => c.line)), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([l, ms]) => mutate(l, ms));

/** The CLI's lines of a file: split at \n, a final \r and the file's BOM taken off, as UTF-16 lengths. */
function lineLengths(file: Buffer): number[] {
  const out: number[] = [];
  let start = file[0] === 0xef && file[1] === 0xbb && file[2] === 0xbf ? 3 : 0;
  for (;;) {
    const nl = file.indexOf(10, start);
    let end = nl === -1 ? file.length : nl;
    if (end > start && file[end - 1] === 13) end--;
    out.push(file.toString('utf8', start, end).length);
    if (nl === -1) break;
    start = nl + 1;
  }
  return out;
}

describe('the corpus', () => {
  for (const c of CORPUS) {
    it(`${c.name}: ${c.codes.join(', ') || 'clean'}, as a line and in a file`, async () => {
      assert.deepEqual(validateLine(c.line, opts).diagnostics.map((d) => d.code).sort(), c.codes);
      // In a file the fast path sees it first (after a clean line, so a BOM is not the file's).
      const report = await validateText(`{"messages":[{"role":"user","content":"first"},{"role":"assistant","content":"line"}]}\n${c.line}\n`, opts);
      assert.deepEqual(report.diagnostics.filter((d) => d.line === 1).map((d) => d.code).sort(), c.codes);
    });
  }
});

describe('fuzzing the validator (seeded)', () => {
  it('a mutated line never throws, and every range and fix lies inside the line', () => {
    fc.assert(
      fc.property(mutatedLine, (bytes) => {
        // The CLI never hands the rules a \n; a line of the editor never holds one either.
        const line = bytes.toString('utf8').replace(/\n/g, ' ');
        const r = validateLine(line, opts);
        for (const d of r.diagnostics) {
          assert.ok(d.startCol >= 0 && d.startCol <= d.endCol && d.endCol <= line.length, `${d.code} at ${d.startCol}-${d.endCol} in ${JSON.stringify(line)}`);
          assert.ok(d.message.length > 0);
          if (d.fix && 'edits' in d.fix) for (const e of d.fix.edits) assert.ok(e.startCol >= 0 && e.startCol <= e.endCol && e.endCol <= line.length, `${d.code} fix in ${JSON.stringify(line)}`);
        }
      }),
      { numRuns: 20_000, seed: SEED },
    );
  });

  it('a file of mutated lines: the same report with and without the fast path, every diagnostic inside its line', async () => {
    const file = fc.array(fc.tuple(fc.oneof(mutatedLine, fc.constantFrom(...CORPUS.map((c) => Buffer.from(c.line)))), fc.constantFrom('\n', '\r\n')), { minLength: 1, maxLength: 30 })
      .map((ls) => Buffer.concat(ls.flatMap(([l, eol]) => [l, Buffer.from(eol)])));
    await fc.assert(
      fc.asyncProperty(file, async (bytes) => {
        const chunks = async function* (): AsyncGenerator<Buffer> {
          yield bytes;
        };
        const fast = await validateChunks(chunks(), opts);
        const slow = await validateChunks(chunks(), opts, { fastPath: false });
        assert.deepEqual(fast, slow);
        const lengths = lineLengths(bytes);
        assert.equal(fast.lines, lengths.length - (bytes[bytes.length - 1] === 10 ? 1 : 0));
        for (const d of fast.diagnostics) {
          assert.ok(d.line >= 0 && d.line < lengths.length && d.endLine === d.line, `${d.code} on line ${d.line}`);
          const len = lengths[d.line]!;
          assert.ok(d.startCol >= 0 && d.startCol <= d.endCol && d.endCol <= len, `${d.code} at ${d.startCol}-${d.endCol}, line ${d.line + 1} is ${len} long`);
        }
      }),
      { numRuns: 400, seed: SEED },
    );
  });
});
