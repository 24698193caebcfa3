/**
 * The editor's view of one open dataset: a result per line, kept up to date incrementally.
 * An edit marks only the lines it touched; duplicates are tracked by hash counts, so a one-line
 * edit in a 10 MB buffer revalidates one line and walks the line array once to publish.
 *
 * Lines are the editor's (LSP ends a line at \r\n, \n and a lone \r), but JSON Lines, the CLI and
 * the trainer's reader end one only at \n. So editor lines joined by a lone \r are validated
 * together, as the one line the CLI sees (the lone CR in it is reported), and every position is
 * mapped back to the editor's lines; messages that name a line ("the same as line 7") give the
 * CLI's line number. Lone CRs are rare, so such a group is simply revalidated whole when any of its
 * lines changes.
 */
import { DiagnosticSink, atLine, type FileDiagnostic, type ValidateOptions } from '../dataset/file';
import { bomDiagnostic, duplicateMessage, emptyFileDiagnostic } from '../dataset/fileRules';
import { severityOf } from '../dataset/codes';
import { validateLine, type LineDiagnostic, type LineResult } from '../dataset/line';
import type { LineCount } from '../tokens/protocol';
import { tooLongDiagnostic } from '../tokens/tooLong';

interface LineRecord {
  /** undefined while dirty. */
  result: LineResult | undefined;
  length: number;
  bom: boolean;
  /**
   * How many editor lines the result covers: 1, or more for the first line of a group joined by
   * lone CRs (whose lengths are in `lengths`), 0 for the other lines of a group.
   */
  span: number;
  lengths?: number[];
  /** Token count from the token worker; undefined until counted (a changed line is a new record). */
  tokens?: LineCount;
}

/** An example waiting for its token count: the record is the key, the text what to count. */
export interface PendingTokens {
  readonly key: object;
  readonly text: string;
}

export interface TokenTotals {
  readonly examples: number;
  readonly counted: number;
  readonly tokens: number;
  readonly trainable: number;
  readonly overLength: number;
  readonly lengths: number[];
  readonly roles: Record<string, number>;
  readonly duplicates: number;
  /** Examples per mask rule other than the plain prefix rule (generation, perTurn, lastTurn). */
  readonly rules: Record<string, number>;
}

export interface LineChange {
  /** First and last line (0-based, inclusive) of the replaced range, before the change. */
  readonly startLine: number;
  readonly endLine: number;
  /** How many lines the inserted text spans (line breaks in it + 1). */
  readonly newLineCount: number;
}

export class DatasetDocument {
  private records: LineRecord[] = [];
  private readonly hashCounts = new Map<number, number>();
  private readonly duplicated = new Set<number>();
  private dirty = 0;
  /** Problems of the file's bytes on disk that the editor's text cannot show (BOM, invalid UTF-8). */
  private diskDiagnostics: FileDiagnostic[] = [];
  /** maxSeqLength of the configuration in force, when a tokenizer is available. */
  private maxSeqLength: number | undefined;
  private tokenCursor = 0;

  constructor(private opts: ValidateOptions, lineCount: number) {
    this.records = Array.from({ length: lineCount }, () => ({ result: undefined, length: 0, bom: false, span: 1 }));
    this.dirty = lineCount;
  }

  get lineCount(): number {
    return this.records.length;
  }

  get dirtyLines(): number {
    return this.dirty;
  }

  setDiskDiagnostics(ds: FileDiagnostic[]): void {
    this.diskDiagnostics = ds;
  }

  /** Sets the token limit; undefined turns token diagnostics off (no base model). */
  setTokenLimit(maxSeqLength: number | undefined): void {
    this.maxSeqLength = maxSeqLength;
  }

