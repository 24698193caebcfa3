/**
 * Diagnostics on lora-queue.json with exact ranges: syntax (jsonc-parser keeps positions), the
 * zod schema (unknown keys with did-you-mean, types, ranges), and what no JSON Schema can check:
 * the base model folder, the trainer executable, the root inside the workspace, consistent
 * thresholds.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { findNodeAtLocation, getNodeValue, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';
import type { z } from 'zod';
import { spawnSync } from 'node:child_process';
import { launcherOf, visibleDeviceCount } from './launcher';
import { configSchema, type Config } from './schema';
import { suggest } from '../dataset/suggest';
import { isTemplatePath } from './templateChoice';
import { executorProblems } from './executor';

export type ConfigCode =
  | 'config-syntax'
  | 'config-unknown-key'
  | 'config-invalid'
  | 'config-base-model'
  | 'config-training-chat-template'
  | 'config-trainer-command'
  | 'config-root'
  | 'config-thresholds'
  | 'config-executor'
  | 'config-not-in-force';

export interface ConfigDiagnostic {
  /** Offsets into the text, end exclusive. */
  readonly start: number;
  readonly end: number;
  readonly severity: 'error' | 'warning' | 'info';
  readonly code: ConfigCode;
  readonly message: string;
}

export interface ConfigCheck {
  readonly diagnostics: ConfigDiagnostic[];
  /** The parsed config when there is no error. */
  readonly config?: Config;
}

type Path = (string | number)[];

/** The zod object shape at a path (through defaults and optionals), to list the keys it knows. */
function knownKeys(path: Path): string[] {
  let schema: z.ZodType = configSchema;
  for (const p of [...path, undefined]) {
    for (;;) {
      const def = (schema as unknown as { def: { type: string; innerType?: z.ZodType } }).def;
      if (def.innerType && (def.type === 'default' || def.type === 'prefault' || def.type === 'optional')) schema = def.innerType;
      else break;
    }
    const shape = (schema as unknown as { shape?: Record<string, z.ZodType> }).shape;
    if (!shape) return [];
    if (p === undefined) return Object.keys(shape);
    const next = shape[String(p)];
    if (!next) return [];
    schema = next;
  }
  return [];
}

/**
 * `filesystem: false` checks syntax and schema only: what dataset validation needs from the config
 * (a missing model folder must not stop `validate` of datasets; it is an error on the config itself).
 */
