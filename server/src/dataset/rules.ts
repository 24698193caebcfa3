/**
 * The example rules: pure checks on a parsed line. They name *where* a problem is as a path into
 * the JSON (resolved to columns later, only when there is a problem), so the fast path for a
 * good line is JSON.parse plus these checks and nothing else.
 */
import type { Code } from './codes';
import { suggest } from './suggest';

export type Path = readonly (string | number)[];

/** Where a diagnostic goes: a key, a value, or the whole line. */
export type Target = { readonly path: Path; readonly part: 'key' | 'value' } | { readonly whole: true };

export type FixEdit =
  | { readonly kind: 'replace'; readonly at: Target; readonly newText: string }
  | { readonly kind: 'replaceLine'; readonly newText: string }
  | { readonly kind: 'deleteLine' }
  | { readonly kind: 'deleteSpan'; readonly start: number; readonly end: number };

export interface Fix {
  readonly title: string;
  readonly edit: FixEdit;
}

export interface Issue {
  readonly code: Code;
  readonly message: string;
  readonly at: Target;
  readonly fix?: Fix;
}

export interface RuleOptions {
  /** Accept the `developer` role (OpenAI's newer name for system), when the model's template supports it. */
  readonly allowDeveloperRole: boolean;
}

export const BASE_ROLES = ['system', 'user', 'assistant', 'tool'] as const;
const TOP_KEYS = new Set(['messages', 'tools', 'parallel_tool_calls']);
const MESSAGE_KEYS = new Set(['role', 'content', 'name', 'tool_calls', 'tool_call_id', 'weight', 'reasoning_content']);
/** Role names of other formats, with the role they mean here. */
const ROLE_ALIASES: Record<string, string> = {
  human: 'user',
  gpt: 'assistant',
  bot: 'assistant',
  model: 'assistant',
  ai: 'assistant',
  chatgpt: 'assistant',
  function: 'tool',
  ipython: 'tool',
};

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

const q = (s: string): string => JSON.stringify(s);

/** A value as a message shows it; a number too large for a double (1e400) is said to overflow, not shown as JSON.stringify's null. */
function describeValue(v: unknown): string {
  if (typeof v === 'number' && !Number.isFinite(v)) return `a number too large for a 64-bit float: it overflows to ${v > 0 ? '' : '-'}infinity`;
  return JSON.stringify(v);
}
const key = (path: Path): Target => ({ path, part: 'key' });
const val = (path: Path): Target => ({ path, part: 'value' });

export function allowedRoles(opts: RuleOptions): string[] {
  return opts.allowDeveloperRole ? [...BASE_ROLES, 'developer'] : [...BASE_ROLES];
}

/** ShareGPT `{"conversations":[{"from","value"}]}` → chat format, or undefined when it cannot be mapped. */
export function convertShareGpt(turns: unknown): JsonObject | undefined {
  if (!Array.isArray(turns)) return undefined;
  const messages: JsonObject[] = [];
  for (const t of turns) {
    if (!isObject(t)) return undefined;
    const from = typeof t['from'] === 'string' ? t['from'].toLowerCase() : typeof t['role'] === 'string' ? t['role'] : undefined;
    const value = t['value'] ?? t['content'];
    if (from === undefined) return undefined;
    const role = ROLE_ALIASES[from] ?? from;
    messages.push({ role, content: value ?? '' });
  }
  return { messages };
}

/** Alpaca `{"instruction", "input"?, "output"}` → chat format (the input, when there is one, after the instruction). */
export function convertAlpaca(obj: JsonObject): JsonObject | undefined {
  const { instruction, input, output, system } = obj;
  if (typeof instruction !== 'string' || typeof output !== 'string') return undefined;
  if (input !== undefined && input !== null && typeof input !== 'string') return undefined;
  if (system !== undefined && typeof system !== 'string') return undefined;
  const user = input ? `${instruction}\n\n${input}` : instruction;
  const messages: JsonObject[] = [];
  if (system) messages.push({ role: 'system', content: system });
  messages.push({ role: 'user', content: user }, { role: 'assistant', content: output });
  return { messages };
}

export function convertPromptCompletion(obj: JsonObject): JsonObject | undefined {
  const { prompt, completion } = obj;
  if (typeof prompt !== 'string' || typeof completion !== 'string') return undefined;
  return { messages: [{ role: 'user', content: prompt }, { role: 'assistant', content: completion }] };
}