  /** Up to `limit` examples (after revalidation) that have no token count yet. */
  pendingTokens(lineText: (line: number) => string, limit: number): PendingTokens[] {
    const out: PendingTokens[] = [];
    const n = this.records.length;
    // Resume where the last batch ended (a hint: edits may shift lines), so counting a large file is linear.
    const from = Math.min(this.tokenCursor, n);
    for (let k = 0; k < n && out.length < limit; k++) {
      const i = (from + k) % n;
      const rec = this.records[i]!;
      if (rec.result?.parsed && rec.tokens === undefined) {
        const t = rec.span > 1 ? joinGroup(lineText, i, rec.span) : lineText(i);
        out.push({ key: rec, text: rec.bom ? t.slice(1) : t });
        this.tokenCursor = i + 1;
      }
    }
    return out;
  }

  /** The model changed: every count is stale. */
  clearTokens(): void {
    for (const r of this.records) delete r.tokens;
  }

  setTokens(key: object, count: LineCount): void {
    (key as LineRecord).tokens = count;
  }

  tokensAt(line: number): LineCount | undefined {
    return this.records[line]?.tokens;
  }

  /** Whole-file token figures over the examples counted so far. */
  tokenTotals(): TokenTotals {
    let examples = 0;
    let counted = 0;
    let tokens = 0;
    let trainable = 0;
    let overLength = 0;
    const lengths: number[] = [];
    const roles: Record<string, number> = {};
    const rules: Record<string, number> = {};
    for (const rec of this.records) {
      if (!rec.result?.parsed) continue;
      examples++;
      const t = rec.tokens;
      if (!t) continue;
      // A line the template cannot render is counted too (it has its diagnostic), or the
      // CodeLens would say "counting" forever.
      counted++;
      if (!('tokens' in t)) continue;
      tokens += t.tokens;
      trainable += t.trainable ?? 0;
      lengths.push(t.tokens);
      if (t.rule) rules[t.rule] = (rules[t.rule] ?? 0) + 1;
      if (this.maxSeqLength !== undefined && (t.longest ?? t.tokens) > this.maxSeqLength) overLength++;
      for (const [r, n] of Object.entries(t.roles ?? {})) roles[r] = (roles[r] ?? 0) + n;
    }
    let duplicates = 0;
    for (const h of this.duplicated) duplicates += (this.hashCounts.get(h) ?? 1) - 1;
    return { examples, counted, tokens, trainable, overLength, lengths, roles, duplicates, rules };
  }

  setOptions(opts: ValidateOptions): void {
    this.opts = opts;
    for (const r of this.records) this.markDirty(r);
  }

  /** Applies one content change's line bookkeeping (changes must be applied in order). */
  applyChange(c: LineChange): void {
    const removed = this.records.splice(c.startLine, c.endLine - c.startLine + 1, ...Array.from({ length: c.newLineCount }, () => ({ result: undefined, length: 0, bom: false, span: 1 })));
    for (const r of removed) {
      if (r.result === undefined) this.dirty--;
      else this.forgetHash(r.result);
    }
    this.dirty += c.newLineCount;
  }

  /** Everything changed (full sync, or options): start over with this many lines. */
  reset(lineCount: number): void {
    this.records = Array.from({ length: lineCount }, () => ({ result: undefined, length: 0, bom: false, span: 1 }));
    this.hashCounts.clear();
    this.duplicated.clear();
    this.dirty = lineCount;
  }

