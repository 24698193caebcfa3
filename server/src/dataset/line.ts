/**
 * One line in, its diagnostics out. Pure: no I/O, nothing shared between lines except the
 * options. Columns are 0-based UTF-16 offsets within the line, end exclusive.
 */
import { severityOf, type Code, type Severity } from './codes';
import { hash53 } from './hash';
import { checkExample, type Fix, type Issue, type RuleOptions, type Target } from './rules';
import { nodeAt, scanJson, type DuplicateKey, type JsonNode, type ScanResult } from './locate';

export interface TextEdit {
  /** Editor lines, where a line the CLI sees spans several in the editor (lone CRs; the language server's datasetDocument.ts). */
  readonly line?: number;
  readonly endLine?: number;
  readonly startCol: number;
  readonly endCol: number;
  readonly newText: string;
}

/** A fix resolved to columns; `deleteLine` removes the line and its line break (`lines` editor lines, 1 when not given). */
export type LineFix = { readonly title: string; readonly edits: readonly TextEdit[] } | { readonly title: string; readonly deleteLine: true; readonly lines?: number };

export interface LineDiagnostic {
  readonly startCol: number;
  readonly endCol: number;
  readonly code: Code;
  readonly severity: Severity;
  readonly message: string;
  readonly fix?: LineFix;
}

export interface LineResult {
  readonly diagnostics: LineDiagnostic[];
  /** 53-bit hash of the normalised example, for duplicate detection; undefined when the line is not an example. */
  readonly hash?: number;
  /** The line parsed as JSON (so it counts as an example, good or bad). */
  readonly parsed: boolean;
  readonly blank: boolean;
}

export type LineOptions = RuleOptions;

function diag(code: Code, startCol: number, endCol: number, message: string, fix?: LineFix): LineDiagnostic {
  return fix ? { code, severity: severityOf(code), startCol, endCol, message, fix } : { code, severity: severityOf(code), startCol, endCol, message };
}

const BLANK = /^[ \t\r\f\v\u00a0\ufeff]*$/;

