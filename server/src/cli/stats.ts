/**
 * `lora-queue stats [--config FILE] FILE... [--format json]`: token and length statistics with the
 * config's base-model tokenizer and chat template. Files stream through the LineSplitter (never
 * whole in memory); lines go in batches to token workers (worker_threads), at most a few batches
 * in flight, so reading waits for tokenizing and memory stays flat on any file size.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { ConfigError, findConfig, loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import { HashIndex } from '../dataset/hashIndex';
import { LineSplitter } from '../dataset/stream';
import { TokenWorker } from '../tokens/client';
import type { WorkerInit } from '../tokens/protocol';
import { workerOptions } from '../config/templateChoice';
import { workerKey } from '../tokens/templateChoice';
import type { LineCount } from '../tokens/protocol';
import type { Output } from './output';
import { expandOperands } from './validate';

export interface StatsArgs {
  readonly format: 'text' | 'json';
  readonly config?: string | undefined;
  readonly operands: readonly string[];
}

/** One file's statistics; the JSON contract holds at least file, examples, tokens, trainableTokens, maxTokens, overLength. */
export interface FileStats {
  file: string;
  baseModel: string;
  maxSeqLength: number;
  /** Lines that parse as JSON. */
  examples: number;
  /** Sum over examples of the token count after the chat template (over all of an example's sequences). */
  tokens: number;
  trainableTokens: number;
  minTokens: number;
  p50Tokens: number;
  p95Tokens: number;
  maxTokens: number;
  meanTokens: number;
  /** Examples with a sequence over maxSeqLength tokens. */
  overLength: number;
  /** Trainable tokens that right-side truncation to maxSeqLength drops. */
  droppedTrainableTokens: number;
  roles: Record<string, number>;
  /** Examples identical to an earlier one (same normalisation as the validator's duplicate-example). */
  duplicates: number;
  /** Examples the template cannot render (no messages, or the template raised): not in the token figures. */
  unrenderable: number;
  /** Examples that no rule of the mask contract can mask: tokens counted, trainable not. */
  unmaskable: number;
  /** Which chat template rendered the examples ("the model's own chat template", or trainingChatTemplate's). */
  chatTemplate: string;
  /** Examples per mask rule (generation, prefix, perTurn, lastTurn): how each was masked. */
  maskRules: Record<string, number>;
  /** Token sequences the examples train as (more than examples when perTurn splits a conversation). */
  sequences: number;
  /** Blank, non-JSON or oversized lines (the validator reports them). */
  skippedLines: number;
  firstError?: string;
}

const BATCH_LINES = 256;
const BATCH_BYTES = 256 * 1024;

/** A few workers for one model, fed least-busy first. */
class Pool {
  readonly workers: TokenWorker[];
  constructor(modelDir: string, size: number, options: Omit<WorkerInit, 'modelDir'>) {
    this.workers = Array.from({ length: size }, () => new TokenWorker(modelDir, undefined, options));
  }
  async ready(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.ready));
  }
  pick(): TokenWorker {
    return this.workers.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
  }
  close(): Promise<unknown> {
    return Promise.all(this.workers.map((w) => w.close()));
  }
}

export function workerCount(): number {
  const env = Number(process.env['LORA_QUEUE_TOKEN_WORKERS']);
  if (Number.isInteger(env) && env > 0) return env;
  return Math.max(1, Math.min(4, availableParallelism()));
}

interface ModelChoice {
  readonly configFile: string;
  readonly config: Config;
  readonly modelDir: string;
  readonly options: Omit<WorkerInit, 'modelDir'>;
}

class StatsError extends Error {}

function modelFor(configFile: string): ModelChoice {
  let config: Config;
  try {
    config = loadConfig(configFile);
  } catch (e) {
    throw new StatsError((e as Error).message);
  }
  if (!config.baseModel) {
    throw new StatsError(`${configFile}: no "baseModel" configured: stats needs the base model's tokenizer (set "baseModel" to a local Hugging Face model folder)`);
  }
  const modelDir = resolve(dirname(configFile), config.baseModel);
  if (!existsSync(modelDir) || !statSync(modelDir).isDirectory()) throw new StatsError(`${configFile}: baseModel ${modelDir} is not a folder`);
  return { configFile, config, modelDir, options: workerOptions(config, configFile) };
}

function percentile(sorted: Uint32Array, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length); // nearest rank
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

