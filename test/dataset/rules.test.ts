import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { hashingReady } from '../../server/src/dataset/hash';
import { validateLine, type LineDiagnostic } from '../../server/src/dataset/line';
import { CODES } from '../../server/src/dataset/codes';
import { applyLineFix } from '../helpers/fixes';

const opts = { allowDeveloperRole: false };

function check(line: string, o = opts): LineDiagnostic[] {
  return validateLine(line, o).diagnostics;
}

/** The text a diagnostic's range covers: what a user sees underlined. */
function underlined(line: string, d: LineDiagnostic): string {
  return line.slice(d.startCol, d.endCol);
}

function only(line: string, code: string, o = opts): LineDiagnostic {
  const ds = check(line, o).filter((d) => d.code === code);
  assert.equal(ds.length, 1, `expected one ${code} in ${line}, got ${JSON.stringify(check(line, o))}`);
  return ds[0]!;
}

function codes(line: string, o = opts): string[] {
  return check(line, o).map((d) => d.code).sort();
}

/** Applies the diagnostic's fix and returns the codes left on the fixed line. */
function fixAndRecheck(line: string, code: string): { fixed: string; codes: string[] } {
  const d = only(line, code);
  assert.ok(d.fix, `${code} should offer a quick fix`);
  const [fixed] = applyLineFix([line], 0, d.fix);
  return { fixed: fixed!, codes: codes(fixed!) };
}

const good = (extra = ''): string => `{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"${extra}}]}`;

// The duplicate hash runs on WebAssembly, which starts asynchronously.
before(() => hashingReady());

describe('good examples', () => {
  it('accepts a plain chat example with no diagnostics', () => {
    assert.deepEqual(check(good()), []);
  });
  it('accepts tool calls with matching ids, weight and name', () => {
    const line = JSON.stringify({
      messages: [
        { role: 'user', content: 'Weather in Paris?', name: 'ann' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }], weight: 0 },
        { role: 'tool', tool_call_id: 'call_1', content: '18C' },
        { role: 'assistant', content: 'It is 18C.', weight: 1 },
      ],
      tools: [{ type: 'function', function: { name: 'weather' } }],
    });
    assert.deepEqual(check(line), []);
  });
  it('accepts the developer role only when the config allows it', () => {
    const line = '{"messages":[{"role":"developer","content":"x"},{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}';
    assert.deepEqual(check(line, { allowDeveloperRole: true }), []);
    const d = only(line, 'unknown-role');
    assert.equal(underlined(line, d), '"developer"');
    assert.match(d.message, /roles\.allowDeveloper/);
  });
});

