/**
 * The WebAssembly fast path may only decline or agree with the full validator: where it takes a
 * line, validateLine must find no diagnostic, the same duplicate hash and the same UTF-16 length.
 * And it must take the lines it exists for, or the benchmark measures nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_OPTIONS } from '../../server/src/dataset/file';
import { FastLines } from '../../server/src/dataset/fastLine';
import { hash53, hashingReady } from '../../server/src/dataset/hash';
import { validateLine } from '../../server/src/dataset/line';
import { validateChunks, validateFile } from '../../server/src/dataset/stream';

before(() => hashingReady());

const opts = { allowDeveloperRole: false };
const fast = new FastLines(1 << 16);

function fastCheck(line: string | Buffer): number {
  const buf = typeof line === 'string' ? Buffer.from(line, 'utf8') : line;
  return fast.check(buf, 0, buf.length);
}

/** Agreement, for one line: returns whether the fast path took it. */
function agrees(line: string | Buffer): boolean {
  const buf = typeof line === 'string' ? Buffer.from(line, 'utf8') : line;
  const h = fastCheck(buf);
  if (h < 0) return false;
  const text = buf.toString('utf8');
  const slow = validateLine(text, opts);
  assert.deepEqual(slow.diagnostics, [], `fast path took a line the rules flag: ${JSON.stringify(text)}`);
  assert.equal(h, slow.hash, `hash differs for ${JSON.stringify(text)}`);
  assert.equal(fast.utf16Length(), text.length, `length differs for ${JSON.stringify(text)}`);
  return true;
}

describe('fastLine.wasm: xxHash64', () => {
  it('hashes bytes exactly as hash53 hashes the string they encode', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        assert.equal(fast.hashBytes(Buffer.from(s, 'utf8')), hash53(s));
      }),
      { numRuns: 5000 },
    );
    // Every tail length of the reference algorithm: the 32-byte stripes, 8-byte words, a 4-byte word, bytes.
    for (let n = 0; n <= 100; n++) {
      const s = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(3).slice(0, n);
      assert.equal(fast.hashBytes(Buffer.from(s)), hash53(s), `length ${n}`);
    }
  });
});