class Collector {
  private counts = new Uint32Array(1024);
  private n = 0;
  private readonly hashes = new HashIndex();
  readonly s: FileStats;

  constructor(file: string, model: ModelChoice) {
    this.s = {
      file, baseModel: model.modelDir, maxSeqLength: model.config.maxSeqLength,
      examples: 0, tokens: 0, trainableTokens: 0, minTokens: 0, p50Tokens: 0, p95Tokens: 0, maxTokens: 0, meanTokens: 0,
      overLength: 0, droppedTrainableTokens: 0, roles: {}, duplicates: 0, unrenderable: 0, unmaskable: 0, skippedLines: 0,
      chatTemplate: '', maskRules: {}, sequences: 0,
    };
  }

  add(r: LineCount): void {
    const s = this.s;
    if ('skipped' in r) {
      s.skippedLines++;
      return;
    }
    s.examples++;
    if (r.hash !== undefined && this.hashes.getOrInsert(r.hash, s.examples) !== undefined) s.duplicates++;
    if ('error' in r) {
      s.unrenderable++;
      s.firstError ??= r.error;
      return;
    }
    if (this.n === this.counts.length) {
      const bigger = new Uint32Array(this.counts.length * 2);
      bigger.set(this.counts);
      this.counts = bigger;
    }
    this.counts[this.n++] = r.tokens;
    s.tokens += r.tokens;
    if (r.trainable === null) {
      s.unmaskable++;
      s.firstError ??= r.maskError;
    } else {
      s.trainableTokens += r.trainable;
      const rule = r.rule ?? 'prefix';
      s.maskRules[rule] = (s.maskRules[rule] ?? 0) + 1;
      s.sequences += r.sequences ?? 1;
    }
    if (r.longest > s.maxSeqLength) s.overLength++;
    s.droppedTrainableTokens += r.droppedTrainable;
    if (r.roles) for (const [k, v] of Object.entries(r.roles)) s.roles[k] = (s.roles[k] ?? 0) + v;
  }

  skipLine(): void {
    this.s.skippedLines++;
  }

  finish(): FileStats {
    const sorted = this.counts.subarray(0, this.n).sort();
    const s = this.s;
    if (this.n) {
      s.minTokens = sorted[0]!;
      s.maxTokens = sorted[this.n - 1]!;
      s.p50Tokens = percentile(sorted, 50);
      s.p95Tokens = percentile(sorted, 95);
      s.meanTokens = Math.round((s.tokens / this.n) * 10) / 10;
    }
    return s;
  }
}

