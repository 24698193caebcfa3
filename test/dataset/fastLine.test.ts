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
    const ws = fc.constantFrom('', ' ', '  ', '\t'); // a lone CR is declined: the fuzz test puts CRs everywhere
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

describe('fastLine.wasm: tool-call lines', () => {
  /** A tiny seeded generator for the serialiser's choices (fast-check gives the seed). */
  function lcg(seed: number): () => number {
    let x = seed >>> 0 || 1;
    return () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return x / 2 ** 32;
    };
  }

  /** The same value written the ways files hold it: key order, spacing, escapes, number spelling. */
  function serialise(v: unknown, rnd: () => number): string {
    const w = (): string => ['', '', ' ', '\t', '  '][Math.floor(rnd() * 5)]!;
    if (typeof v === 'string') {
      const style = rnd();
      if (style < 0.6) return JSON.stringify(v);
      let out = '"';
      for (const ch of v) {
        const code = ch.codePointAt(0)!;
        if (style > 0.9 || code > 0x7e || code < 0x20 || ch === '"' || ch === '\\') {
          for (let k = 0; k < ch.length; k++) out += '\\u' + ch.charCodeAt(k).toString(16).padStart(4, rnd() < 0.5 ? '0' : '0').toUpperCase();
        } else if (ch === '/' && rnd() < 0.5) out += '\\/';
        else out += ch;
      }
      return out + '"';
    }
    if (typeof v === 'number' && Number.isInteger(v) && rnd() < 0.1) return `${v}.0`;
    if (typeof v !== 'object' || v === null) return JSON.stringify(v);
    if (Array.isArray(v)) return `[${w()}${v.map((x) => serialise(x, rnd)).join(`${w()},${w()}`)}${w()}]`;
    const keys = Object.keys(v);
    for (let i = keys.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [keys[i], keys[j]] = [keys[j]!, keys[i]!];
    }
    // Keys (and so roles' keys) are escaped only now and then: the fast path declines an escaped key.
    return `{${w()}${keys.map((k) => `${rnd() < 0.97 ? JSON.stringify(k) : serialise(k, rnd)}${w()}:${w()}${serialise((v as Record<string, unknown>)[k], rnd)}`).join(`${w()},${w()}`)}${w()}}`;
  }

  /** Mostly the valid choice; now and then one the rules flag, so that both kinds are checked. */
  const mostly = (good: fc.Arbitrary<unknown>, bad: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> => fc.oneof({ weight: 40, arbitrary: good }, { weight: 1, arbitrary: bad });
  const text = mostly(
    fc.oneof(fc.constantFrom('What is the weather?', 'Looking it up.', 'Sunny, 21 °C — ça va.', 'line\nbreak "quoted" \\ back / slash', '😀 emoji'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }).map((x) => `${x}.`)),
    fc.constantFrom('', ' ', '\u00a0', 'x\ud800'),
  );
  const id = mostly(fc.constantFrom('call_1', 'call_2', 'call_3', 'c-ü'), fc.constantFrom('', 'a"b', 'x\\y'));
  const args = mostly(
    fc.oneof(fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), fc.constantFrom('{"city": "Paris", "days": 3}', '{ "q" : "caf\\u00e9 \\"x\\"", "n": -1.5e3, "ok": [true, false, null] }', '[]', '"s"', '1', ' {"a":\t{}}\r\n')),
    fc.oneof(fc.constantFrom('{city: Paris}', '{"a":1,}', '', '{"a":"\\x"}', '{"a": 01}', '{"a":1} {}', 'nan'), fc.jsonValue({ maxDepth: 2 })),
  );
  const call = fc.record({
    id,
    type: mostly(fc.constant('function'), fc.constant('tool')),
    function: fc.record({ name: mostly(fc.constantFrom('get_weather', 'search', 'ß'), fc.constantFrom('', 7)), arguments: args }),
  }).chain((c) => mostly(fc.constant(c), fc.constantFrom({ ...c, id: undefined }, { ...c, type: undefined })));
  const tools = fc.oneof(
    fc.constant([{ type: 'function', function: { name: 'get_weather', description: 'Weather now', parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 1, maximum: 7 } }, required: ['city'] } } }]),
    fc.array(fc.jsonValue({ maxDepth: 4 }), { maxLength: 3 }),
    mostly(fc.constant([]), fc.jsonValue({ maxDepth: 1 })),
  );
  /** An assistant message with calls, then a result for each (mostly answering its id). */
  const step = fc.record({
    content: fc.oneof(fc.constant(null), fc.constant(undefined), text),
    calls: mostly(fc.array(call, { minLength: 1, maxLength: 3 }), fc.constantFrom([], null, 'x')),
    answered: fc.array(fc.record({ id: mostly(fc.constant(undefined), id), content: text, name: mostly(fc.constantFrom(undefined, 'get_weather'), fc.constant(3)) }), { minLength: 3, maxLength: 3 }),
  }).map(({ content, calls, answered }) => {
    const msgs: Record<string, unknown>[] = [{ role: 'assistant', content, tool_calls: calls }];
    if (Array.isArray(calls)) {
      calls.forEach((c: unknown, k: number) => {
        const r = answered[k]!;
        msgs.push({ role: 'tool', tool_call_id: r.id ?? (c as { id?: unknown }).id ?? 'none', content: r.content, name: r.name });
      });
    }
    return msgs;
  });
  const plain = (role: string): fc.Arbitrary<Record<string, unknown>> => fc.record({ role: fc.constant(role), content: text });
  const round = fc.tuple(plain('user'), fc.array(step, { maxLength: 2 }), plain('assistant'))
    .map(([u, steps, a]) => [u, ...steps.flat(), a]);
  const extraMessageKey = fc.oneof({ weight: 12, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(['weight', 0], ['weight', 2], ['reasoning_content', 'x'], ['tool_call_id', 'call_1'], ['nme', 'x']) });
  const example = fc.record({
    system: fc.boolean(),
    rounds: fc.array(round, { minLength: 1, maxLength: 3 }),
    tools: fc.option(tools, { nil: undefined }),
    extra: extraMessageKey,
    extraAt: fc.nat(),
  }).map(({ system, rounds, tools, extra, extraAt }) => {
    const messages: Record<string, unknown>[] = [...(system ? [{ role: 'system', content: 'Be brief.' }] : []), ...rounds.flat()].map((m) => {
      const o: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(m)) if (v !== undefined) o[k] = v;
      return o;
    });
    if (extra) messages[extraAt % messages.length]![extra[0] as string] = extra[1];
    return tools === undefined ? { messages } : { messages, tools };
  });
  const line = fc.tuple(example, fc.integer()).map(([v, seed]) => serialise(v, lcg(seed)));
  const mutated = fc.tuple(line, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete', 'dupkey')).map(([l, at, byte, how]) => {
    const b = Buffer.from(l, 'utf8');
    const i = at % (b.length + 1);
    if (how === 'set' && i < b.length) b[i] = byte;
    if (how === 'insert') return Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]);
    if (how === 'delete') return Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
    if (how === 'dupkey') {
      // Repeat a key: "k": → "k":1,"k":
      const m = /"(\w+)"\s*:/g;
      const all = [...l.matchAll(m)];
      if (all.length) {
        const hit = all[at % all.length]!;
        return Buffer.from(l.slice(0, hit.index) + `${hit[0]}0,` + l.slice(hit.index));
      }
    }
    return b;
  });

  it('takes real agentic lines', () => {
    const t = '[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]';
    const lines = [
      `{"messages":[{"role":"user","content":"Weather in Paris and Lyon?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\": \\"Paris\\"}"}},{"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\":\\"Lyon\\"}"}}]},{"role":"tool","tool_call_id":"call_1","name":"get_weather","content":"{\\"temp\\": 21}"},{"role":"tool","tool_call_id":"call_2","content":"19"},{"role":"assistant","content":"Paris 21, Lyon 19."}],"tools":${t}}`,
      `{"tools": ${t}, "messages": [{"role": "system", "content": "Use tools."}, {"role": "user", "content": "Paris?"}, {"tool_calls": [{"function": {"arguments": "{}", "name": "get_weather"}, "type": "function", "id": "c"}], "role": "assistant"}, {"content": "sunny", "role": "tool", "tool_call_id": "c"}, {"role": "assistant", "content": "Sunny."}]}`,
    ];
    for (const l of lines) assert.ok(agrees(l), `declined ${l}`);
  });

  it('declines what the rules must see', () => {
    const u = '{"role":"user","content":"q"}';
    const call = (extra = '', args = '"{}"'): string => `{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":${args}}}]${extra}}`;
    const a = '{"role":"assistant","content":"a"}';
    const declined = [
      `{"messages":[${u},${call()},{"role":"tool","tool_call_id":"d","content":"r"},${a}]}`, // unmatched id
      `{"messages":[${u},${call('', '"{x}"')},{"role":"tool","tool_call_id":"c","content":"r"},${a}]}`, // arguments not JSON
      `{"messages":[${u},${call()},{"role":"tool","tool_call_id":"c","content":" "},${a}]}`, // blank tool result
      `{"messages":[${u},${call()},{"role":"tool","tool_call_id":"c","content":"r"}]}`, // ends on a tool result
      `{"messages":[${u},${call()},${a}]}`, // two assistants in a row
      `{"messages":[${u},${call()},{"role":"tool","tool_call_id":"c","content":"r"},${a}],"tools":{}}`, // tools not an array
      `{"messages":[${u},${call()},{"role":"tool","tool_call_id":"c","content":"r"},${a}],"tools":[{"a":1,"a":2}]}`, // a duplicate key in tools
      `{"messages":[${u},${call(',"weight":1')},{"role":"tool","tool_call_id":"c","content":"r"},${a}]}`,
      `{"messages":[${u},{"role":"user","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},${a}]}`,
      `{"messages":[${u},${call()},{"role":"tool","tool_call_id":"c","content":"r\\udc00"},${a}]}`, // a lone surrogate
    ];
    for (const l of declined) {
      assert.equal(fastCheck(l), -1, l);
      assert.ok(validateLine(l, opts).diagnostics.length > 0 || l.includes('"weight"'), l);
    }
  });

  it('takes a tool definition seen on an earlier line from its bytes alone: the same bytes, a near miss, many definitions (property)', () => {
    // The module keeps the canonical form of tool definitions it has seen, under a hash of their
    // first 64 bytes. Lines here reuse a few definitions, change one byte of one past those 64
    // (a near miss the cache must not mistake for the original), or name one of 2,000 tools (the
    // cache fills and overwrites). The reference is the full validator, as everywhere here.
    const definition = (name: string, extra: string): string =>
      `{"type": "function", "function": {"name": "${name}", "description": "Look up ${name} for the user${extra}.", "parameters": {"type": "object", "properties": {"q": {"type": "string", "description": "What to look up."}, "limit": {"type": "integer", "minimum": 1, "maximum": 20}}, "required": ["q"], "additionalProperties": false}}}`;
    const pool = ['get_weather', 'search_notes', 'read_file', 'send_email'].map((n) => definition(n, ''));
    const messages = '[{"role": "user", "content": "Find it."}, {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "search_notes", "arguments": "{\\"q\\": \\"it\\"}"}}]}, {"role": "tool", "tool_call_id": "c1", "content": "found"}, {"role": "assistant", "content": "Here."}]';
    const nearMiss = fc.tuple(fc.nat(pool.length - 1), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete', 'dupkey')).map(([k, at, byte, how]) => {
      const b = Buffer.from(pool[k]!, 'utf8');
      const i = 64 + (at % (b.length - 64)); // past the bytes the cache hashes
      if (how === 'set') b[i] = byte;
      if (how === 'insert') return Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]);
      if (how === 'delete') return Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
      if (how === 'dupkey') {
        const keys = [...pool[k]!.matchAll(/"(\w+)": /g)].filter((m) => m.index! >= 64);
        const hit = keys[at % keys.length]!;
        return Buffer.from(pool[k]!.slice(0, hit.index) + `${hit[0]}0, ` + pool[k]!.slice(hit.index));
      }
      return b;
    });
    const item = fc.oneof(
      { weight: 6, arbitrary: fc.nat(pool.length - 1).map((k) => Buffer.from(pool[k]!)) },
      { weight: 2, arbitrary: nearMiss },
      { weight: 2, arbitrary: fc.nat(1999).map((k) => Buffer.from(definition(`tool_${k}`, k % 3 === 0 ? ' — ça' : ''))) },
    );
    const sep = fc.constantFrom(', ', ',', ' , ', ',\t');
    const line = fc.tuple(fc.array(fc.tuple(item, sep), { minLength: 1, maxLength: 5 }), fc.boolean()).map(([items, toolsFirst]) => {
      const tools = Buffer.concat(['[', ...items.flatMap(([t, s], k) => (k ? [s, t] : [t])), ']'].map((x) => (typeof x === 'string' ? Buffer.from(x) : x)));
      return toolsFirst
        ? Buffer.concat([Buffer.from('{"tools": '), tools, Buffer.from(`, "messages": ${messages}}`)])
        : Buffer.concat([Buffer.from(`{"messages": ${messages}, "tools": `), tools, Buffer.from('}')]);
    });
    let taken = 0;
    fc.assert(
      fc.property(line, (l) => {
        if (agrees(l)) taken++;
      }),
      { numRuns: 20_000, seed: 1919 },
    );
    assert.ok(taken > 5000, `the fast path took only ${taken} lines`);
    // The same definition after a near miss that declines, and the near miss after the definition.
    const good = pool[0]!;
    const dup = good.replace('"minimum": 1', '"minimum": 1, "minimum": 2');
    for (const tools of [[good], [dup], [good], [dup, good], [good, dup]]) {
      const l = `{"messages": ${messages}, "tools": [${tools.join(', ')}]}`;
      if (tools.includes(dup)) assert.equal(fastCheck(l), -1, 'a duplicate key past the cached prefix');
      else assert.ok(agrees(l));
    }
  });

  it('agrees with the full validator on generated and mutated tool-call lines (property)', () => {
    let taken = 0;
    fc.assert(
      fc.property(fc.oneof({ weight: 3, arbitrary: line }, { weight: 1, arbitrary: mutated }), (l) => {
        if (agrees(l)) taken++;
      }),
      { numRuns: 20_000, seed: 19 },
    );
    assert.ok(taken > 1000, `the fast path took only ${taken} tool-call lines`);
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
