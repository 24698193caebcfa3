/**
 * One line in, its diagnostics out. Pure: no I/O, nothing shared between lines except the
 * options. Columns are 0-based UTF-16 offsets within the line, end exclusive.
 */
import { severityOf, type Code, type Severity } from './codes';
import { hash53 } from './hash';
import { checkExample, type Fix, type Issue, type RuleOptions, type Target } from './rules';
import { nodeAt, scanJson, type JsonNode } from './locate';

export interface TextEdit {
  readonly startCol: number;
  readonly endCol: number;
  readonly newText: string;
}

/** A fix resolved to columns; `deleteLine` removes the line and its line break. */
export type LineFix = { readonly title: string; readonly edits: readonly TextEdit[] } | { readonly title: string; readonly deleteLine: true };

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
    return { diagnostics: [syntaxDiagnostic(text)], parsed: false, blank: false };
  }
  const issues = checkExample(value, opts);
  const diagnostics = issues.length ? resolveIssues(text, issues) : [];
  return { diagnostics, hash: exampleHash(value), parsed: true, blank: false };
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
  return diag('json-syntax', offset, Math.max(end, Math.min(text.length, offset + 1)), message, fix);
}

function resolveIssues(text: string, issues: Issue[]): LineDiagnostic[] {
  let root: JsonNode | undefined;
  const locate = (t: Target): { start: number; end: number } => {
    if ('whole' in t) return wholeRange(text);
    root ??= (() => {
      const r = scanJson(text);
      return r.ok ? r.root : undefined;
    })();
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
