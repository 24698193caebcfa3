/** Whole-file checks on top of the line rules: duplicates, the diagnostic cap, an empty file. */
import { severityOf, type Code, type Severity } from './codes';
import type { LineDiagnostic, LineFix, LineOptions } from './line';

export interface ValidateOptions extends LineOptions {
  /** Diagnostics kept per file; one more (info) says how many were left out. */
  readonly maxDiagnostics: number;
  /** Longer lines are not parsed (line-too-large). */
  readonly maxLineBytes: number;
}

export const DEFAULT_OPTIONS: ValidateOptions = {
  allowDeveloperRole: false,
  maxDiagnostics: 1000,
  maxLineBytes: 16 * 1024 * 1024,
};

/** A diagnostic in a file: 0-based line, 0-based UTF-16 columns, end exclusive. */
export interface FileDiagnostic {
  readonly line: number;
  readonly startCol: number;
  readonly endLine: number;
  readonly endCol: number;
  readonly code: Code;
  readonly severity: Severity;
  readonly message: string;
  readonly fix?: LineFix;
}

export interface FileReport {
  readonly diagnostics: FileDiagnostic[];
  readonly lines: number;
  readonly examples: number;
  /** Totals over all diagnostics, including those left out by the cap. */
  readonly errors: number;
  readonly warnings: number;
  readonly omitted: number;
}

export function atLine(line: number, d: LineDiagnostic): FileDiagnostic {
  return { line, endLine: line, ...d };
}

export function fileDiagnostic(code: Code, line: number, startCol: number, endCol: number, message: string): FileDiagnostic {
  return { code, severity: severityOf(code), line, endLine: line, startCol, endCol, message };
}

/** Counts and caps diagnostics; shared by the streaming validator and the editor's document model. */
export class DiagnosticSink {
  readonly kept: FileDiagnostic[] = [];
  errors = 0;
  warnings = 0;
  omitted = 0;

  constructor(private readonly max: number) {}

  add(d: FileDiagnostic): void {
    if (d.severity === 'error') this.errors++;
    else if (d.severity === 'warning') this.warnings++;
    if (this.kept.length < this.max) this.kept.push(d);
    else this.omitted++;
  }

  /** Diagnostics a part already left out: counted, never shown. */
  addOmitted(count: number, errors: number, warnings: number): void {
    this.omitted += count;
    this.errors += errors;
    this.warnings += warnings;
  }

  /** The kept diagnostics in line order, plus a note on what the cap left out. */
  finish(): FileDiagnostic[] {
    const out = this.kept.slice().sort((a, b) => a.line - b.line || a.startCol - b.startCol);
    if (this.omitted > 0) {
      const last = out[out.length - 1];
      out.push(fileDiagnostic('too-many-diagnostics', last ? last.line : 0, 0, 0,
        `${this.omitted} more diagnostic${this.omitted === 1 ? ' was' : 's were'} left out (limit ${this.max} per file; ${this.errors} errors and ${this.warnings} warnings in all)`));
    }
    return out;
  }
}

/** One diagnostic in the CLI's JSON contract (and failed/<name>.reason.json): 1-based, the end column exclusive. */
export interface JsonDiagnostic {
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  severity: Severity;
  code: string;
  message: string;
}

export function toJsonDiagnostic(file: string, d: FileDiagnostic): JsonDiagnostic {
  return { file, line: d.line + 1, column: d.startCol + 1, endLine: d.endLine + 1, endColumn: d.endCol + 1, severity: d.severity, code: d.code, message: d.message };
}