export function validateLine(text: string, opts: LineOptions): LineResult {
  if (BLANK.test(text)) {
    return {
      diagnostics: [diag('blank-line', 0, text.length, 'blank line: JSON Lines has one example per line and no empty lines', { title: 'Delete the blank line', deleteLine: true })],
      parsed: false,
      blank: true,
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const diagnostics = [syntaxDiagnostic(text)];
    if (text.includes('\r')) diagnostics.push(...loneCrDiagnostics(text));
    return { diagnostics, parsed: false, blank: false };
  }
  const issues = checkExample(value, opts);
  let scanned: ScanResult | undefined;
  const scan = (): ScanResult => (scanned ??= scanJson(text));
  const diagnostics = issues.length ? resolveIssues(text, issues, scan) : [];
  // What JSON.parse accepts silently but Python, pyarrow or a tokenizer read otherwise. Each check
  // starts with a test that costs one native pass over the line, and looks closer only when it hits.
  if (text.includes('\r')) diagnostics.push(...loneCrDiagnostics(text));
  if (mayHoldLoneSurrogate(text)) diagnostics.push(...loneSurrogateDiagnostics(text));
  if (keysInText(text) !== keysInValue(value)) {
    const r = scan();
    if (r.ok) for (const d of r.duplicates) diagnostics.push(duplicateKeyDiagnostic(text, d));
  }
  return { diagnostics, hash: exampleHash(value), parsed: true, blank: false };
}

/**
 * JSON Lines ends a line only at \n, so a \r not followed by \n is inside the line: JSON.parse
 * takes it for whitespace, but Python's text mode (the reference trainer's `for line in open(…)`)
 * and editors end the line there, and the halves are not JSON.
 */
function loneCrDiagnostics(text: string): LineDiagnostic[] {
  const out: LineDiagnostic[] = [];
  for (let i = text.indexOf('\r'); i !== -1; i = text.indexOf('\r', i + 1)) {
    if (text.charCodeAt(i + 1) === 0x0a) continue;
    out.push(diag('lone-cr', i, i + 1,
      'a carriage return (\\r) not followed by \\n: JSON Lines does not end a line here, but Python\'s text mode (the trainer\'s `for line in open(…)`) and editors do, and neither half is JSON — replace it with a space, or end the line with \\n',
      { title: 'Replace the carriage return with a space', edits: [{ startCol: i, endCol: i + 1, newText: ' ' }] }));
  }
  return out;
}

/** True when the line may hold a lone surrogate: a \uD8xx–\uDFxx escape, or (from an editor) a raw unpaired surrogate. */
function mayHoldLoneSurrogate(text: string): boolean {
  return (text.includes('\\u') && /\\u[dD][89a-fA-F]/.test(text)) || !(text as unknown as WellFormed).isWellFormed();
}

/** ES2024's String.prototype.isWellFormed (Node 20 has it; the ES2023 lib does not declare it). */
interface WellFormed {
  isWellFormed(): boolean;
}

const isHigh = (u: number): boolean => u >= 0xd800 && u <= 0xdbff;
const isLow = (u: number): boolean => u >= 0xdc00 && u <= 0xdfff;

/**
 * Lone surrogates in the strings of a line JSON.parse accepted: a high half not followed by a low
 * one, or a low half alone, written as an escape or (from an editor) raw. Python's json.loads
 * accepts them too, but they are not characters: UTF-8 cannot hold them, so pyarrow and HF
 * datasets refuse the file and tokenizers raise.
 */
function loneSurrogateDiagnostics(text: string): LineDiagnostic[] {
  const out: LineDiagnostic[] = [];
  const unitAt = (i: number): { unit: number; len: number } | undefined => {
    const c = text.charCodeAt(i);
    if (c === 0x5c && text.charCodeAt(i + 1) === 0x75) return { unit: parseInt(text.slice(i + 2, i + 6), 16), len: 6 };
    if (c !== 0x5c && c !== 0x22) return { unit: c, len: 1 };
    return undefined;
  };
  let inString = false;
  for (let i = 0; i < text.length; ) {
    const c = text.charCodeAt(i);
    if (!inString) {
      if (c === 0x22) inString = true;
      i++;
      continue;
    }
    if (c === 0x22) {
      inString = false;
      i++;
      continue;
    }
    if (c === 0x5c && text.charCodeAt(i + 1) !== 0x75) {
      i += 2; // a two-character escape
      continue;
    }
    const u = unitAt(i)!;
    if (isHigh(u.unit)) {
      const next = unitAt(i + u.len);
      if (next && isLow(next.unit)) {
        i += u.len + next.len;
        continue;
      }
    }
    if (isHigh(u.unit) || isLow(u.unit)) {
      const shown = u.len === 6 ? text.slice(i, i + 6) : `U+${u.unit.toString(16).toUpperCase()}`;
      out.push(diag('lone-surrogate', i, i + u.len,
        `${shown} is a lone UTF-16 surrogate (${isHigh(u.unit) ? 'a high half with no low half after it' : 'a low half with no high half before it'}): it is not a character and UTF-8 cannot hold it, so Hugging Face datasets refuses the file and tokenizers raise — remove it, or write the whole character`));
    }
    i += u.len;
  }
  return out;
}

/** Keys in the text of a line JSON.parse accepted: each string followed by a colon. Strings are skipped with indexOf. */
function keysInText(text: string): number {
  let n = 0;
  for (let i = text.indexOf('"'); i !== -1; ) {
    // i is an opening quote: find the closing one (a quote after an even run of backslashes).
    let j = text.indexOf('"', i + 1);
    for (;;) {
      let k = j - 1;
      while (text.charCodeAt(k) === 0x5c) k--;
      if ((j - 1 - k) % 2 === 0) break;
      j = text.indexOf('"', j + 1);
    }
    let k = j + 1;
    for (let c = text.charCodeAt(k); c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a; c = text.charCodeAt(++k));
    if (text.charCodeAt(k) === 0x3a) n++;
    i = text.indexOf('"', k);
  }
  return n;
}

/** Keys of every object in a parsed value (after JSON.parse dropped the duplicates); iterative, for deep lines. */
function keysInValue(value: unknown): number {
  let n = 0;
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null) continue;
    if (Array.isArray(v)) {
      for (const x of v) if (typeof x === 'object' && x !== null) stack.push(x);
    } else {
      for (const k in v) {
        n++;
        const x = (v as Record<string, unknown>)[k];
        if (typeof x === 'object' && x !== null) stack.push(x);
      }
    }
  }
  return n;
}