describe('fastLine.wasm: which lines it takes', () => {
  it('takes clean lines as JSON.stringify and Python write them', () => {
    const lines = [
      '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}',
      '{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}',
      '{"messages": [{"content": "caf\\u00e9 \\"q\\" \\\\ \\/ \\n\\t\\r\\b\\f", "role": "user"}, {"role": "assistant", "content": "\\ud83d\\ude00 ok"}]}',
      JSON.stringify({ messages: [{ role: 'user', content: 'héllo wörld 你好 😀' }, { role: 'assistant', content: 'ça va' }] }),
      '\t{ "messages" : [ { "role" : "user" , "content" : "x" } , { "role" : "assistant" , "content" : "y" } ] }  ',
    ];
    for (const l of lines) assert.ok(agrees(l), `declined ${l}`);
  });

  it('declines what the rules must see', () => {
    const declined = [
      '', '   ', '{}', '{"messages":[]}', '[]', 'null',
      '{"messages":[{"role":"user","content":"hi"}]}', // no assistant
      '{"messages":[{"role":"assistant","content":"a"},{"role":"assistant","content":"b"}]}', // repeated role
      '{"messages":[{"role":"user","content":"q"},{"role":"system","content":"s"},{"role":"assistant","content":"a"}]}',
      '{"messages":[{"role":"user","content":" \\n\\t\\u00a0\\u2028"},{"role":"assistant","content":"a"}]}', // blank content
      '{"messages":[{"role":"user","content":"\u3000\ufeff"},{"role":"assistant","content":"a"}]}',
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a","weight":0}]}',
      '{"messages":[{"role":"user","role":"user","content":"q"},{"role":"assistant","content":"a"}]}',
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}],"messages":[]}',
      '{"messages":[{"role":"us\\u0065r","content":"q"},{"role":"assistant","content":"a"}]}', // an escaped role: declined, not misread
      '{"messages":[{"role":"asistant","content":"q"}]}',
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}],}',
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]} x',
      '{"messages":[{"role":"user","content":"tab\there"},{"role":"assistant","content":"a"}]}', // raw control character
      '{"messages":[{"role":"user","content":"bad \\x escape"},{"role":"assistant","content":"a"}]}',
      '{"messages":[{"role":"user","content":"short \\u12"},{"role":"assistant","content":"a"}]}',
      '{"messages":[{"role":"user","content":"unterminated},{"role":"assistant","content":"a"}]}',
      '{"messages":[{"role":"developer","content":"d"},{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}',
      '{"messages":[{"role":"user","content":null},{"role":"assistant","content":"a"}]}',
      // Found by fuzzing: JSON.parse accepts these, the rules report them.
      '{"messages":[{"role":"user","content":"q"},\r{"role":"assistant","content":"a"}]}', // a lone CR (the splitter strips a CRLF's)
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}\r',
      '{"messages":[{"role":"user","content":"bad \\ud800 here"},{"role":"assistant","content":"a"}]}', // a lone surrogate
      '\ufeff{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}', // a BOM not at the file's start
    ];
    for (const l of declined) {
      assert.equal(fastCheck(l), -1, l);
      agrees(l);
    }
  });

  it('declines invalid UTF-8 and takes valid multi-byte text of every length', () => {
    const good = Buffer.from('{"messages":[{"role":"user","content":"é€😀"},{"role":"assistant","content":"a"}]}', 'utf8');
    assert.ok(agrees(good));
    const at = good.indexOf(0xc3);
    for (const bad of [[0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xf4, 0x90, 0x80, 0x80], [0xff]]) {
      const b = Buffer.concat([good.subarray(0, at), Buffer.from(bad), good.subarray(at + 2)]);
      assert.equal(fastCheck(b), -1, Buffer.from(bad).toString('hex'));
    }
  });

  it('takes paired surrogate escapes (hashed as the parsed string is) and declines lone ones', () => {
    for (const c of ['\\ud83d\\ude00', 'x\\ud83d\\ude00😀', '\\u0000', '\\uD83D\\uDE00']) {
      assert.ok(agrees(`{"messages":[{"role":"user","content":"${c}"},{"role":"assistant","content":"a"}]}`), c);
    }
    for (const [c, lone] of [['\\ud83d', 1], ['\\ude00', 1], ['\\ud83d\\ud83d\\ude00', 1], ['\\ude00\\ud83d', 2], ['x\\ud83d😀', 1], ['\\uDBFF ', 1], ['\\udc00\\udc00', 2]] as const) {
      const l = `{"messages":[{"role":"user","content":"${c}"},{"role":"assistant","content":"a"}]}`;
      assert.equal(fastCheck(l), -1, c);
      assert.deepEqual(validateLine(l, opts).diagnostics.map((d) => d.code), Array(lone).fill('lone-surrogate'), c);
    }
  });

  it('agrees with the full validator on generated and mutated lines (property)', () => {
    const role = fc.constantFrom('system', 'user', 'assistant', 'tool', 'developer', 'asistant');
    const piece = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 12 }),
      fc.string({ unit: 'binary', maxLength: 6 }),
      fc.constantFrom(' ', '\n', '\t', '\u00a0', '\u2028', '\u3000', '\ufeff', '"', '\\', '/', '\u0000', '\ud83d', '\ude00', 'é', '😀'),
    );
    const content = fc.array(piece, { maxLength: 6 }).map((ps) => ps.join(''));
    const escapeStyle = fc.constantFrom('json', 'ascii', 'all');
    const ws = fc.constantFrom('', ' ', '  ', '\t', '\r');
    // A serialiser that writes the same value in the ways files hold it: escapes, spacing, key order.
    const str = (s: string, style: string): string => {
      if (style === 'json') return JSON.stringify(s);
      let out = '"';
      for (const ch of s) {
        const code = ch.codePointAt(0)!;
        if (style === 'all' || code > 0x7e || code < 0x20 || ch === '"' || ch === '\\') {
          for (let k = 0; k < ch.length; k++) out += '\\u' + ch.charCodeAt(k).toString(16).padStart(4, '0');
        } else out += ch;
      }
      return out + '"';
    };
    // Mostly the role sequences of real examples, so that many lines are clean; some at random.
    const roles = fc.oneof(
      { weight: 4, arbitrary: fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 3 })).map(([sys, n]) => [...(sys ? ['system'] : []), ...Array.from({ length: n }, () => ['user', 'assistant']).flat()]) },
      { weight: 1, arbitrary: fc.array(role, { maxLength: 5 }) },
    );
    const extra = fc.oneof({ weight: 8, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom(',"x":1', ',"messages":[]') });
    const message = fc.record({ content, contentFirst: fc.boolean(), style: escapeStyle, w: ws });
    const messages = roles.chain((rs) => fc.tuple(...rs.map((r) => message.map((m) => ({ ...m, role: r })))));
    const line = fc.record({ messages, w: ws, extra }).map(({ messages, w, extra }) => {
      const ms = messages.map((m) => {
        const r = `"role"${m.w}:${m.w}${str(m.role, 'json')}`;
        const c = `"content"${m.w}:${m.w}${str(m.content, m.style)}`;
        return `{${m.w}${m.contentFirst ? `${c},${m.w}${r}` : `${r},${m.w}${c}`}${m.w}}`;
      });
      return `${w}{"messages"${w}:${w}[${ms.join(`,${w}`)}]${extra}}${w}`;
    });
    const mutated = fc.tuple(line, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')).map(([l, at, byte, how]) => {
      const b = Buffer.from(l, 'utf8');
      const i = at % (b.length + 1);
      if (how === 'set' && i < b.length) b[i] = byte;
      if (how === 'insert') return Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]);
      if (how === 'delete') return Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
      return b;
    });
    let taken = 0;
    fc.assert(
      fc.property(fc.oneof(line, mutated), (l) => {
        if (agrees(l)) taken++;
      }),
      { numRuns: 30_000 },
    );
    assert.ok(taken > 1000, `the fast path took only ${taken} lines`);
  });
});

