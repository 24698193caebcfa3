/**
 * The usage ledger: `ledger.jsonl` in the queue root, one line per finished run (time, run id,
 * dataset, model, outcome, GPU-seconds, examples, tokens, final loss).
 *
 * Appending is durable and never rewrites what is there: open with O_APPEND, write one whole line
 * with one write, fsync, close. A file that does not end with a newline (a torn last line from a
 * crash or a full disk) gets the new record on a new line, so the torn bytes stay one bad line and
 * the new record is whole. Reading skips a torn or corrupt line with a warning and never fails;
 * records are unique by run id (a run settled twice after a crash counts once). A record that could
 * not be written (a full disk) is kept in memory and written with the next one.
 * `lora-queue usage` sums the ledger by day (UTC) and model. Design: docs/engine.md, "Usage ledger".
 */
import { closeSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fsyncDir } from './atomic';
import type { TrainerEvent } from './events';
import type { EndKind, RunRecord } from './types';

export const LEDGER_FILE = 'ledger.jsonl';

export function ledgerPath(root: string): string {
  return join(root, LEDGER_FILE);
}

export interface LedgerRecord {
  readonly v: 1;
  /** When the run ended (ISO, UTC). */
  readonly time: string;
  readonly runId: string;
  readonly dataset: string;
  /** The base model the run trained on (job.json's base_model). */
  readonly model: string;
  /** How the run ended (the engine's classification: success, stopped, crash…). */
  readonly outcome: EndKind | string;
  /** Where the dataset went: done, failed, or back to the queue. */
  readonly to: string;
  readonly attempt: number;
  readonly startedAt: string;
  readonly wallSeconds: number;
  /** GPUs used: the start event's world_size (0 on a CPU device); 1 when unknown. */
  readonly gpus: number;
  readonly gpuSeconds: number;
  /** Training examples: the trainer's start event (train_examples), else the dataset's count. */
  readonly examples: number | null;
  /** Tokens, from the trainer's events when it reports them; null otherwise. */
  readonly tokens: number | null;
  readonly finalLoss: number | null;
  /**
   * The trainer's start event said `warm` (trainer.resident): true when the resident trainer had the
   * base model loaded already, so the load was paid, and counted, in the wallSeconds of an earlier
   * run (the one that started it), once; false when this run paid it. Absent: not said.
   */
  readonly warm?: boolean;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function readEvents(path: string): TrainerEvent[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out: TrainerEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as unknown;
      if (e && typeof e === 'object' && typeof (e as TrainerEvent).type === 'string') out.push(e as TrainerEvent);
    } catch {
      // a torn or foreign line
    }
  }
  return out;
}

export interface RunFacts {
  readonly record: RunRecord;
  readonly kind: EndKind;
  readonly to: string;
  /** When the engine settled the run. */
  readonly now: Date;
  /** Whether the engine saw the trainer exit (false: it ended while no engine watched). */
  readonly exitObserved: boolean;
  readonly finalLoss: number | null;
  /** The dataset's example count (its sidecar), used when the trainer does not report one. */
  readonly datasetExamples: number | null;
  /** The configured base model, used when job.json cannot be read. */
  readonly fallbackModel: string;
  /**
   * A Slurm job's own figures: the seconds it ran (not counting its wait in the queue) and the GPUs
   * of its allocation (AllocTRES gres/gpu; null where Slurm does not say: world size then).
   */
  readonly allocation?: { readonly seconds: number; readonly gpus: number | null } | null;
}