  /**
   * Validates the dirty lines, reading each line's text through `lineText` and the break after it
   * through `eolAt` ('\r' for a lone CR; any other value ends a JSON Lines line), and returns all
   * diagnostics.
   */
  diagnostics(lineText: (line: number) => string, eolAt: (line: number) => string = () => '\n'): FileDiagnostic[] {
    const sink = new DiagnosticSink(this.opts.maxDiagnostics);
    const firstOf = new Map<number, number>();
    const last = this.records.length - 1;
    let nonBlank = 0;
    // First bring every line up to date, so that duplicate counts are complete before any line is judged.
    if (this.dirty > 0) {
      for (let i = 0; i <= last; ) {
        const span = groupSpan(eolAt, i, last, lineText);
        this.bringUpToDate(i, span, lineText);
        i += span;
      }
    }
    // The editor line where each JSON Lines line (the CLI's) starts.
    const starts: number[] = [];
    for (let i = 0; i <= last; i++) {
      const rec = this.records[i]!;
      if (rec.span === 0) continue;
      const r = rec.result!;
      // The empty "line" after a final line break is the end of the file, not a blank line; an
      // empty text is an empty file (as the CLI says), not a blank line.
      if (i === last && rec.length === 0) continue;
      const at = (d: LineDiagnostic): FileDiagnostic => (rec.span > 1 ? mapToGroup(i, rec.lengths!, d) : atLine(i, d));
      const cliLine = starts.length;
      starts.push(i);
      if (!r.blank) nonBlank++;
      if (rec.bom) {
        sink.add(bomDiagnostic('text'));
      }
      for (const d of r.diagnostics) sink.add(at(d));
      const whole = (code: 'too-long' | 'duplicate-example' | 'unmaskable' | 'chat-template', message: string): LineDiagnostic => ({ code, severity: severityOf(code), startCol: 0, endCol: rec.length, message });
      const t = rec.tokens;
      if (this.maxSeqLength !== undefined && t && 'tokens' in t) {
        const long = tooLongDiagnostic(t, this.maxSeqLength);
        if (long) sink.add(at(whole('too-long', long.message)));
        if (t.maskError !== undefined) sink.add(at(whole('unmaskable', `the trained tokens cannot be located: ${t.maskError}`)));
      }
      // The template's own exception (Gemma 3's alternation check), unless the validator already
      // said what is wrong with the line's structure.
      if (t && 'error' in t && !r.diagnostics.some((d) => severityOf(d.code) === 'error')) {
        sink.add(at(whole('chat-template', `the chat template cannot render this example: ${t.error}`)));
      }
      if (r.hash !== undefined && this.duplicated.has(r.hash)) {
        const first = firstOf.get(r.hash);
        if (first === undefined) firstOf.set(r.hash, cliLine);
        else sink.add(at(whole('duplicate-example', duplicateMessage(first))));
      }
    }
    // Problems of the bytes on disk are found on the CLI's lines.
    for (const d of this.diskDiagnostics) {
      const line = starts[d.line];
      if (line !== undefined) sink.add({ ...d, line, endLine: line + (d.endLine - d.line) });
    }
    if (nonBlank === 0) {
      sink.add(emptyFileDiagnostic(this.records.length > 1));
    }
    return sink.finish();
  }

  /** Brings the group of `span` editor lines starting at `i` up to date (span 1: one line). */
  private bringUpToDate(i: number, span: number, lineText: (line: number) => string): void {
    const head = this.records[i]!;
    if (span === 1) {
      if (head.span !== 1) this.markDirty(head); // it was part of a group
      if (head.result === undefined) this.revalidate(head, i, lineText(i), 1);
      return;
    }
    let stale = head.span !== span;
    for (let k = i; k < i + span && !stale; k++) stale = this.records[k]!.result === undefined || (k > i && this.records[k]!.span !== 0);
    if (!stale) return;
    for (let k = i; k < i + span; k++) this.markDirty(this.records[k]!);
    const lengths: number[] = [];
    for (let k = i; k < i + span; k++) lengths.push(lineText(k).length);
    this.revalidate(head, i, joinGroup(lineText, i, span), span);
    head.lengths = lengths;
    for (let k = i + 1; k < i + span; k++) {
      const rec = this.records[k]!;
      rec.result = IN_GROUP;
      rec.span = 0;
      rec.length = 0;
      rec.bom = false;
      this.dirty--;
    }
  }