describe('every error code, on the offending token', () => {
  it('json-syntax points at the error', () => {
    const line = '{"messages": [1 2]}';
    const d = only(line, 'json-syntax');
    assert.equal(d.severity, 'error');
    assert.equal(underlined(line, d), '2');
  });
  it('not-object on a non-object line', () => {
    assert.equal(only('42', 'not-object').severity, 'error');
    assert.equal(underlined('  "text" ', only('  "text" ', 'not-object')), '"text"');
  });
  it('not-object offers to wrap a bare array of messages', () => {
    const r = fixAndRecheck('[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]', 'not-object');
    assert.deepEqual(r.codes, []);
  });
  it('missing-messages on the whole object', () => {
    const line = '{"msgs2": []}';
    const d = only(line, 'missing-messages');
    assert.equal(underlined(line, d), line);
  });
  it('missing-messages suggests the misspelt key and fixes it', () => {
    const line = '{"mesages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}';
    const d = only(line, 'missing-messages');
    assert.equal(underlined(line, d), '"mesages"');
    assert.match(d.message, /did you mean "messages"/);
    assert.deepEqual(fixAndRecheck(line, 'missing-messages').codes, []);
  });
  it('messages-not-array, on the value', () => {
    const line = '{"messages": {"role": "user"}}';
    assert.equal(underlined(line, only(line, 'messages-not-array')), '{"role": "user"}');
  });
  it('empty-messages, on the empty array', () => {
    const line = '{"messages": [ ]}';
    assert.equal(underlined(line, only(line, 'empty-messages')), '[ ]');
  });
  it('message-not-object, on the element', () => {
    const line = '{"messages": [{"role":"user","content":"a"}, "oops", {"role":"assistant","content":"b"}]}';
    assert.equal(underlined(line, only(line, 'message-not-object')), '"oops"');
  });
  it('missing-role, on the message', () => {
    const line = '{"messages": [{"content":"a"},{"role":"assistant","content":"b"}]}';
    assert.equal(underlined(line, only(line, 'missing-role')), '{"content":"a"}');
  });
  it('unknown-role on the role string, with a did-you-mean fix for "asistant"', () => {
    const line = '{"messages":[{"role":"user","content":"a"},{"role":"asistant","content":"b"}]}';
    const d = only(line, 'unknown-role');
    assert.equal(underlined(line, d), '"asistant"');
    assert.match(d.message, /did you mean "assistant"/);
    assert.deepEqual(fixAndRecheck(line, 'unknown-role').codes, []);
  });
  it('unknown-role maps ShareGPT role names human/gpt', () => {
    const line = '{"messages":[{"role":"human","content":"a"},{"role":"gpt","content":"b"}]}';
    const ds = check(line).filter((d) => d.code === 'unknown-role');
    assert.deepEqual(ds.map((d) => underlined(line, d)), ['"human"', '"gpt"']);
    let fixed = line;
    for (let k = 0; k < 2; k++) {
      const d = check(fixed).find((x) => x.code === 'unknown-role')!;
      fixed = applyLineFix([fixed], 0, d.fix!)[0]!;
    }
    assert.deepEqual(codes(fixed), []);
  });
  it('missing-content, and assistant tool calls need none', () => {
    const line = '{"messages":[{"role":"user"},{"role":"assistant","content":"b"}]}';
    assert.equal(underlined(line, only(line, 'missing-content')), '{"role":"user"}');
    const toolCall = '{"messages":[{"role":"user","content":"a"},{"role":"assistant","tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":{}}}]},{"role":"tool","tool_call_id":"1","content":"r"},{"role":"assistant","content":"done"}]}';
    assert.deepEqual(check(toolCall), []);
  });
  it('bad-content-type, on the value; content parts can be joined', () => {
    const line = '{"messages":[{"role":"user","content":42},{"role":"assistant","content":"b"}]}';
    assert.equal(underlined(line, only(line, 'bad-content-type')), '42');
    const parts = '{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},{"role":"assistant","content":"c"}]}';
    assert.deepEqual(fixAndRecheck(parts, 'bad-content-type').codes, []);
  });
  it('no-assistant, on the "messages" key', () => {
    const line = '{"messages":[{"role":"user","content":"a"}]}';
    const d = only(line, 'no-assistant');
    assert.equal(underlined(line, d), '"messages"');
    assert.deepEqual(codes(line), ['last-not-assistant', 'no-assistant']);
  });
  it('unmatched-tool-call-id, on the id', () => {
    const line = '{"messages":[{"role":"user","content":"a"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c9","content":"r"},{"role":"assistant","content":"b"}]}';
    const d = only(line, 'unmatched-tool-call-id');
    assert.equal(d.severity, 'error');
    assert.equal(underlined(line, d), '"c9"');
    assert.match(d.message, /"c1"/);
  });
  it('a tool answer before the call is unmatched too', () => {
    const line = '{"messages":[{"role":"user","content":"a"},{"role":"tool","tool_call_id":"c1","content":"r"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"assistant","content":"b"}]}';
    assert.equal(only(line, 'unmatched-tool-call-id').code, 'unmatched-tool-call-id');
  });
  it('bad-tool-calls on malformed calls', () => {
    const line = '{"messages":[{"role":"user","content":"a"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{not json"}}]},{"role":"assistant","content":"b"}]}';
    assert.equal(underlined(line, only(line, 'bad-tool-calls')), '"{not json"');
  });
  it('bad-field for a weight that is not 0 or 1', () => {
    const line = good(',"weight":0.5');
    assert.equal(underlined(line, only(line, 'bad-field')), '0.5');
  });
});

describe('every warning code', () => {
  it('unknown-key with did-you-mean and fix', () => {
    const line = good(',"wieght":0');
    const d = only(line, 'unknown-key');
    assert.equal(d.severity, 'warning');
    assert.equal(underlined(line, d), '"wieght"');
    assert.match(d.message, /did you mean "weight"/);
    assert.deepEqual(fixAndRecheck(line, 'unknown-key').codes, []);
  });
  it('empty-content', () => {
    const line = '{"messages":[{"role":"user","content":"  "},{"role":"assistant","content":"b"}]}';
    assert.equal(underlined(line, only(line, 'empty-content')), '"  "');
  });
  it('last-not-assistant, on the last role', () => {
    const line = '{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]}';
    const d = only(line, 'last-not-assistant');
    assert.equal(d.severity, 'warning');
    assert.equal(line.slice(0, d.startCol).split('"role"').length - 1, 3, 'points at the third role');
  });
  it('system-not-first', () => {
    const line = '{"messages":[{"role":"user","content":"a"},{"role":"system","content":"s"},{"role":"assistant","content":"b"}]}';
    assert.equal(underlined(line, only(line, 'system-not-first')), '"system"');
  });
  it('consecutive-roles, but not for parallel tool results', () => {
    const line = '{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},{"role":"assistant","content":"c"}]}';
    assert.equal(underlined(line, only(line, 'consecutive-roles')), '"user"');
    const tools = '{"messages":[{"role":"user","content":"a"},{"role":"assistant","tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{}"}},{"id":"2","type":"function","function":{"name":"g","arguments":"{}"}}]},{"role":"tool","tool_call_id":"1","content":"x"},{"role":"tool","tool_call_id":"2","content":"y"},{"role":"assistant","content":"z"}]}';
    assert.deepEqual(check(tools), []);
  });
  it('blank-line, fixed by deleting the line', () => {
    const d = only('   ', 'blank-line');
    assert.equal(d.severity, 'warning');
    assert.deepEqual(applyLineFix(['a', '   ', 'b'], 1, d.fix!), ['a', 'b']);
  });
});