export function checkConfigText(text: string, file: string, env: { pathEnv?: string; filesystem?: boolean; gpuCount?: number | undefined } = {}): ConfigCheck {
  const out: ConfigDiagnostic[] = [];
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { allowTrailingComma: false, disallowComments: true });
  for (const e of errors) {
    out.push({ start: e.offset, end: e.offset + Math.max(1, e.length), severity: 'error', code: 'config-syntax', message: `JSON syntax: ${describeParseError(printParseErrorCode(e.error))}` });
  }
  if (!root || errors.length) return { diagnostics: out };
  if (root.type !== 'object') {
    out.push({ start: root.offset, end: root.offset + root.length, severity: 'error', code: 'config-invalid', message: 'lora-queue.json must hold a JSON object' });
    return { diagnostics: out };
  }

  const value: unknown = getNodeValue(root);
  const parsed = configSchema.safeParse(value);
  const rangeOf = (path: Path, part: 'key' | 'value'): { start: number; end: number } => {
    const node = findNodeAtLocation(root, path);
    if (!node) {
      // Missing: point at the nearest existing parent's key.
      return path.length ? rangeOf(path.slice(0, -1), 'key') : { start: root.offset, end: root.offset + 1 };
    }
    const target: Node = part === 'key' && node.parent?.type === 'property' ? node.parent.children![0]! : node;
    return { start: target.offset, end: target.offset + target.length };
  };

  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path as Path;
      if (issue.code === 'unrecognized_keys') {
        const known = knownKeys(path);
        for (const k of issue.keys) {
          const s = suggest(k, known);
          const where = path.length ? ` in ${path.join('.')}` : '';
          out.push({
            ...rangeOf([...path, k], 'key'),
            severity: 'error',
            code: 'config-unknown-key',
            message: s ? `unknown key "${k}"${where} — did you mean "${s}"?` : `unknown key "${k}"${where} (known: ${known.join(', ')})`,
          });
        }
      } else {
        out.push({ ...rangeOf(path, 'value'), severity: 'error', code: 'config-invalid', message: `${path.join('.') || '(root)'}: ${humanZodMessage(issue)}` });
      }
    }
    return { diagnostics: out.sort((a, b) => a.start - b.start) };
  }

  const config = parsed.data;
  for (const p of executorProblems(config)) out.push({ ...rangeOf(p.path, 'value'), severity: p.severity, code: 'config-executor', message: p.message });
  if (out.some((d) => d.severity === 'error')) return { diagnostics: out };
  if (env.filesystem === false) return { diagnostics: out, config };
  const dir = dirname(resolve(file));

  if (config.baseModel === undefined) {
    out.push({ start: root.offset, end: root.offset + 1, severity: 'warning', code: 'config-base-model', message: '"baseModel" is not set: token counts, too-long checks and training need the model folder' });
  } else {
    const problem = checkModelFolder(resolve(dir, config.baseModel));
    if (problem) out.push({ ...rangeOf(['baseModel'], 'value'), severity: 'error', code: 'config-base-model', message: `baseModel ${problem}` });
  }
  // A file named by trainingChatTemplate must exist; a variant name is checked when the tokenizer loads.
  const tct = config.trainingChatTemplate;
  if (tct !== undefined && isTemplatePath(tct) && !existsSync(resolve(dir, tct))) {
    out.push({ ...rangeOf(['trainingChatTemplate'], 'value'), severity: 'error', code: 'config-training-chat-template', message: `trainingChatTemplate ${resolve(dir, tct)} does not exist (a .jinja file, relative to this file, or the name of one of the model's chat template variants)` });
  }

  const found = resolveTrainerExecutable(config.trainer.command[0]!, config, dir, env.pathEnv ?? process.env['PATH'] ?? '');
  if (!found.ok) out.push({ ...rangeOf(['trainer', 'command', 0], 'value'), severity: 'error', code: 'config-trainer-command', message: `trainer.command[0] ${found.why}` });
  const launcher = launcherOf(config.trainer.command);
  if (found.ok && launcher?.nproc != null && launcher.nproc > 1) {
    // Each rank takes the GPU of its LOCAL_RANK: more ranks than visible GPUs share or lack one.
    const listed = env.gpuCount !== undefined ? env.gpuCount : nvidiaSmiGpuCount(config.trainer.env['PATH'] ?? env.pathEnv ?? process.env['PATH'] ?? '');
    const visible = visibleDeviceCount(config.trainer.env['CUDA_VISIBLE_DEVICES']);
    const gpus = listed === undefined ? undefined : visible === undefined ? listed : Math.min(listed, visible);
    if (gpus !== undefined && gpus > 0 && launcher.nproc > gpus) {
      const why = visible !== undefined ? `nvidia-smi lists ${listed} GPU(s) and trainer.env.CUDA_VISIBLE_DEVICES leaves ${gpus} visible` : `nvidia-smi lists ${gpus} GPU(s)`;
      out.push({
        ...rangeOf(['trainer', 'command', launcher.nprocArg ?? 0], 'value'), severity: 'warning', code: 'config-trainer-command',
        message: `${launcher.kind} starts ${launcher.nproc} processes per node, but ${why}: each process takes the GPU of its local rank, so ${launcher.nproc - gpus} would have none (lower the process count to ${gpus})`,
      });
    }
  }

  if (config.trainer.resident && launcher) {
    out.push({ ...rangeOf(['trainer', 'resident'], 'value'), severity: 'warning', code: 'config-trainer-command', message: `trainer.resident keeps one trainer process loaded, and trainer.command starts ${launcher.kind}: every run starts cold under a launcher (set trainer.resident to false, or run one process)` });
  }

  const rootPath = resolve(dir, config.root);
  const rel = relative(dir, rootPath);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    out.push({ ...rangeOf(['root'], 'value'), severity: 'error', code: 'config-root', message: `root resolves to ${rootPath}, which is not inside ${dir}: the queue root must be a folder within the workspace` });
  }

  if (config.disk.resumeFreeGiB < config.disk.minFreeGiB) {
    out.push({ ...rangeOf(['disk', 'resumeFreeGiB'], 'value'), severity: 'error', code: 'config-thresholds', message: `disk.resumeFreeGiB (${config.disk.resumeFreeGiB}) is below disk.minFreeGiB (${config.disk.minFreeGiB}): the queue would pause and resume at once, over and over` });
  }
  if (config.trainer.stopGraceSeconds >= config.trainer.hangTimeoutSeconds) {
    out.push({ ...rangeOf(['trainer', 'stopGraceSeconds'], 'value'), severity: 'warning', code: 'config-thresholds', message: `trainer.stopGraceSeconds (${config.trainer.stopGraceSeconds}) is not below trainer.hangTimeoutSeconds (${config.trainer.hangTimeoutSeconds}): a trainer checkpointing on stop could be judged hung` });
  }
  if (config.training.warmupSteps > 0 && config.training.lrScheduler === 'constant') {
    out.push({ ...rangeOf(['training', 'warmupSteps'], 'value'), severity: 'warning', code: 'config-thresholds', message: 'training.warmupSteps has no effect with lrScheduler "constant" (use "constant_with_warmup")' });
  }
  out.sort((a, b) => a.start - b.start);
  const hasError = out.some((d) => d.severity === 'error');
  return hasError ? { diagnostics: out } : { diagnostics: out, config };
}

/** Why a folder is not a usable model folder, or undefined when it is. */
export function checkModelFolder(path: string): string | undefined {
  if (!existsSync(path)) return `${path} does not exist`;
  if (!statSync(path).isDirectory()) return `${path} is not a folder`;
  if (!existsSync(join(path, 'config.json'))) return `${path} holds no config.json: is it a Hugging Face model folder?`;
  if (!existsSync(join(path, 'tokenizer.json')) && !existsSync(join(path, 'tokenizer.model'))) return `${path} holds no tokenizer (tokenizer.json or tokenizer.model)`;
  return undefined;
}