/**
 * True only for the most common clean shape: {"messages": [...]} alone, each message exactly
 * {role, content} with a non-blank string content, an optional first system message, no two
 * same roles in a row, ending with the assistant. Such an example has no issue, so the full
 * rules can be skipped (measured: a fifth of validation's CPU on typical data). A property test
 * checks that checkExample finds nothing wherever this says true.
 */
export function isPlainCleanExample(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  for (const k in value) if (k !== 'messages') return false;
  const ms = (value as { messages?: unknown }).messages;
  if (!Array.isArray(ms) || ms.length === 0) return false;
  let prev = '';
  for (let i = 0; i < ms.length; i++) {
    const m: unknown = ms[i];
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return false;
    for (const k in m) if (k !== 'role' && k !== 'content') return false;
    const { role, content } = m as { role?: unknown; content?: unknown };
    if (typeof role !== 'string' || typeof content !== 'string' || !NON_BLANK.test(content)) return false;
    if (role === 'system') {
      if (i > 0) return false;
    } else if (role !== 'user' && role !== 'assistant') return false;
    if (role === prev) return false;
    prev = role;
  }
  return prev === 'assistant';
}

/** The complement of String.prototype.trim's whitespace (the same set as \s). */
const NON_BLANK = /\S/;

export function checkExample(value: unknown, opts: RuleOptions): Issue[] {
  if (isPlainCleanExample(value)) return [];
  const out: Issue[] = [];
  if (!isObject(value)) {
    if (Array.isArray(value) && value.length > 0 && value.every((m) => isObject(m) && 'role' in m)) {
      out.push({
        code: 'not-object',
        message: 'the line is an array of messages; each line must be an object: {"messages": [...]}',
        at: { whole: true },
        fix: { title: 'Wrap in {"messages": …}', edit: { kind: 'replaceLine', newText: JSON.stringify({ messages: value }) } },
      });
    } else {
      out.push({ code: 'not-object', message: `each line must be a JSON object like {"messages": [...]}, got ${typeName(value)}`, at: { whole: true } });
    }
    return out;
  }

  const explained = new Set<string>();
  if (!('messages' in value)) {
    if ('conversations' in value) {
      explained.add('conversations');
      const converted = convertShareGpt(value['conversations']);
      out.push({
        code: 'missing-messages',
        message: 'this looks like ShareGPT format ("conversations" with "from"/"value"); LoRA Queue reads the chat format {"messages": [{"role", "content"}]}',
        at: key(['conversations']),
        ...(converted && { fix: { title: 'Convert ShareGPT to chat messages', edit: { kind: 'replaceLine', newText: JSON.stringify(converted) } } }),
      });
    } else if ('instruction' in value && ('output' in value || 'input' in value)) {
      explained.add('instruction').add('input').add('output');
      if (typeof value['system'] === 'string') explained.add('system');
      const converted = convertAlpaca(value);
      out.push({
        code: 'missing-messages',
        message: 'this looks like Alpaca format ("instruction"/"input"/"output"); LoRA Queue reads the chat format {"messages": [{"role": "user", …}, {"role": "assistant", …}]}',
        at: key(['instruction']),
        ...(converted && { fix: { title: 'Convert Alpaca to chat messages', edit: { kind: 'replaceLine', newText: JSON.stringify(converted) } } }),
      });
    } else if ('prompt' in value || 'completion' in value) {
      explained.add('prompt').add('completion');
      const converted = convertPromptCompletion(value);
      out.push({
        code: 'missing-messages',
        message: 'this is a prompt/completion example; LoRA Queue reads the chat format {"messages": [{"role": "user", …}, {"role": "assistant", …}]}',
        at: key(['prompt' in value ? 'prompt' : 'completion']),
        ...(converted && { fix: { title: 'Convert prompt/completion to chat messages', edit: { kind: 'replaceLine', newText: JSON.stringify(converted) } } }),
      });
    } else {
      const near = Object.keys(value).find((k) => suggest(k, ['messages']) === 'messages');
      if (near !== undefined) {
        explained.add(near);
        out.push({
          code: 'missing-messages',
          message: `no "messages" key — did you mean "messages" instead of ${q(near)}?`,
          at: key([near]),
          fix: { title: `Rename ${q(near)} to "messages"`, edit: { kind: 'replace', at: key([near]), newText: '"messages"' } },
        });
      } else {
        out.push({ code: 'missing-messages', message: 'the example has no "messages" key: {"messages": [{"role": …, "content": …}, …]}', at: { whole: true } });
      }
    }
  }

  for (const k of Object.keys(value)) {
    if (TOP_KEYS.has(k) || explained.has(k)) continue;
    const s = suggest(k, [...TOP_KEYS]);
    out.push({
      code: 'unknown-key',
      message: s ? `unknown key ${q(k)} — did you mean ${q(s)}?` : `unknown key ${q(k)} is ignored by the trainer (expected ${[...TOP_KEYS].join(', ')})`,
      at: key([k]),
      ...(s && !(s in value) && { fix: { title: `Rename ${q(k)} to ${q(s)}`, edit: { kind: 'replace', at: key([k]), newText: q(s) } } }),
    });
  }
  if ('tools' in value && !Array.isArray(value['tools'])) {
    out.push({ code: 'bad-field', message: `"tools" must be an array of tool definitions, got ${typeName(value['tools'])}`, at: val(['tools']) });
  }

  if ('messages' in value) checkMessages(value['messages'], opts, out);
  return out;
}

