/** `lora-queue validate`: the dataset checks, headless. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { globSync } from 'tinyglobby';
import { checkConfigText, offsetsToPositions } from '../config/diagnostics';
import { ConfigError, findConfig, loadConfig, validateOptionsFrom } from '../config/load';
import { toJsonDiagnostic, type FileReport, type JsonDiagnostic, type ValidateOptions } from '../dataset/file';
import { validateChunks, validateFile } from '../dataset/stream';
import type { Output } from './output';

export function formatText(j: JsonDiagnostic): string {
  return `${j.file}:${j.line}:${j.column}: ${j.severity} ${j.code}: ${j.message}`;
}

const GLOB_CHARS = /[*?[\]{}]/;

/** Expands the operands: existing paths as given, patterns through the glob library, `-` as stdin. */
export function expandOperands(operands: readonly string[], out: Output): { files: string[]; failed: boolean } {
  const files: string[] = [];
  let failed = false;
  for (const op of operands) {
    if (op === '-' || existsSync(op)) {
      if (op !== '-' && statSync(op).isDirectory()) {
        const found = globSync('**/*.jsonl', { cwd: op, absolute: false }).sort().map((f) => `${op.replace(/\/+$/, '')}/${f}`);
        if (found.length === 0) {
          out.err(`lora-queue: ${op}: a folder with no .jsonl files`);
          failed = true;
        }
        files.push(...found);
      } else files.push(op);
    } else if (GLOB_CHARS.test(op)) {
      const found = globSync(op, { absolute: false, dot: false }).sort();
      if (found.length === 0) {
        out.err(`lora-queue: ${op}: no files match`);
        failed = true;
      }
      files.push(...found);
    } else {
      out.err(`lora-queue: ${op}: no such file`);
      failed = true;
    }
  }
  return { files, failed };
}

export interface ValidateArgs {
  readonly format: 'text' | 'json';
  readonly config: string | undefined;
  readonly operands: readonly string[];
}

export async function runValidate(args: ValidateArgs, out: Output, stdin: AsyncIterable<Buffer>): Promise<number> {
  const { files, failed: missing } = expandOperands(args.operands, out);
  let ioFailed = missing;
  let explicit: ValidateOptions | undefined;
  if (args.config) {
    try {
      explicit = validateOptionsFrom(loadConfig(args.config, { filesystem: false }));
    } catch (e) {
      out.err(`lora-queue: ${(e as Error).message}`);
      return 2;
    }
  }
  const optionsCache = new Map<string, ValidateOptions>();
  const optionsFor = (file: string): ValidateOptions => {
    if (explicit) return explicit;
    const dir = file === '-' ? process.cwd() : dirname(resolve(file));
    let o = optionsCache.get(dir);
    if (!o) {
      const cfg = findConfig(dir);
      try {
        o = validateOptionsFrom(cfg ? loadConfig(cfg, { filesystem: false }) : undefined);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        out.err(`lora-queue: ${e.message} (the config is not used; fix it or pass --config)`);
        ioFailed = true;
        o = validateOptionsFrom(undefined);
      }
      optionsCache.set(dir, o);
    }
    return o;
  };

  const all: JsonDiagnostic[] = [];
  let errors = 0;
  let warnings = 0;
  let examples = 0;
  let checked = 0;
  for (const file of files) {
    const name = file === '-' ? '<stdin>' : file;
    if (file !== '-' && file.endsWith('.json')) {
      // A config file: the same checks as the editor shows on lora-queue.json.
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        out.err(`lora-queue: ${name}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        ioFailed = true;
        continue;
      }
      checked++;
      const pos = offsetsToPositions(text);
      for (const d of checkConfigText(text, file).diagnostics) {
        const s = pos(d.start);
        const e = pos(d.end);
        const j: JsonDiagnostic = { file: name, line: s.line + 1, column: s.character + 1, endLine: e.line + 1, endColumn: e.character + 1, severity: d.severity, code: d.code, message: d.message };
        if (d.severity === 'error') errors++;
        else if (d.severity === 'warning') warnings++;
        if (args.format === 'json') all.push(j);
        else out.line(formatText(j));
      }
      continue;
    }
    let report: FileReport;
    try {
      report = file === '-' ? await validateChunks(stdin, optionsFor(file)) : await validateFile(file, optionsFor(file));
    } catch (e) {
      out.err(`lora-queue: ${name}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      ioFailed = true;
      continue;
    }
    checked++;
    errors += report.errors;
    warnings += report.warnings;
    examples += report.examples;
    for (const d of report.diagnostics) {
      const j = toJsonDiagnostic(name, d);
      if (args.format === 'json') all.push(j);
      else out.line(formatText(j));
    }
  }
  if (args.format === 'json') out.line(JSON.stringify(all, null, 2));
  else {
    const plural = (n: number, w: string): string => `${n} ${w}${n === 1 ? '' : 's'}`;
    out.line(`${plural(checked, 'file')} checked, ${plural(examples, 'example')}: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}`);
  }
  if (ioFailed || files.length === 0) return 2;
  return errors > 0 ? 1 : 0;
}
