import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { hashingReady } from '../../server/src/dataset/hash';
import fc from 'fast-check';
import { scanJson } from '../../server/src/dataset/locate';
import { validateLine } from '../../server/src/dataset/line';

const opts = { allowDeveloperRole: false };

function syntax(line: string): { text: string; message: string; col: number } {
  const ds = validateLine(line, opts).diagnostics;
  assert.equal(ds.length, 1, JSON.stringify(ds));
  const d = ds[0]!;
  assert.equal(d.code, 'json-syntax');
  return { text: line.slice(d.startCol, d.endCol), message: d.message, col: d.startCol };
}

// The duplicate hash runs on WebAssembly, which starts asynchronously.
before(() => hashingReady());

describe('json-syntax locations and messages', () => {
  const cases: [string, string, RegExp][] = [
    ['{"messages": [}', '}', /expected a value/],
    ["{'messages': []}", "'", /double quotes/],
    ['{messages: []}', 'messages', /must be in double quotes/],
    ['{"a": 1 "b": 2}', '"', /comma is missing/],
    ['{"a": NaN}', 'NaN', /NaN is not valid JSON/],
    ['{"a": 01}', '01', /leading zeros/],
    ['{"a": "x\\qy"}', '\\q', /bad escape/],
    ['{"a": 1} // note', '//', /unexpected|comments/],
    ['{"a": 1}{"b": 2}', '{"b": 2}', /second JSON value/],
    ['{"a": 1},', ',', /comma after the JSON object/],
    ['{"a": [1, 2,]}', ',', /trailing comma/],
    ['{"a": "tab\there"}', '\t', /must be escaped/],
  ];
  for (const [line, underlined, message] of cases) {
    it(`${line} → ${underlined}`, () => {
      const s = syntax(line);
      assert.equal(s.text, underlined);
      assert.match(s.message, message);
    });
  }
  it('a pretty-printed object says so', () => {
    const s = syntax('{');
    assert.match(s.message, /pretty-printed/);
  });
  it('an unterminated string covers the string', () => {
    const s = syntax('{"messages": "abc');
    assert.equal(s.text, '"abc');
    assert.match(s.message, /unterminated string/);
  });
  it('a NUL byte is named', () => {
    const s = syntax('{"a": "x\u0000y"}');
    assert.equal(s.col, 8);
    assert.match(s.message, /NUL byte/);
  });
  it('nesting 100,000 deep neither throws nor overflows', () => {
    const deep = '{"messages":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}';
    const r = validateLine(deep, opts);
    assert.deepEqual(r.diagnostics.map((d) => d.code), ['message-not-object', 'no-assistant']);
    const broken = '{"messages":' + '['.repeat(100_000) + ']'.repeat(99_999) + '}';
    const b = validateLine(broken, opts);
    assert.equal(b.diagnostics[0]!.code, 'json-syntax');
    assert.equal(b.diagnostics[0]!.startCol, broken.length - 1);
  });
});

/** Strings made from JSON's own alphabet, so that random lines are often nearly valid. */
const jsonish = fc.array(
  fc.constantFrom('{', '}', '[', ']', ',', ':', '"', '\\', ' ', 'a', '1', '-', '.', 'e', 'true', 'null', '"role"', '"messages"', '\u0000', '\t', 'é', '\ud83d\ude00', '\ud800'),
  { maxLength: 40 },
).map((a) => a.join(''));

describe('fuzz: the scanner agrees with JSON.parse, and nothing throws', () => {
  it('valid ⇔ accepted, on random and mutated lines', () => {
    const valid = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v));
    const mutated = fc.tuple(valid, fc.nat(), fc.constantFrom('', ',', '}', ']', '"', ' ', '\\', '\u0000', 'x')).map(([s, at, ins]) => {
      const i = s.length ? at % s.length : 0;
      return s.slice(0, i) + ins + s.slice(i + (at % 3 === 0 ? 1 : 0));
    });
    fc.assert(
      fc.property(fc.oneof(jsonish, valid, mutated), (line) => {
        let parses = true;
        try {
          JSON.parse(line);
        } catch {
          parses = false;
        }
        const scanned = scanJson(line);
        assert.equal(scanned.ok, parses, `scanner and JSON.parse disagree on ${JSON.stringify(line)}`);
      }),
      { numRuns: 20_000 },
    );
  });
  it('every diagnostic range lies within its line, on any input', () => {
    const anyLine = fc.oneof(jsonish, fc.string({ unit: 'binary', maxLength: 60 }), fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify({ messages: v })));
    fc.assert(
      fc.property(anyLine, (line) => {
        const r = validateLine(line, opts);
        for (const d of r.diagnostics) {
          assert.ok(d.startCol >= 0 && d.startCol <= d.endCol && d.endCol <= line.length, `bad range ${d.startCol}-${d.endCol} in ${JSON.stringify(line)} (${d.code})`);
          assert.ok(d.message.length > 0);
          if (d.fix && 'edits' in d.fix) for (const e of d.fix.edits) assert.ok(e.startCol >= 0 && e.startCol <= e.endCol && e.endCol <= line.length);
        }
      }),
      { numRuns: 20_000 },
    );
  });
});

describe('the fast path for clean examples', () => {
  it('says "clean" only where the full rules find nothing, and often enough to matter', () => {
    const { isPlainCleanExample, checkExample } = require('../../server/src/dataset/rules') as typeof import('../../server/src/dataset/rules');
    const role = fc.constantFrom('system', 'user', 'assistant', 'tool', 'developer', 'asistant', 'human', 'User');
    const content = fc.oneof(fc.constantFrom('', ' ', '\n\t', 'hi', ' x ', '\u00a0', '\u2028'), fc.string({ maxLength: 8 }));
    const message = fc.oneof(
      { weight: 8, arbitrary: fc.record({ role, content }) },
      { weight: 1, arbitrary: fc.record({ role, content, weight: fc.constantFrom(0, 1, 2) }) },
      { weight: 1, arbitrary: fc.record({ role }) },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
    );
    const example = fc.oneof(
      { weight: 8, arbitrary: fc.record({ messages: fc.array(message, { maxLength: 5 }) }) },
      { weight: 1, arbitrary: fc.record({ messages: fc.array(message, { maxLength: 4 }), extra: fc.jsonValue({ maxDepth: 1 }) }) },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    );
    let clean = 0;
    fc.assert(
      fc.property(example, (v) => {
        if (!isPlainCleanExample(v)) return;
        clean++;
        for (const allowDeveloperRole of [false, true]) assert.deepEqual(checkExample(v, { allowDeveloperRole }), [], JSON.stringify(v));
      }),
      { numRuns: 30_000 },
    );
    assert.ok(clean > 200, `the property saw only ${clean} clean examples`);
  });
});