  private revalidate(rec: LineRecord, index: number, text: string, span: number): void {
    rec.bom = index === 0 && text.charCodeAt(0) === 0xfeff;
    const body = rec.bom ? text.slice(1) : text;
    let result = validateLine(body, this.opts);
    if (rec.bom) result = { ...result, diagnostics: result.diagnostics.map((d) => shift(d, 1)) };
    rec.result = result;
    rec.length = text.length;
    rec.span = span;
    if (span === 1) delete rec.lengths;
    this.dirty--;
    if (result.hash !== undefined) {
      const n = (this.hashCounts.get(result.hash) ?? 0) + 1;
      this.hashCounts.set(result.hash, n);
      if (n > 1) this.duplicated.add(result.hash);
    }
  }

  private forgetHash(r: LineResult): void {
    if (r.hash === undefined) return;
    const n = (this.hashCounts.get(r.hash) ?? 1) - 1;
    if (n <= 0) this.hashCounts.delete(r.hash);
    else this.hashCounts.set(r.hash, n);
    if (n <= 1) this.duplicated.delete(r.hash);
  }

  private markDirty(r: LineRecord): void {
    if (r.result === undefined) return;
    this.forgetHash(r.result);
    r.result = undefined;
    this.dirty++;
  }
}

/** The result of an editor line inside a group: the group's first line holds the group's result. */
const IN_GROUP: LineResult = { diagnostics: [], parsed: false, blank: false };

/**
 * How many editor lines from `i` form one JSON Lines line: those joined by a lone CR. A lone CR
 * that ends the text (the empty last line after it is the end of the file) ends the line, as the
 * CLI takes a final \r for the end of the last line.
 */
function groupSpan(eolAt: (line: number) => string, i: number, last: number, lineText: (line: number) => string): number {
  let j = i;
  while (j < last && eolAt(j) === '\r' && !(j + 1 === last && lineText(last) === '')) j++;
  return j - i + 1;
}

function joinGroup(lineText: (line: number) => string, i: number, span: number): string {
  let s = lineText(i);
  for (let k = i + 1; k < i + span; k++) s += '\r' + lineText(k);
  return s;
}

/** Maps a column of a group's joined text to an editor position (a column on a lone CR: the end of the line before it). */
function groupPosition(head: number, lengths: readonly number[], col: number): { line: number; character: number } {
  let k = 0;
  while (k < lengths.length - 1 && col > lengths[k]!) {
    col -= lengths[k]! + 1;
    k++;
  }
  return { line: head + k, character: Math.min(col, lengths[k]!) };
}

/** A diagnostic of a group's joined text, on the editor's lines (its fix's edits too). */
function mapToGroup(head: number, lengths: readonly number[], d: LineDiagnostic): FileDiagnostic {
  const s = groupPosition(head, lengths, d.startCol);
  const e = groupPosition(head, lengths, d.endCol);
  let fix = d.fix;
  if (fix && 'edits' in fix) {
    fix = {
      title: fix.title,
      edits: fix.edits.map((x) => {
        const a = groupPosition(head, lengths, x.startCol);
        const b = groupPosition(head, lengths, x.endCol);
        return { line: a.line, startCol: a.character, endLine: b.line, endCol: b.character, newText: x.newText };
      }),
    };
  } else if (fix) {
    fix = { ...fix, lines: lengths.length }; // delete every editor line of the group
  }
  return { ...d, line: s.line, startCol: s.character, endLine: e.line, endCol: e.character, ...(fix && { fix }) };
}

function shift<T extends { startCol: number; endCol: number; fix?: unknown }>(d: T, by: number): T {
  const fix = d.fix as { edits?: { startCol: number; endCol: number; newText: string }[] } | undefined;
  return {
    ...d,
    startCol: d.startCol + by,
    endCol: d.endCol + by,
    ...(fix?.edits && { fix: { ...fix, edits: fix.edits.map((e) => ({ ...e, startCol: e.startCol + by, endCol: e.endCol + by })) } }),
  };
}