const TRAINED_TOP_KEYS = new Set(['messages', 'tools']);
const TRAINED_MESSAGE_KEYS = new Set(['role', 'content', 'tool_calls', 'tool_call_id', 'weight', 'name', 'reasoning_content']);

/**
 * A key given twice: an error when the two values differ where the trainer reads them (the top-level
 * messages and tools, a message's known keys, anything inside them), since the last one silently
 * wins; a warning when they are the same, or the key is one the trainer ignores.
 */
function duplicateKeyDiagnostic(text: string, d: DuplicateKey): LineDiagnostic {
  const p = d.path;
  const trained = p.length === 0 ? TRAINED_TOP_KEYS.has(d.key)
    : p[0] === 'tools' ? true
      : p[0] === 'messages' && (p.length > 2 || (p.length === 2 && TRAINED_MESSAGE_KEYS.has(d.key)));
  const same = sameJson(text.slice(d.first.start, d.first.end), text.slice(d.second.start, d.second.end));
  const where = p.length === 0 ? 'in the example' : p[0] === 'messages' && typeof p[1] === 'number' && p.length === 2 ? `in message ${p[1] + 1}` : `in ${pathText(p)}`;
  if (trained && !same) {
    return diag('duplicate-key', d.keyStart, d.keyEnd,
      `key ${JSON.stringify(d.key)} appears twice ${where} with different values: JSON.parse and Python keep the second silently, and pyarrow (Hugging Face datasets) refuses the file — keep one`);
  }
  return diag('duplicate-key-same', d.keyStart, d.keyEnd,
    `key ${JSON.stringify(d.key)} appears twice ${where}${same ? ' with the same value' : ''}: nothing changes what trains, but pyarrow (Hugging Face datasets) refuses the file — remove one`);
}

function sameJson(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return stable(JSON.parse(a)) === stable(JSON.parse(b));
  } catch {
    return false; // nested too deep to compare: say they differ
  }
}

function pathText(p: readonly (string | number)[]): string {
  return p.map((x, i) => (typeof x === 'number' ? `[${x}]` : i === 0 ? x : `.${x}`)).join('');
}

function syntaxDiagnostic(text: string): LineDiagnostic {
  const scanned = scanJson(text);
  if (scanned.ok) {
    // JSON.parse rejected what the scanner accepts: should not happen; say so rather than guess.
    return diag('json-syntax', 0, text.length, 'the line is not valid JSON');
  }
  const { offset, length, message, kind } = scanned.error;
  const end = Math.min(text.length, offset + length);
  let fix: LineFix | undefined;
  if (kind === 'trailing-comma') fix = { title: 'Remove the trailing comma', edits: [{ startCol: offset, endCol: offset + 1, newText: '' }] };
  if (kind === 'bom') fix = { title: 'Remove the byte order mark', edits: [{ startCol: offset, endCol: offset + 1, newText: '' }] };
  return diag('json-syntax', offset, Math.max(end, Math.min(text.length, offset + 1)), message, fix);
}