function checkMessages(messages: unknown, opts: RuleOptions, out: Issue[]): void {
  const mp = ['messages'];
  if (!Array.isArray(messages)) {
    out.push({ code: 'messages-not-array', message: `"messages" must be an array of messages, got ${typeName(messages)}`, at: val(mp) });
    return;
  }
  if (messages.length === 0) {
    out.push({ code: 'empty-messages', message: '"messages" is empty: an example needs at least a user and an assistant message', at: val(mp) });
    return;
  }
  const roles = allowedRoles(opts);
  const callIds = new Set<string>();
  let hasAssistant = false;
  let prevRole: string | undefined;
  let lastRole: { role: string; index: number } | undefined;

  messages.forEach((m: unknown, i: number) => {
    const p = ['messages', i];
    if (!isObject(m)) {
      out.push({ code: 'message-not-object', message: `message ${i + 1} must be an object {"role": …, "content": …}, got ${typeName(m)}`, at: val(p) });
      prevRole = undefined;
      return;
    }
    const explained = new Set<string>();
    let role: string | undefined;
    if (!('role' in m)) {
      if ('from' in m) {
        explained.add('from').add('value');
        out.push({ code: 'missing-role', message: 'this message uses ShareGPT keys "from"/"value"; the chat format uses "role"/"content"', at: key([...p, 'from']), ...shareGptMessagesFix(messages) });
      } else {
        const near = Object.keys(m).find((k) => suggest(k, ['role']) === 'role');
        if (near !== undefined) explained.add(near);
        out.push({
          code: 'missing-role',
          message: near !== undefined ? `message ${i + 1} has no "role" — did you mean "role" instead of ${q(near)}?` : `message ${i + 1} has no "role" (one of ${roles.join(', ')})`,
          at: near !== undefined ? key([...p, near]) : val(p),
          ...(near !== undefined && { fix: { title: `Rename ${q(near)} to "role"`, edit: { kind: 'replace', at: key([...p, near]), newText: '"role"' } } }),
        });
      }
    } else if (typeof m['role'] !== 'string') {
      out.push({ code: 'unknown-role', message: `"role" must be a string (one of ${roles.join(', ')}), got ${typeName(m['role'])}`, at: val([...p, 'role']) });
    } else {
      role = m['role'];
      if (!roles.includes(role)) {
        const alias = ROLE_ALIASES[role.toLowerCase()];
        const fixTo = roles.includes(role.toLowerCase()) ? role.toLowerCase() : alias && roles.includes(alias) ? alias : suggest(role, roles);
        let message: string;
        if (role === 'developer') message = 'role "developer" is not enabled: set "roles.allowDeveloper": true in lora-queue.json if the model\'s chat template supports it, or use "system"';
        else if (alias) message = `role ${q(role)} is from another format; the chat format calls it ${q(alias)}`;
        else message = `role ${q(role)} is not one of ${roles.join(', ')}${fixTo ? ` — did you mean ${q(fixTo)}?` : ''}`;
        out.push({
          code: 'unknown-role',
          message,
          at: val([...p, 'role']),
          ...(fixTo && { fix: { title: `Change role to ${q(fixTo)}`, edit: { kind: 'replace', at: val([...p, 'role']), newText: q(fixTo) } } }),
        });
        role = fixTo; // judge the rest of the message as what it almost certainly is
      }
    }

    const toolCalls = m['tool_calls'];
    const hasToolCalls = toolCalls !== undefined && toolCalls !== null && !(Array.isArray(toolCalls) && toolCalls.length === 0);
    if (!('content' in m)) {
      if (!(role === 'assistant' && hasToolCalls) && !explained.has('value')) {
        const near = Object.keys(m).find((k) => k !== 'role' && ['value', 'text', 'message', 'contents', 'conent', 'contnet'].includes(k));
        if (near !== undefined) explained.add(near);
        out.push({
          code: 'missing-content',
          message: near !== undefined ? `message ${i + 1} has no "content" — did you mean "content" instead of ${q(near)}?` : `message ${i + 1}${role ? ` (${role})` : ''} has no "content"`,
          at: near !== undefined ? key([...p, near]) : val(p),
          ...(near !== undefined && !(near === 'value' && 'from' in m) && { fix: { title: `Rename ${q(near)} to "content"`, edit: { kind: 'replace', at: key([...p, near]), newText: '"content"' } } }),
        });
      }
    } else {
      const c = m['content'];
      if (c === null) {
        if (!(role === 'assistant' && hasToolCalls)) {
          out.push({ code: 'bad-content-type', message: '"content" is null; only an assistant message with "tool_calls" may omit its content', at: val([...p, 'content']) });
        }
      } else if (typeof c !== 'string') {
        const parts = Array.isArray(c) && c.every((x) => isObject(x) && typeof x['text'] === 'string');
        out.push({
          code: 'bad-content-type',
          message: parts
            ? '"content" is a list of content parts; most chat templates expect a string — join the text parts'
            : `"content" must be a string, got ${typeName(c)}`,
          at: val([...p, 'content']),
          ...(parts && {
            fix: { title: 'Join the text parts into one string', edit: { kind: 'replace', at: val([...p, 'content']), newText: q((c as JsonObject[]).map((x) => x['text']).join('')) } },
          }),
        });
      } else if (c.trim() === '' && !(role === 'assistant' && hasToolCalls)) {
        out.push({ code: 'empty-content', message: `message ${i + 1}${role ? ` (${role})` : ''} has empty content`, at: val([...p, 'content']) });
      }
    }

    if (toolCalls !== undefined && toolCalls !== null) checkToolCalls(toolCalls, role, [...p, 'tool_calls'], callIds, out);
    if ('tool_call_id' in m) {
      const id = m['tool_call_id'];
      if (typeof id !== 'string') {
        out.push({ code: 'bad-field', message: `"tool_call_id" must be a string, got ${typeName(id)}`, at: val([...p, 'tool_call_id']) });
      } else if (role === 'tool' && !callIds.has(id)) {
        out.push({
          code: 'unmatched-tool-call-id',
          message: callIds.size
            ? `tool_call_id ${q(id)} matches no earlier tool call in this example (calls made: ${[...callIds].map(q).join(', ')})`
            : `tool_call_id ${q(id)} matches no earlier tool call: no assistant message before it has "tool_calls"`,
          at: val([...p, 'tool_call_id']),
        });
      }
    }
    if ('weight' in m && m['weight'] !== 0 && m['weight'] !== 1) {
      out.push({ code: 'bad-field', message: `"weight" must be 0 (do not train on this message) or 1, got ${describeValue(m['weight'])}`, at: val([...p, 'weight']) });
    }
    if ('name' in m && typeof m['name'] !== 'string') {
      out.push({ code: 'bad-field', message: `"name" must be a string, got ${typeName(m['name'])}`, at: val([...p, 'name']) });
    }
    for (const k of Object.keys(m)) {
      if (MESSAGE_KEYS.has(k) || explained.has(k)) continue;
      const s = suggest(k, [...MESSAGE_KEYS]);
      out.push({
        code: 'unknown-key',
        message: s ? `unknown message key ${q(k)} — did you mean ${q(s)}?` : `unknown message key ${q(k)} is ignored by the trainer`,
        at: key([...p, k]),
        ...(s && !(s in m) && { fix: { title: `Rename ${q(k)} to ${q(s)}`, edit: { kind: 'replace', at: key([...p, k]), newText: q(s) } } }),
      });
    }

    if (role !== undefined) {
      if (role === 'assistant') hasAssistant = true;
      if ((role === 'system' || role === 'developer') && i > 0) {
        out.push({ code: 'system-not-first', message: `a ${role} message at position ${i + 1}; most chat templates expect it first (some drop or reject it elsewhere)`, at: val([...p, 'role']) });
      }
      if (prevRole !== undefined && role === prevRole && role !== 'tool') {
        out.push({ code: 'consecutive-roles', message: `two ${role} messages in a row (messages ${i} and ${i + 1}); merge them or add the missing turn`, at: val([...p, 'role']) });
      }
      lastRole = { role, index: i };
    }
    prevRole = role;
  });

  if (!hasAssistant) {
    out.push({ code: 'no-assistant', message: 'no assistant message: nothing in this example would train', at: key(mp) });
  }
  const lastIndex = messages.length - 1;
  if (lastRole && lastRole.index === lastIndex && lastRole.role !== 'assistant') {
    out.push({ code: 'last-not-assistant', message: `the last message is ${lastRole.role === 'tool' ? 'a tool result' : `from the ${lastRole.role}`}, not the assistant: it teaches nothing`, at: val([...mp, lastIndex, 'role']) });
  }
}