/** The ledger line for a finished run, from its record, job.json and events. */
export function ledgerRecordFor(f: RunFacts): LedgerRecord {
  const rec = f.record;
  const events = readEvents(rec.eventsPath);
  let model = f.fallbackModel;
  try {
    const job = JSON.parse(readFileSync(rec.jobPath, 'utf8')) as { base_model?: unknown };
    if (typeof job.base_model === 'string') model = job.base_model;
  } catch {
    // job.json gone: the configured model
  }
  const start = [...events].reverse().find((e) => e.type === 'start');
  const done = [...events].reverse().find((e) => e.type === 'done');
  const startMs = Date.parse(rec.startedAt);
  // Ended unobserved: its last event is the best end time we have.
  const lastEvent = num(events[events.length - 1]?.time);
  const endMs = f.exitObserved || lastEvent === null ? f.now.getTime() : Math.max(startMs, lastEvent * 1000);
  const wallSeconds = f.allocation ? f.allocation.seconds : Number.isFinite(startMs) ? Math.max(0, (endMs - startMs) / 1000) : 0;
  let gpus = 1;
  if (start) {
    const device = typeof start['device'] === 'string' ? start['device'].toLowerCase() : '';
    const ws = num(start['world_size']);
    if (device.startsWith('cpu')) gpus = 0;
    else if (ws !== null && ws >= 1) gpus = Math.round(ws);
  }
  if (f.allocation?.gpus != null) gpus = f.allocation.gpus;
  const examples = num(start?.['train_examples']) ?? num(start?.['examples']) ?? f.datasetExamples;
  let tokens: number | null = null;
  for (const k of ['tokens', 'total_tokens', 'train_tokens', 'trained_tokens', 'num_tokens']) {
    tokens ??= num(done?.[k]);
  }
  if (tokens === null) {
    const perStep = events.filter((e) => e.type === 'step' && num(e['tokens']) !== null);
    if (perStep.length) tokens = perStep.reduce((s, e) => s + (num(e['tokens']) ?? 0), 0);
  }
  return {
    v: 1, time: f.now.toISOString(), runId: rec.runId, dataset: rec.dataset, model, outcome: f.kind, to: f.to, attempt: rec.attempt, startedAt: rec.startedAt,
    wallSeconds: round3(wallSeconds), gpus, gpuSeconds: round3(wallSeconds * gpus), examples, tokens, finalLoss: f.finalLoss ?? num(done?.['final_loss']),
    ...(typeof start?.['warm'] === 'boolean' && { warm: start['warm'] }),
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

// ---- reading ----------------------------------------------------------------------------------

export interface LedgerRead {
  readonly records: LedgerRecord[];
  /** One per skipped line: `ledger.jsonl line N: …`. */
  readonly warnings: string[];
}

function isRecord(x: unknown): x is LedgerRecord {
  if (!x || typeof x !== 'object' || Array.isArray(x)) return false;
  const r = x as Record<string, unknown>;
  return typeof r['runId'] === 'string' && typeof r['time'] === 'string' && Number.isFinite(Date.parse(r['time'] as string))
    && typeof r['model'] === 'string' && typeof r['outcome'] === 'string' && typeof r['gpuSeconds'] === 'number' && Number.isFinite(r['gpuSeconds']);
}

/** Every valid record (the last one per run id); torn and corrupt lines are skipped with a warning. */
export function readLedger(file: string): LedgerRead {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], warnings: [] };
    return { records: [], warnings: [`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`] };
  }
  const lines = text.split('\n');
  const torn = !text.endsWith('\n') && text.length > 0;
  if (lines[lines.length - 1] === '') lines.pop();
  const byRun = new Map<string, LedgerRecord>();
  const warnings: string[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      v = undefined;
    }
    if (!isRecord(v)) {
      const last = i === lines.length - 1 && torn;
      warnings.push(`${LEDGER_FILE} line ${i + 1}: ${last ? 'torn last line (no newline)' : 'not a usage record (corrupt)'}: skipped: ${JSON.stringify(line.slice(0, 80))}`);
      return;
    }
    byRun.delete(v.runId);
    byRun.set(v.runId, v);
  });
  return { records: [...byRun.values()], warnings };
}

// ---- appending --------------------------------------------------------------------------------

/** Appends one line durably; a file not ending with a newline gets the line on a new line. */
export function appendLine(file: string, line: string): void {
  const fd = openSync(file, 'a', 0o644);
  let created = false;
  try {
    const size = fstatSync(fd).size;
    created = size === 0;
    let prefix = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      // O_APPEND ignores the position for writes, not for reads: read the last byte with pread.
      const rfd = openSync(file, 'r');
      try {
        readSync(rfd, last, 0, 1, size - 1);
      } finally {
        closeSync(rfd);
      }
      if (last[0] !== 0x0a) prefix = '\n';
    }
    const buf = Buffer.from(`${prefix}${line}\n`, 'utf8');
    // One write: O_APPEND places it whole at the end, after anything another writer appended.
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (created) fsyncDir(dirname(file));
}

