/** Every dataset diagnostic code, its severity and what it means. The contract codes come from the design notes. */

export type Severity = 'error' | 'warning' | 'info';

export const CODES = {
  // Errors: the file cannot be trained as is.
  'json-syntax': { severity: 'error', summary: 'The line is not valid JSON.' },
  'not-object': { severity: 'error', summary: 'The line is valid JSON but not an object.' },
  'missing-messages': { severity: 'error', summary: 'The example has no "messages" key.' },
  'messages-not-array': { severity: 'error', summary: '"messages" is not an array.' },
  'empty-messages': { severity: 'error', summary: '"messages" is an empty array.' },
  'message-not-object': { severity: 'error', summary: 'An element of "messages" is not an object.' },
  'missing-role': { severity: 'error', summary: 'A message has no "role".' },
  'unknown-role': { severity: 'error', summary: 'A message has a role the trainer does not accept.' },
  'missing-content': { severity: 'error', summary: 'A message has no "content" (and is not an assistant tool call).' },
  'bad-content-type': { severity: 'error', summary: '"content" is not a string.' },
  'no-assistant': { severity: 'error', summary: 'The example has no assistant message, so nothing would train.' },
  'line-too-large': { severity: 'error', summary: 'The line is longer than the configured limit.' },
  'invalid-utf8': { severity: 'error', summary: 'The line holds bytes that are not valid UTF-8.' },
  'empty-file': { severity: 'error', summary: 'The file holds no examples.' },
  // Errors this project adds for the tool-call format.
  'bad-tool-calls': { severity: 'error', summary: '"tool_calls" is malformed.' },
  'unmatched-tool-call-id': { severity: 'error', summary: 'A tool message answers a call id that no earlier assistant message made.' },
  'bad-field': { severity: 'error', summary: 'A known field has the wrong type or value (weight, name, tool_call_id, tools).' },
  // Errors found with the base model's chat template (token counts): the trainer stops on such a line.
  'chat-template': { severity: 'error', summary: 'The base model\'s chat template raises on this example (e.g. roles that do not alternate).' },
  unmaskable: { severity: 'error', summary: 'No rule of the training mask contract can locate the tokens this example trains.' },
  // Errors found by fuzzing: JSON that JSON.parse accepts but Python, pyarrow or tokenizers do not read the same way.
  'lone-surrogate': { severity: 'error', summary: 'A \\uD800–\\uDFFF escape without its other half: not a character, not writable as UTF-8.' },
  'duplicate-key': { severity: 'error', summary: 'A key repeated in one object with another value: the last one wins, and pyarrow refuses the file.' },
  'lone-cr': { severity: 'error', summary: 'A carriage return not followed by a line feed: JSON Lines does not end a line there, Python\'s text mode and editors do.' },
  // Warnings.
  'unknown-key': { severity: 'warning', summary: 'A key the trainer ignores (often a typo).' },
  'empty-content': { severity: 'warning', summary: '"content" is empty or only whitespace.' },
  'last-not-assistant': { severity: 'warning', summary: 'The last message is not from the assistant; what follows the last assistant turn does not train.' },
  'system-not-first': { severity: 'warning', summary: 'A system message that is not the first message.' },
  'consecutive-roles': { severity: 'warning', summary: 'Two messages in a row have the same role.' },
  'duplicate-example': { severity: 'warning', summary: 'The example repeats an earlier one.' },
  'blank-line': { severity: 'warning', summary: 'An empty line between examples.' },
  bom: { severity: 'warning', summary: 'The file starts with a UTF-8 byte order mark.' },
  'duplicate-key-same': { severity: 'warning', summary: 'A key repeated in one object with the same value, or a key the trainer ignores: nothing changes, but pyarrow refuses the file.' },
  'too-long': { severity: 'warning', summary: 'The example is longer than maxSeqLength in the model\'s tokens.' },
  // Info.
  'too-many-diagnostics': { severity: 'info', summary: 'The per-file diagnostic cap was reached; the rest were left out.' },
} as const satisfies Record<string, { severity: Severity; summary: string }>;

export type Code = keyof typeof CODES;

export function severityOf(code: Code): Severity {
  return CODES[code].severity;
}