/**
 * The trainer command's program as the engine will start it: on trainer.env's PATH when it sets
 * one, else the engine's PATH, and for a bare name (`torchrun`, `accelerate`, `python`) also in the
 * workspace's own virtual environment (.venv/bin, venv/bin beside lora-queue.json), where the
 * reference trainer is usually installed and which an editor's PATH seldom holds.
 */
export function resolveTrainerExecutable(exe: string, config: Config, dir: string, pathEnv: string): { ok: true; path: string } | { ok: false; why: string } {
  const path = config.trainer.env['PATH'] ?? pathEnv;
  const found = resolveExecutable(exe, dir, path);
  if (found.ok || exe.includes('/')) return found;
  const venvs = [join(dir, '.venv', 'bin'), join(dir, 'venv', 'bin')];
  const inVenv = resolveExecutable(exe, dir, venvs.join(delimiter));
  return inVenv.ok ? inVenv : found;
}

const gpuCounts = new Map<string, { at: number; count: number | undefined }>();

/**
 * How many GPUs `nvidia-smi -L` lists (undefined where it is absent or fails). Cached for a minute
 * per PATH: the config is checked as it is typed, and the answer changes only with the hardware.
 */
export function nvidiaSmiGpuCount(pathEnv: string, now = Date.now()): number | undefined {
  const hit = gpuCounts.get(pathEnv);
  if (hit && now - hit.at < 60_000) return hit.count;
  const r = spawnSync('nvidia-smi', ['-L'], { env: { ...process.env, PATH: pathEnv }, timeout: 5000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const count = r.error || r.status !== 0 ? undefined : r.stdout.split('\n').filter((l) => /^GPU \d+:/.test(l)).length;
  gpuCounts.set(pathEnv, { at: now, count });
  return count;
}

export function resolveExecutable(exe: string, dir: string, pathEnv: string): { ok: true; path: string } | { ok: false; why: string } {
  const executable = (p: string): boolean => {
    try {
      accessSync(p, constants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (exe.includes('/')) {
    const p = resolve(dir, exe);
    if (!existsSync(p)) return { ok: false, why: `${p} does not exist` };
    return executable(p) ? { ok: true, path: p } : { ok: false, why: `${p} is not an executable file` };
  }
  for (const d of pathEnv.split(delimiter)) {
    if (!d) continue;
    const p = join(d, exe);
    if (executable(p)) return { ok: true, path: p };
  }
  return { ok: false, why: `"${exe}" is not found on PATH (use an absolute path, or a path relative to lora-queue.json such as .venv/bin/python)` };
}

function describeParseError(code: string): string {
  const map: Record<string, string> = {
    InvalidSymbol: 'unexpected character',
    InvalidNumberFormat: 'bad number',
    PropertyNameExpected: 'a property name in double quotes was expected',
    ValueExpected: 'a value was expected (a trailing comma?)',
    ColonExpected: "':' expected",
    CommaExpected: "',' expected",
    CloseBraceExpected: "'}' expected",
    CloseBracketExpected: "']' expected",
    EndOfFileExpected: 'extra text after the object',
    InvalidCommentToken: 'comments are not allowed in lora-queue.json',
    UnexpectedEndOfComment: 'unterminated comment',
    UnexpectedEndOfString: 'unterminated string',
    UnexpectedEndOfNumber: 'unterminated number',
    InvalidUnicode: 'bad \\u escape',
    InvalidEscapeCharacter: 'bad escape',
    InvalidCharacter: 'invalid character in string',
  };
  return map[code] ?? code;
}

function humanZodMessage(issue: z.core.$ZodIssue): string {
  const i = issue as z.core.$ZodIssue & { minimum?: number | bigint; maximum?: number | bigint; inclusive?: boolean; expected?: string; origin?: string; values?: unknown[] };
  switch (i.code) {
    case 'too_small':
      return i.origin === 'array' || i.origin === 'string' ? `must have at least ${i.minimum} ${i.origin === 'array' ? 'item(s)' : 'character(s)'}` : `must be ${i.inclusive === false ? '>' : '≥'} ${i.minimum}`;
    case 'too_big':
      return i.origin === 'array' || i.origin === 'string' ? `must have at most ${i.maximum} ${i.origin === 'array' ? 'item(s)' : 'character(s)'}` : `must be ${i.inclusive === false ? '<' : '≤'} ${i.maximum}`;
    case 'invalid_value':
      return `must be one of ${(i.values ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_type':
      return i.expected === 'int' ? 'must be an integer' : `must be ${i.expected === 'array' ? 'an array' : i.expected === 'object' ? 'an object' : `a ${i.expected}`}`;
    default:
      return i.message;
  }
}

/** 1-based line and column of an offset, and the end, for the CLI and LSP. */
export function offsetsToPositions(text: string): (offset: number) => { line: number; character: number } {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo, character: offset - starts[lo]! };
  };
}