/**
 * The engine's writer: records that could not be written (a full disk) wait in memory and go out
 * with the next one. A run already in the ledger (settled again after a crash) is not written twice.
 */
export class LedgerWriter {
  private pending: LedgerRecord[] = [];

  constructor(readonly file: string) {}

  /** Queues `rec` and writes everything pending; returns the problems (for the log). */
  append(rec?: LedgerRecord): string[] {
    if (rec) this.pending.push(rec);
    if (!this.pending.length) return [];
    const problems: string[] = [];
    let known: Set<string>;
    try {
      known = new Set(readLedger(this.file).records.map((r) => r.runId));
    } catch {
      known = new Set();
    }
    while (this.pending.length) {
      const r = this.pending[0]!;
      if (!known.has(r.runId)) {
        try {
          appendLine(this.file, JSON.stringify(r));
        } catch (e) {
          problems.push(`cannot append run ${r.runId} to ${LEDGER_FILE} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); ${this.pending.length} record(s) kept in memory, retried with the next run`);
          break;
        }
      }
      this.pending.shift();
    }
    return problems;
  }

  get backlog(): number {
    return this.pending.length;
  }
}

// ---- summing ----------------------------------------------------------------------------------

export interface UsageRow {
  /** UTC day, YYYY-MM-DD (of the run's end). */
  readonly day: string;
  readonly model: string;
  runs: number;
  gpuSeconds: number;
  gpuHours: number;
  examples: number;
  /** null when no run of the row reported tokens. */
  tokens: number | null;
  outcomes: Record<string, number>;
}

export interface UsageSummary {
  readonly ledger: string;
  readonly rows: UsageRow[];
  readonly total: Omit<UsageRow, 'day' | 'model'>;
  readonly skippedLines: number;
  readonly warnings: string[];
}

function addTo(row: Omit<UsageRow, 'day' | 'model'>, r: LedgerRecord): void {
  row.runs += 1;
  row.gpuSeconds = round3(row.gpuSeconds + r.gpuSeconds);
  row.gpuHours = Math.round((row.gpuSeconds / 3600) * 1e6) / 1e6;
  row.examples += typeof r.examples === 'number' ? r.examples : 0;
  if (typeof r.tokens === 'number') row.tokens = (row.tokens ?? 0) + r.tokens;
  row.outcomes[r.outcome] = (row.outcomes[r.outcome] ?? 0) + 1;
}

const emptyRow = (): Omit<UsageRow, 'day' | 'model'> => ({ runs: 0, gpuSeconds: 0, gpuHours: 0, examples: 0, tokens: null, outcomes: {} });

export function summarizeUsage(file: string): UsageSummary {
  const { records, warnings } = readLedger(file);
  const rows = new Map<string, UsageRow>();
  const total = emptyRow();
  for (const r of records) {
    const day = new Date(r.time).toISOString().slice(0, 10);
    const key = `${day}\u0000${r.model}`;
    let row = rows.get(key);
    if (!row) rows.set(key, (row = { day, model: r.model, ...emptyRow() }));
    addTo(row, r);
    addTo(total, r);
  }
  const sorted = [...rows.values()].sort((a, b) => (a.day !== b.day ? (a.day < b.day ? -1 : 1) : a.model < b.model ? -1 : a.model > b.model ? 1 : 0));
  return { ledger: file, rows: sorted, total, skippedLines: warnings.length, warnings };
}

export function formatUsage(s: UsageSummary): string[] {
  if (!s.rows.length) return [`no runs in ${s.ledger} yet`];
  const outcomes = (o: Record<string, number>): string => Object.entries(o).sort().map(([k, n]) => `${k} ${n}`).join(', ');
  const table = [['day', 'model', 'runs', 'GPU-hours', 'examples', 'tokens', 'outcomes']];
  for (const r of s.rows) table.push([r.day, r.model, String(r.runs), r.gpuHours.toFixed(3), String(r.examples), r.tokens === null ? '-' : String(r.tokens), outcomes(r.outcomes)]);
  const t = s.total;
  table.push(['total', '', String(t.runs), t.gpuHours.toFixed(3), String(t.examples), t.tokens === null ? '-' : String(t.tokens), outcomes(t.outcomes)]);
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  return table.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ').trimEnd());
}