describe('files through the fast path', () => {
  it('give the same report as the full validator alone, on one thread and on several', async () => {
    const clean = (n: number): string => JSON.stringify({ messages: [{ role: 'user', content: `Question ${n} — ça?` }, { role: 'assistant', content: `Answer ${n}\n"quoted"` }] });
    const lines: string[] = [];
    for (let i = 0; i < 12_000; i++) {
      if (i % 101 === 0) lines.push(clean(i % 300)); // a duplicate, written the same way
      else if (i % 103 === 0) lines.push(`{ "messages": [ { "content": "Question ${i % 300} \\u2014 \\u00e7a?", "role": "user" }, { "role": "assistant", "content": "Answer ${i % 300}\\n\\"quoted\\"" } ] }`); // the same example, written differently
      else if (i % 89 === 0) lines.push('{"messages":[{"role":"asistant","content":"x"}]}');
      else if (i % 211 === 0) lines.push('');
      else lines.push(clean(1000 + i));
    }
    // Over 1 MiB in all, so lines cross the chunks the file is read in (those are copied into the
    // module first), and one line longer than the fast path takes at all.
    lines.push(JSON.stringify({ messages: [{ role: 'user', content: 'long '.repeat(300_000) }, { role: 'assistant', content: 'ok' }] }));
    lines.push(clean(5));
    const dir = mkdtempSync(join(tmpdir(), 'lq-fast-'));
    const path = join(dir, 'data.jsonl');
    writeFileSync(path, '\ufeff' + lines.join('\r\n') + '\n');
    const reference = await validateFile(path, DEFAULT_OPTIONS, { workers: 1, fastPath: false });
    assert.ok(reference.diagnostics.filter((d) => d.code === 'duplicate-example').length > 50, 'the file has duplicates written two ways');
    assert.deepEqual(await validateFile(path, DEFAULT_OPTIONS, { workers: 1 }), reference, 'one thread');
    for (const workers of [2, 3]) assert.deepEqual(await validateFile(path, DEFAULT_OPTIONS, { workers, minParallelBytes: 0 }), reference, `${workers} threads`);
    const chunks = async function* () {
      const text = Buffer.from('\ufeff' + lines.join('\r\n') + '\n');
      for (let i = 0; i < text.length; i += 777) yield text.subarray(i, i + 777);
    };
    assert.deepEqual(await validateChunks(chunks(), DEFAULT_OPTIONS), reference, 'standard input in odd chunks');
  });
});
