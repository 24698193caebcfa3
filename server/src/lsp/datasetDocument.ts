/**
 * The editor's view of one open dataset: a result per line, kept up to date incrementally.
 * An edit marks only the lines it touched; duplicates are tracked by hash counts, so a one-line
 * edit in a 10 MB buffer revalidates one line and walks the line array once to publish.
 */
import { DiagnosticSink, duplicateMessage, fileDiagnostic, atLine, type FileDiagnostic, type ValidateOptions } from '../dataset/file';
import { validateLine, type LineResult } from '../dataset/line';

interface LineRecord {
  /** undefined while dirty. */
  result: LineResult | undefined;
  length: number;
  bom: boolean;
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