async function statsOfFile(file: string, model: ModelChoice, pool: Pool): Promise<FileStats> {
  const col = new Collector(file, model);
  const maxSeqLength = model.config.maxSeqLength;
  const limit = pool.workers.length * 2;
  const inFlight = new Set<Promise<void>>();
  let batch: string[] = [];
  let batchBytes = 0;
  let failure: Error | undefined;
  const dispatch = (): void => {
    if (!batch.length) return;
    const lines = batch;
    batch = [];
    batchBytes = 0;
    const p: Promise<void> = pool
      .pick()
      .count(lines, { maxSeqLength, stats: true })
      .then((results) => {
        for (const r of results) col.add(r);
      }, (e: unknown) => {
        failure ??= e as Error;
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  let first = true;
  const splitter = new LineSplitter(
    model.config.validation.maxLineBytes,
    (buf, start, end) => {
      if (first) {
        first = false;
        if (end - start >= 3 && buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf) start += 3;
      }
      batch.push(buf.toString('utf8', start, end));
      batchBytes += end - start;
      if (batch.length >= BATCH_LINES || batchBytes >= BATCH_BYTES) dispatch();
    },
    () => {
      first = false;
      col.skipLine();
    },
  );
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    splitter.push(chunk as Buffer);
    while (inFlight.size >= limit) await Promise.race(inFlight);
    if (failure) throw failure;
  }
  splitter.end();
  dispatch();
  while (inFlight.size) await Promise.race(inFlight);
  if (failure) throw failure;
  return col.finish();
}

const fmt = (n: number): string => n.toLocaleString('en-US');
const OWN_TEMPLATE = "the model's own chat template";
const RULE_WORDS: Record<string, string> = { generation: '{% generation %} markers', perTurn: 'per-turn (history-rewriting template)', lastTurn: 'last-turn (history-rewriting template)' };

function formatText(s: FileStats): string[] {
  const pct = s.tokens ? ` (${((100 * s.trainableTokens) / s.tokens).toFixed(1)}%)` : '';
  const lines = [
    `${s.file}: ${fmt(s.examples)} examples, ${fmt(s.tokens)} tokens, ${fmt(s.trainableTokens)} trainable${pct}`,
    `  tokens per example: min ${fmt(s.minTokens)}, p50 ${fmt(s.p50Tokens)}, p95 ${fmt(s.p95Tokens)}, max ${fmt(s.maxTokens)}, mean ${s.meanTokens}`,
    `  over maxSeqLength ${fmt(s.maxSeqLength)}: ${fmt(s.overLength)}${s.overLength ? ` (truncation drops ${fmt(s.droppedTrainableTokens)} trainable tokens)` : ''}`,
    `  roles: ${Object.entries(s.roles).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${fmt(v)}`).join(', ') || 'none'}`,
    `  duplicates: ${fmt(s.duplicates)}`,
  ];
  if (s.skippedLines) lines.push(`  skipped lines (blank, not JSON or too large; see validate): ${fmt(s.skippedLines)}`);
  if (s.unrenderable) lines.push(`  examples the chat template cannot render: ${fmt(s.unrenderable)} (first: ${s.firstError ?? '?'})`);
  if (s.unmaskable) lines.push(`  examples whose trained tokens cannot be located by any rule: ${fmt(s.unmaskable)} (first: ${s.firstError ?? '?'})`);
  const rules = Object.entries(s.maskRules).filter(([k]) => k !== 'prefix');
  if (rules.length || s.chatTemplate !== OWN_TEMPLATE) {
    lines.push(`  rendering: ${s.chatTemplate}${rules.map(([k, v]) => `; ${fmt(v)} examples by the ${RULE_WORDS[k] ?? k} rule`).join('')}${s.sequences !== s.examples - s.unrenderable - s.unmaskable ? ` (${fmt(s.sequences)} sequences)` : ''}`);
  }
  return lines;
}

export async function runStats(args: StatsArgs, out: Output): Promise<number> {
  if (args.operands.includes('-')) {
    out.err('lora-queue: stats reads files, not standard input');
    return 2;
  }
  const { files, failed } = expandOperands(args.operands, out);
  let status = failed ? 2 : 0;
  if (files.length === 0) return 2;

  const explicit = args.config ? resolve(args.config) : undefined;
  const models = new Map<string, ModelChoice | StatsError>();
  const modelOf = (file: string): ModelChoice => {
    const cfg = explicit ?? findConfig(dirname(resolve(file)));
    if (!cfg) throw new StatsError(`${file}: no lora-queue.json at or above its folder: pass --config FILE (stats needs the config's baseModel)`);
    let m = models.get(cfg);
    if (!m) {
      try {
        m = modelFor(cfg);
      } catch (e) {
        if (!(e instanceof StatsError)) throw e;
        m = e;
      }
      models.set(cfg, m);
    }
    if (m instanceof StatsError) throw m;
    return m;
  };

  const pools = new Map<string, Pool>();
  const results: FileStats[] = [];
  const reported = new Set<string>();
  try {
    for (const file of files) {
      let model: ModelChoice;
      try {
        model = modelOf(file);
      } catch (e) {
        if (!(e instanceof StatsError || e instanceof ConfigError)) throw e;
        if (!reported.has(e.message)) out.err(`lora-queue: ${e.message}`);
        reported.add(e.message);
        status = 2;
        continue;
      }
      const key = workerKey(model.modelDir, model.options);
      let pool = pools.get(key);
      if (!pool) {
        pool = new Pool(model.modelDir, workerCount(), model.options);
        pools.set(key, pool);
      }
      try {
        await pool.ready();
      } catch (e) {
        out.err(`lora-queue: cannot load the tokenizer of ${model.modelDir}: ${(e as Error).message}`);
        status = 2;
        continue;
      }
      let s: FileStats;
      try {
        s = await statsOfFile(file, model, pool);
        s.chatTemplate = pool.workers[0]!.templateOrigin;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        out.err(`lora-queue: ${file}: ${code ? `cannot read: ${code}` : (e as Error).message}`);
        status = 2;
        continue;
      }
      results.push(s);
      if (args.format === 'text') for (const l of formatText(s)) out.line(l);
    }
  } finally {
    await Promise.all([...pools.values()].map((p) => p.close()));
  }
  if (args.format === 'json') out.line(JSON.stringify(results, null, 2));
  return status;
}
