/**
 * A part of a file validated on its own (the whole file, or one byte range of it on one core),
 * and the merge that turns parts into one report: duplicates across parts, the cap, an empty file.
 */
import { DiagnosticSink, type FileDiagnostic, type FileReport, type ValidateOptions } from './file';
import { duplicateDiagnostic, emptyFileDiagnostic } from './fileRules';
import { HashIndex } from './hashIndex';
import type { LineResult } from './line';

/** What one part found, with line numbers local to the part. Plain data: it crosses worker boundaries. */
export interface PartResult {
  diagnostics: FileDiagnostic[];
  errors: number;
  warnings: number;
  omitted: number;
  lines: number;
  examples: number;
  nonBlank: number;
  /** Per line: the example hash, or -1 when the line is not an example. */
  hashes: Float64Array;
  /** Per line: its length in UTF-16 units (the range of a duplicate diagnostic). */
  lengths: Int32Array;
}

export class PartCollector {
  private readonly sink: DiagnosticSink;
  private hashes = new Float64Array(1024).fill(-1);
  private lengths = new Int32Array(1024);
  private lines = 0;
  private examples = 0;
  private nonBlank = 0;

  constructor(opts: ValidateOptions) {
    this.sink = new DiagnosticSink(opts.maxDiagnostics);
  }

  addLine(line: number, r: LineResult, length: number): void {
    this.reserve(line);
    if (r.parsed) this.examples++;
    if (!r.blank) this.nonBlank++;
    for (const d of r.diagnostics) this.sink.add({ line, endLine: line, ...d });
    if (r.hash !== undefined) this.hashes[line] = r.hash;
    this.lengths[line] = length;
  }

  /** A valid example with nothing to report (the fast path): its hash and UTF-16 length. */
  addCleanLine(line: number, hash: number, length: number): void {
    this.reserve(line);
    this.examples++;
    this.nonBlank++;
    this.hashes[line] = hash;
    this.lengths[line] = length;
  }

  /** A line that was not parsed (too large): content, but not an example. */
  addUnparsedLine(line: number): void {
    this.reserve(line);
    this.nonBlank++;
  }

  add(d: FileDiagnostic): void {
    this.sink.add(d);
  }

  finish(): PartResult {
    return {
      diagnostics: this.sink.kept,
      errors: this.sink.errors,
      warnings: this.sink.warnings,
      omitted: this.sink.omitted,
      lines: this.lines,
      examples: this.examples,
      nonBlank: this.nonBlank,
      hashes: this.hashes.slice(0, this.lines),
      lengths: this.lengths.slice(0, this.lines),
    };
  }

  private reserve(line: number): void {
    if (line >= this.hashes.length) {
      let cap = this.hashes.length;
      while (cap <= line) cap *= 2;
      const h = new Float64Array(cap).fill(-1);
      h.set(this.hashes);
      const l = new Int32Array(cap);
      l.set(this.lengths);
      this.hashes = h;
      this.lengths = l;
    }
    this.lines = Math.max(this.lines, line + 1);
  }
}

/**
 * Merges parts in file order into one report, as if the file had been read in one pass. Parts are
 * added one at a time, in order, as they come in: the validation of a large file merges the parts
 * already done while later ranges are still being read (so the merge costs no wall time of its own).
 */
export class PartMerger {
  private readonly sink: DiagnosticSink;
  private seen: HashIndex | undefined;
  private offset = 0;
  private examples = 0;
  private nonBlank = 0;

  constructor(opts: ValidateOptions) {
    this.sink = new DiagnosticSink(opts.maxDiagnostics);
  }

  /** The next part in file order; `expectedExamples` (the whole file's, when known or estimated) sizes the duplicate index. */
  add(part: PartResult, expectedExamples = part.examples): void {
    const sink = this.sink;
    const seen = (this.seen ??= new HashIndex(expectedExamples + 16));
    const offset = this.offset;
    const ds = part.diagnostics.slice().sort((a, b) => a.line - b.line);
    let k = 0;
    for (let line = 0; line < part.lines; line++) {
      while (k < ds.length && ds[k]!.line === line) {
        const d = ds[k++]!;
        sink.add({ ...d, line: d.line + offset, endLine: d.endLine + offset });
      }
      const h = part.hashes[line]!;
      if (h === -1) continue;
      const first = seen.getOrInsert(h, line + offset);
      if (first !== undefined) sink.add(duplicateDiagnostic(line + offset, part.lengths[line]!, first));
    }
    // Diagnostics past the last line (none today) and what the part's own cap left out.
    while (k < ds.length) {
      const d = ds[k++]!;
      sink.add({ ...d, line: d.line + offset, endLine: d.endLine + offset });
    }
    sink.addOmitted(part.omitted, part.errors - countOf(part.diagnostics, 'error'), part.warnings - countOf(part.diagnostics, 'warning'));
    this.offset += part.lines;
    this.examples += part.examples;
    this.nonBlank += part.nonBlank;
  }

  finish(): FileReport {
    const sink = this.sink;
    if (this.nonBlank === 0) {
      sink.add(emptyFileDiagnostic(this.offset > 0));
    }
    return { diagnostics: sink.finish(), lines: this.offset, examples: this.examples, errors: sink.errors, warnings: sink.warnings, omitted: sink.omitted };
  }
}

/** Merges whole parts in file order into one report (PartMerger, all at once). */
export function mergeParts(parts: readonly PartResult[], opts: ValidateOptions): FileReport {
  const merger = new PartMerger(opts);
  const examples = parts.reduce((n, p) => n + p.examples, 0);
  for (const part of parts) merger.add(part, examples);
  return merger.finish();
}

function countOf(ds: readonly FileDiagnostic[], severity: string): number {
  let n = 0;
  for (const d of ds) if (d.severity === severity) n++;
  return n;
}