function shareGptMessagesFix(messages: unknown[]): { fix?: Fix } {
  const converted = convertShareGpt(messages);
  return converted ? { fix: { title: 'Convert ShareGPT messages to role/content', edit: { kind: 'replace', at: val(['messages']), newText: JSON.stringify(converted['messages']) } } } : {};
}

function checkToolCalls(calls: unknown, role: string | undefined, p: Path, ids: Set<string>, out: Issue[]): void {
  if (role !== undefined && role !== 'assistant') {
    out.push({ code: 'bad-tool-calls', message: `only assistant messages make tool calls; this message's role is ${q(role)}`, at: key(p) });
  }
  if (!Array.isArray(calls)) {
    out.push({ code: 'bad-tool-calls', message: `"tool_calls" must be an array, got ${typeName(calls)}`, at: val(p) });
    return;
  }
  calls.forEach((c: unknown, j: number) => {
    const cp = [...p, j];
    if (!isObject(c)) {
      out.push({ code: 'bad-tool-calls', message: `tool call ${j + 1} must be an object {"type": "function", "function": {"name", "arguments"}}, got ${typeName(c)}`, at: val(cp) });
      return;
    }
    if ('id' in c) {
      if (typeof c['id'] === 'string') ids.add(c['id']);
      else out.push({ code: 'bad-tool-calls', message: `tool call "id" must be a string, got ${typeName(c['id'])}`, at: val([...cp, 'id']) });
    }
    if ('type' in c && c['type'] !== 'function') {
      out.push({ code: 'bad-tool-calls', message: `tool call "type" must be "function", got ${JSON.stringify(c['type'])}`, at: val([...cp, 'type']) });
    }
    const fn = c['function'];
    if (!isObject(fn)) {
      out.push({ code: 'bad-tool-calls', message: `tool call ${j + 1} needs "function": {"name": …, "arguments": …}`, at: 'function' in c ? val([...cp, 'function']) : val(cp) });
      return;
    }
    if (typeof fn['name'] !== 'string' || fn['name'] === '') {
      out.push({ code: 'bad-tool-calls', message: 'the function of a tool call needs a non-empty "name"', at: 'name' in fn ? val([...cp, 'function', 'name']) : val([...cp, 'function']) });
    }
    const args = fn['arguments'];
    if (args === undefined) {
      out.push({ code: 'bad-tool-calls', message: 'the function of a tool call needs "arguments" (a JSON object, or a string holding one)', at: val([...cp, 'function']) });
    } else if (typeof args === 'string') {
      try {
        JSON.parse(args);
      } catch {
        out.push({ code: 'bad-tool-calls', message: '"arguments" is a string that does not hold valid JSON', at: val([...cp, 'function', 'arguments']) });
      }
    } else if (!isObject(args)) {
      out.push({ code: 'bad-tool-calls', message: `"arguments" must be an object or a JSON string, got ${typeName(args)}`, at: val([...cp, 'function', 'arguments']) });
    }
  });
}