describe('common mistakes get a specific message and a fix', () => {
  it('ShareGPT conversations are converted', () => {
    const line = '{"conversations":[{"from":"system","value":"s"},{"from":"human","value":"hi"},{"from":"gpt","value":"yo"}]}';
    const d = only(line, 'missing-messages');
    assert.match(d.message, /ShareGPT/);
    assert.equal(underlined(line, d), '"conversations"');
    const r = fixAndRecheck(line, 'missing-messages');
    assert.deepEqual(r.codes, []);
    assert.deepEqual(JSON.parse(r.fixed).messages.map((m: { role: string }) => m.role), ['system', 'user', 'assistant']);
  });
  it('ShareGPT from/value inside messages', () => {
    const line = '{"messages":[{"from":"human","value":"hi"},{"from":"gpt","value":"yo"}]}';
    const ds = check(line).filter((d) => d.code === 'missing-role');
    assert.equal(ds.length, 2);
    assert.match(ds[0]!.message, /ShareGPT/);
    const fixed = applyLineFix([line], 0, ds[0]!.fix!)[0]!;
    assert.deepEqual(codes(fixed), []);
  });
  it('prompt/completion lines are converted', () => {
    const line = '{"prompt":"2+2?","completion":"4"}';
    const r = fixAndRecheck(line, 'missing-messages');
    assert.deepEqual(r.codes, []);
    assert.deepEqual(JSON.parse(r.fixed), { messages: [{ role: 'user', content: '2+2?' }, { role: 'assistant', content: '4' }] });
  });
  it('a trailing comma is removed by its fix', () => {
    for (const line of ['{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},]}', '{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b",}]}']) {
      const d = only(line, 'json-syntax');
      assert.match(d.message, /trailing comma/);
      assert.equal(underlined(line, d), ',');
      assert.deepEqual(fixAndRecheck(line, 'json-syntax').codes, []);
    }
  });
  it('a line gets every code that applies', () => {
    const line = '{"messages":[{"role":"system","content":""},{"role":"user","content":"q"},{"role":"user","content":"q"}],"extra":1}';
    assert.deepEqual(codes(line), ['consecutive-roles', 'empty-content', 'last-not-assistant', 'no-assistant', 'unknown-key']);
  });
});

