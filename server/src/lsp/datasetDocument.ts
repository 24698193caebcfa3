/**
 * The editor's view of one open dataset: a result per line, kept up to date incrementally.
 * An edit marks only the lines it touched; duplicates are tracked by hash counts, so a one-line
 * edit in a 10 MB buffer revalidates one line and walks the line array once to publish.
 */
import { DiagnosticSink, duplicateMessage, fileDiagnostic, atLine, type FileDiagnostic, type ValidateOptions } from '../dataset/file';
import { validateLine, type LineResult } from '../dataset/line';
import type { LineCount } from '../tokens/protocol';
import { tooLongDiagnostic } from '../tokens/tooLong';
import { severityOf } from '../dataset/codes';

interface LineRecord {
  /** undefined while dirty. */
  result: LineResult | undefined;
  length: number;
  bom: boolean;
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
    this.records = Array.from({ length: lineCount }, () => ({ result: undefined, length: 0, bom: false }));
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
        const t = lineText(i);
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
    const removed = this.records.splice(c.startLine, c.endLine - c.startLine + 1, ...Array.from({ length: c.newLineCount }, () => ({ result: undefined, length: 0, bom: false })));
    for (const r of removed) {
      if (r.result === undefined) this.dirty--;
      else this.forgetHash(r.result);
    }
    this.dirty += c.newLineCount;
  }

  /** Everything changed (full sync, or options): start over with this many lines. */
  reset(lineCount: number): void {
    this.records = Array.from({ length: lineCount }, () => ({ result: undefined, length: 0, bom: false }));
    this.hashCounts.clear();
    this.duplicated.clear();
    this.dirty = lineCount;
  }

  /** Validates the dirty lines, reading each line's text through `lineText`, and returns all diagnostics. */
  diagnostics(lineText: (line: number) => string): FileDiagnostic[] {
    const sink = new DiagnosticSink(this.opts.maxDiagnostics);
    for (const d of this.diskDiagnostics) if (d.line < this.records.length) sink.add(d);
    const firstOf = new Map<number, number>();
    const last = this.records.length - 1;
    let nonBlank = 0;
    // First bring every line up to date, so that duplicate counts are complete before any line is judged.
    if (this.dirty > 0) {
      for (let i = 0; i <= last; i++) {
        const rec = this.records[i]!;
        if (rec.result === undefined) this.revalidate(rec, i, lineText(i));
      }
    }
    for (let i = 0; i <= last; i++) {
      const rec = this.records[i]!;
      const r = rec.result!;
      // The empty "line" after a final line break is the end of the file, not a blank line.
      if (i === last && rec.length === 0 && i > 0) continue;
      if (!r.blank) nonBlank++;
      if (rec.bom) {
        sink.add({
          ...fileDiagnostic('bom', 0, 0, 1, 'the file starts with a byte order mark (U+FEFF); Python\'s json.loads rejects it on the first line — save as UTF-8 without BOM'),
          fix: { title: 'Remove the byte order mark', edits: [{ startCol: 0, endCol: 1, newText: '' }] },
        });
      }
      for (const d of r.diagnostics) sink.add(atLine(i, d));
      const t = rec.tokens;
      if (this.maxSeqLength !== undefined && t && 'tokens' in t) {
        const long = tooLongDiagnostic(t, this.maxSeqLength);
        if (long) sink.add(fileDiagnostic('too-long', i, 0, rec.length, long.message));
        if (t.maskError !== undefined) sink.add(fileDiagnostic('unmaskable', i, 0, rec.length, `the trained tokens cannot be located: ${t.maskError}`));
      }
      // The template's own exception (Gemma 3's alternation check), unless the validator already
      // said what is wrong with the line's structure.
      if (t && 'error' in t && !r.diagnostics.some((d) => severityOf(d.code) === 'error')) {
        sink.add(fileDiagnostic('chat-template', i, 0, rec.length, `the chat template cannot render this example: ${t.error}`));
      }
      if (r.hash !== undefined && this.duplicated.has(r.hash)) {
        const first = firstOf.get(r.hash);
        if (first === undefined) firstOf.set(r.hash, i);
        else sink.add(fileDiagnostic('duplicate-example', i, 0, rec.length, duplicateMessage(first)));
      }
    }
    if (nonBlank === 0) {
      sink.add(fileDiagnostic('empty-file', 0, 0, 0, this.records.length <= 1 ? 'the file is empty: a dataset needs at least one example' : 'the file holds only blank lines: a dataset needs at least one example'));
    }
    return sink.finish();
  }

  private revalidate(rec: LineRecord, index: number, text: string): void {
    rec.bom = index === 0 && text.charCodeAt(0) === 0xfeff;
    const body = rec.bom ? text.slice(1) : text;
    let result = validateLine(body, this.opts);
    if (rec.bom) result = { ...result, diagnostics: result.diagnostics.map((d) => shift(d, 1)) };
    rec.result = result;
    rec.length = text.length;
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

function shift<T extends { startCol: number; endCol: number; fix?: unknown }>(d: T, by: number): T {
  const fix = d.fix as { edits?: { startCol: number; endCol: number; newText: string }[] } | undefined;
  return {
    ...d,
    startCol: d.startCol + by,
    endCol: d.endCol + by,
    ...(fix?.edits && { fix: { ...fix, edits: fix.edits.map((e) => ({ ...e, startCol: e.startCol + by, endCol: e.endCol + by })) } }),
  };
}
