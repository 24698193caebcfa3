/**
 * The validator's test corpus: lines of the formats people bring, clean and broken, each with the
 * codes it must get. The fuzz test (fuzz.test.ts) starts its mutations from these lines, and checks
 * each of them whole first. The last group came from fuzzing 1.07 M mutated lines (issue #19):
 * JSON that JSON.parse accepted with exit 0 while Python, pyarrow or a tokenizer does not.
 */
const U = '{"role":"user","content":"What is the weather in Paris?"}';
const A = '{"role":"assistant","content":"Sunny, 21 °C."}';
const TOOLS = '[{"type":"function","function":{"name":"get_weather","description":"Current weather","parameters":{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["c","f"]}},"required":["city"]}}}]';
const CALL = '{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\": \\"Paris\\"}"}},{"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\": \\"Lyon\\", \\"unit\\": \\"c\\"}"}}]}';
const RESULTS = '{"role":"tool","tool_call_id":"call_1","content":"{\\"temp\\": 21, \\"sky\\": \\"clear\\"}"},{"role":"tool","tool_call_id":"call_2","content":"{\\"temp\\": 19}"}';

export interface CorpusLine {
  readonly name: string;
  readonly line: string;
  /** The codes the line gets, sorted. */
  readonly codes: readonly string[];
}

export const CORPUS: readonly CorpusLine[] = [
  { name: 'plain chat', line: `{"messages":[${U},${A}]}`, codes: [] },
  { name: 'plain chat with system, Python spacing, escapes', line: '{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "caf\\u00e9 \\ud83d\\ude00?"}, {"role": "assistant", "content": "Oui.\\n"}]}', codes: [] },
  { name: 'parallel tool calls with a tools list', line: `{"tools":${TOOLS},"messages":[${U},${CALL},${RESULTS},${A}]}`, codes: [] },
  { name: 'weights and names', line: `{"messages":[${U},{"role":"assistant","content":"x","weight":0},{"role":"user","content":"again","name":"bob"},${A}]}`, codes: [] },
  { name: 'ShareGPT', line: '{"conversations":[{"from":"human","value":"hi"},{"from":"gpt","value":"yo"}]}', codes: ['missing-messages'] },
  { name: 'prompt/completion', line: '{"prompt":"2+2?","completion":"4"}', codes: ['missing-messages'] },
  { name: 'trailing comma', line: `{"messages":[${U},${A},]}`, codes: ['json-syntax'] },
  { name: 'unknown role', line: `{"messages":[${U},{"role":"asistant","content":"a"}]}`, codes: ['unknown-role'] },
  { name: 'unmatched tool call id', line: `{"messages":[${U},{"role":"tool","tool_call_id":"nope","content":"r"},${A}]}`, codes: ['unmatched-tool-call-id'] },
  { name: 'arguments that are not JSON', line: `{"messages":[${U},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{city: Paris}"}}]}]}`, codes: ['bad-tool-calls'] },
  // From fuzzing (issue #19).
  { name: 'lone surrogate escape', line: `{"messages":[{"role":"user","content":"bad \\ud800 here"},${A}]}`, codes: ['lone-surrogate'] },
  { name: 'lone low surrogate in a tool result', line: `{"messages":[${U},${CALL},{"role":"tool","tool_call_id":"call_1","content":"x\\udfff"},{"role":"tool","tool_call_id":"call_2","content":"y"},${A}]}`, codes: ['lone-surrogate'] },
  { name: 'duplicate messages key', line: `{"messages": "oops", "messages": [${U},${A}]}`, codes: ['duplicate-key'] },
  { name: 'duplicate role', line: `{"messages":[{"role":"assistant","role":"user","content":"q"},${A}]}`, codes: ['duplicate-key'] },
  { name: 'duplicate role, same value', line: `{"messages":[{"role":"user","role":"user","content":"q"},${A}]}`, codes: ['duplicate-key-same'] },
  { name: 'duplicate key in a tool schema', line: `{"tools":[{"type":"function","function":{"name":"f","name":"g"}}],"messages":[${U},${A}]}`, codes: ['duplicate-key'] },
  { name: 'weight 1e400', line: `{"messages":[${U},{"role":"assistant","content":"a","weight":1e400}]}`, codes: ['bad-field'] },
  { name: 'lone CR between messages', line: `{"messages":[${U},\r${A}]}`, codes: ['lone-cr'] },
  { name: 'BOM at the start of a line that is not the first', line: `\ufeff{"messages":[${U},${A}]}`, codes: ['json-syntax'] },
  { name: 'Alpaca', line: '{"instruction":"Translate to French","input":"cat","output":"chat"}', codes: ['missing-messages'] },
];