function resolveIssues(text: string, issues: Issue[], scan: () => ScanResult): LineDiagnostic[] {
  const locate = (t: Target): { start: number; end: number } => {
    if ('whole' in t) return wholeRange(text);
    const r = scan();
    const root: JsonNode | undefined = r.ok ? r.root : undefined;
    const found = root && nodeAt(root, t.path);
    if (!found) return wholeRange(text);
    if (t.part === 'key' && found.prop) return { start: found.prop.keyStart, end: found.prop.keyEnd };
    return { start: found.node.start, end: found.node.end };
  };
  return issues.map((issue) => {
    const { start, end } = locate(issue.at);
    return diag(issue.code, start, end, issue.message, issue.fix && resolveFix(text, issue.fix, locate));
  });
}

function wholeRange(text: string): { start: number; end: number } {
  const start = text.length - text.trimStart().length;
  return { start, end: text.trimEnd().length };
}

function resolveFix(text: string, fix: Fix, locate: (t: Target) => { start: number; end: number }): LineFix {
  const e = fix.edit;
  switch (e.kind) {
    case 'replace': {
      const { start, end } = locate(e.at);
      return { title: fix.title, edits: [{ startCol: start, endCol: end, newText: e.newText }] };
    }
    case 'replaceLine':
      return { title: fix.title, edits: [{ startCol: 0, endCol: text.length, newText: e.newText }] };
    case 'deleteLine':
      return { title: fix.title, deleteLine: true };
    case 'deleteSpan':
      return { title: fix.title, edits: [{ startCol: e.start, endCol: e.end, newText: '' }] };
  }
}

/**
 * The duplicate key: a hash of the example's meaning rather than its bytes. Messages contribute
 * role and content, then any other fields in key order; top-level fields other than messages
 * follow in key order. So whitespace, key order and escaping differences (\u00e9 vs é) do not
 * hide a duplicate. Built from the strings JSON.parse already made, this costs about a fifth of
 * re-serialising the example with JSON.stringify (measured; see docs/benchmarks.md). 53 bits of
 * xxHash64 (hash.ts) keep the chance of a false duplicate below 1 in 10,000 for a million examples.
 */
export function exampleHash(value: unknown): number | undefined {
  let normal: string;
  try {
    normal = canonical(value);
  } catch {
    return undefined; // nested too deep to serialise: no duplicate check for this line
  }
  return hash53(normal);
}

const SEP = '\u0001';

function canonical(value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'V' + stable(value);
  const obj = value as Record<string, unknown>;
  let s = '';
  const messages = obj['messages'];
  if (Array.isArray(messages)) {
    for (const m of messages) {
      if (typeof m !== 'object' || m === null || Array.isArray(m)) {
        s += 'X' + stable(m) + SEP;
        continue;
      }
      const msg = m as Record<string, unknown>;
      const c = msg['content'];
      s += String(msg['role']) + '\u0000' + (typeof c === 'string' ? c : stable(c)) + SEP;
      const extra = Object.keys(msg).filter((k) => k !== 'role' && k !== 'content');
      if (extra.length) for (const k of extra.sort()) s += k + '\u0002' + stable(msg[k]) + SEP;
    }
  } else if ('messages' in obj) s += 'M' + stable(messages) + SEP;
  const rest = Object.keys(obj).filter((k) => k !== 'messages');
  if (rest.length) for (const k of rest.sort()) s += '\u0003' + k + '\u0002' + stable(obj[k]) + SEP;
  return s;
}

/** JSON with object keys sorted, for the rare non-string parts of an example. */
function stable(v: unknown): string {
  if (typeof v !== 'object' || v === null) return JSON.stringify(v) ?? 'undefined';
  if (Array.isArray(v)) return '[' + v.map(stable).join(',') + ']';
  const o = v as Record<string, unknown>;
  return '{' + Object.keys(o).sort().map((k) => JSON.stringify(k) + ':' + stable(o[k])).join(',') + '}';
}