describe('what JSON.parse accepts silently but Python, pyarrow or tokenizers do not (found by fuzzing)', () => {
  const u = '{"role":"user","content":"q"}';
  const a = '{"role":"assistant","content":"a"}';
  it('a lone surrogate escape is an error at the escape; a pair is fine', () => {
    const line = `{"messages":[{"role":"user","content":"bad \\ud800 here"},${a}]}`;
    const d = only(line, 'lone-surrogate');
    assert.equal(d.severity, 'error');
    assert.equal(underlined(line, d), '\\ud800');
    assert.match(d.message, /lone UTF-16 surrogate/);
    // A low half alone, in a key, and after an escaped backslash (which is not an escape).
    const low = `{"messages":[{"role":"user","content":"x\\uDC00"},${a}],"\\ud83dk":1}`;
    assert.deepEqual(check(low).filter((d) => d.code === 'lone-surrogate').map((d) => underlined(low, d)), ['\\uDC00', '\\ud83d']);
    assert.deepEqual(codes(`{"messages":[{"role":"user","content":"\\\\ud800 \\ud83d\\ude00 😀"},${a}]}`), []);
    // Raw, as an editor's text can hold it.
    const raw = `{"messages":[{"role":"user","content":"x\ud800y"},${a}]}`;
    assert.equal(underlined(raw, only(raw, 'lone-surrogate')), '\ud800');
  });
  it('a duplicate key is reported at the second key: an error where it changes what trains, else a warning', () => {
    const top = `{"messages": "oops", "messages": [${u},${a}]}`;
    const d = only(top, 'duplicate-key');
    assert.equal(d.severity, 'error');
    assert.equal(d.startCol, top.lastIndexOf('"messages"'));
    assert.equal(underlined(top, d), '"messages"');
    const role = `{"messages":[{"role":"assistant","role":"user","content":"q"},${a}]}`;
    const r = only(role, 'duplicate-key');
    assert.equal(r.startCol, role.indexOf('"role"', role.indexOf('"role"') + 1));
    assert.match(r.message, /"role" appears twice in message 1 with different values/);
    // Deep inside a tool call: still what trains.
    const deep = `{"messages":[${u},{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","name":"g","arguments":"{}"}}]}]}`;
    assert.match(only(deep, 'duplicate-key').message, /in messages\[1\]\.tool_calls\[0\]\.function/);
    // The same value twice, or a key the trainer ignores twice: a warning.
    const same = `{"messages":[{"role":"user","role":"user","content":"q"},${a}]}`;
    assert.equal(only(same, 'duplicate-key-same').severity, 'warning');
    assert.deepEqual(codes(same), ['duplicate-key-same']);
    const ignored = `{"messages":[${u},${a}],"id":1,"id":2}`;
    assert.deepEqual(codes(ignored), ['duplicate-key-same', 'unknown-key']);
    // Keys and colons inside strings are not keys.
    assert.deepEqual(codes(`{"messages":[{"role":"user","content":"\\"role\\": \\"x\\":"},${a}]}`), []);
  });
  it('a number that overflows a double says so, not "got null"', () => {
    const line = `{"messages":[${u},{"role":"assistant","content":"a","weight":1e400}]}`;
    const d = only(line, 'bad-field');
    assert.match(d.message, /too large for a 64-bit float: it overflows to infinity/);
    assert.doesNotMatch(d.message, /null/);
    assert.equal(underlined(line, d), '1e400');
    assert.match(only(`{"messages":[${u},{"role":"assistant","content":"a","weight":-1e400}]}`, 'bad-field').message, /-infinity/);
  });
  it('a lone CR inside a line is an error on the CR, with a fix', () => {
    const line = `{"messages":[${u},\r${a}]}`;
    const d = only(line, 'lone-cr');
    assert.equal(d.severity, 'error');
    assert.equal(underlined(line, d), '\r');
    assert.deepEqual(fixAndRecheck(line, 'lone-cr').codes, []);
    // Between two examples on one line: the syntax error and the CR both.
    assert.deepEqual(codes(`{"messages":[${u},${a}]}\r{"messages":[${u},${a}]}`), ['json-syntax', 'lone-cr']);
  });
  it('a BOM that is not at the start of the file is named, with a fix', () => {
    const line = `\ufeff{"messages":[${u},${a}]}`;
    const d = only(line, 'json-syntax');
    assert.match(d.message, /byte order mark/);
    assert.doesNotMatch(d.message, /found '/);
    assert.equal(underlined(line, d), '\ufeff');
    assert.deepEqual(fixAndRecheck(line, 'json-syntax').codes, []);
    assert.match(only(`{"messages":\ufeff[${u},${a}]}`, 'json-syntax').message, /expected a value, found a byte order mark/);
  });
  it('Alpaca lines are named and converted', () => {
    const line = '{"instruction":"Translate to French","input":"cat","output":"chat"}';
    const d = only(line, 'missing-messages');
    assert.match(d.message, /Alpaca/);
    assert.equal(underlined(line, d), '"instruction"');
    assert.deepEqual(codes(line), ['missing-messages'], 'input and output are explained, not unknown keys');
    const r = fixAndRecheck(line, 'missing-messages');
    assert.deepEqual(r.codes, []);
    assert.deepEqual(JSON.parse(r.fixed), { messages: [{ role: 'user', content: 'Translate to French\n\ncat' }, { role: 'assistant', content: 'chat' }] });
    const noInput = fixAndRecheck('{"instruction":"Say hi","input":"","output":"hi","system":"Be kind."}', 'missing-messages');
    assert.deepEqual(JSON.parse(noInput.fixed).messages.map((m: { role: string; content: string }) => [m.role, m.content]), [['system', 'Be kind.'], ['user', 'Say hi'], ['assistant', 'hi']]);
  });
});

describe('the codes table', () => {
  it('has the severities of the design notes', () => {
    const errors = ['json-syntax', 'not-object', 'missing-messages', 'messages-not-array', 'empty-messages', 'message-not-object', 'missing-role', 'unknown-role', 'missing-content', 'bad-content-type', 'no-assistant', 'line-too-large', 'invalid-utf8', 'empty-file'];
    const warnings = ['unknown-key', 'empty-content', 'last-not-assistant', 'system-not-first', 'consecutive-roles', 'duplicate-example', 'blank-line', 'bom', 'too-long'];
    for (const c of errors) assert.equal(CODES[c as keyof typeof CODES].severity, 'error', c);
    for (const c of warnings) assert.equal(CODES[c as keyof typeof CODES].severity, 'warning', c);
  });
});
