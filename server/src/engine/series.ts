/**
 * A run's loss curve read from its events.jsonl into columnar arrays: train steps with loss and
 * lr, eval steps with eval loss. Read incrementally by byte offset like EventTail, but in
 * bounded slices, so a million-step file is parsed without blocking the language server for
 * seconds, and into typed arrays, so it costs 8 bytes a number instead of an object a step.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { lowerBound } from '../../../common/downsample';

/** A growable Float64Array. */
export class Column {
  data = new Float64Array(1024);
  length = 0;

  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
}

/** Points of one kind (train or eval) sharing their step column. */
export class StepColumns {
  readonly step = new Column();
  constructor(readonly values: readonly Column[]) {}

  get length(): number {
    return this.step.length;
  }

  /**
   * Appends a point. A step at or below the last one means the trainer resumed from an earlier
   * checkpoint: the curve from that step on is replaced, as the resumed run overwrites it.
   */
  add(step: number, ...vs: number[]): void {
    if (this.step.length && step <= this.step.data[this.step.length - 1]!) {
      const keep = lowerBound(this.step.data, this.step.length, step);
      this.step.length = keep;
      for (const c of this.values) c.length = keep;
      this.lowWater = Math.min(this.lowWater, keep);
    }
    this.step.push(step);
    this.values.forEach((c, i) => c.push(vs[i]!));
  }

  /** Empties every column (the file was truncated or replaced). */
  clear(): void {
    this.step.length = 0;
    for (const c of this.values) c.length = 0;
    this.lowWater = 0;
  }

  /**
   * The shortest the columns were since the follower (the live feed) last looked: points from
   * here on are new or were replaced. The follower sets it back to `length` after sending.
   */
  lowWater = 0;
}

const SLICE = 4 << 20;
const num = (v: unknown): number => (typeof v === 'number' ? v : Number.NaN);

export class RunSeries {
  readonly train: StepColumns;
  readonly loss = new Column();
  readonly lr = new Column();
  readonly evals: StepColumns;
  readonly evalLoss = new Column();
  totalSteps: number | null = null;
  /** Complete lines that looked like step, eval or start events but were not JSON objects. */
  skipped = 0;
  private offset = 0;
  private partial = Buffer.alloc(0);
  private pending: Promise<void> | undefined;

  constructor(readonly path: string) {
    this.train = new StepColumns([this.loss, this.lr]);
    this.evals = new StepColumns([this.evalLoss]);
  }

  /**
   * Reads at most `maxBytes` of what was appended; true when more is waiting. A last line without
   * its newline is kept back until it is complete.
   */
  readSlice(maxBytes = SLICE): boolean {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return false;
    }
    let buf: Buffer;
    let more: boolean;
    try {
      const size = fstatSync(fd).size;
      if (size < this.offset) this.reset();
      const want = Math.min(maxBytes, size - this.offset);
      if (want <= 0) return false;
      buf = Buffer.allocUnsafe(want);
      const n = readSync(fd, buf, 0, want, this.offset);
      buf = buf.subarray(0, n);
      this.offset += n;
      more = this.offset < size;
    } finally {
      closeSync(fd);
    }
    const all = this.partial.length ? Buffer.concat([this.partial, buf]) : buf;
    const lastNl = all.lastIndexOf(0x0a);
    // Copy the torn tail: keeping a view would pin the whole slice in memory.
    this.partial = Buffer.from(lastNl < 0 ? all : all.subarray(lastNl + 1));
    if (lastNl >= 0) this.parse(all.toString('utf8', 0, lastNl));
    return more;
  }

  /** Reads everything appended so far, yielding to the event loop between slices. */
  update(): Promise<void> {
    if (!this.pending) {
      // Callers that come while a read is under way share it rather than read the same bytes.
      const p = this.drain();
      this.pending = p;
      const clear = (): void => {
        if (this.pending === p) this.pending = undefined;
      };
      p.then(clear, clear);
    }
    return this.pending;
  }

  private async drain(): Promise<void> {
    while (this.readSlice()) await new Promise((r) => setImmediate(r));
  }

  private parse(text: string): void {
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      const line = text.slice(start, end);
      start = end + 1;
      // Only step, eval and start events matter here: skip the rest without parsing them.
      if (!line.includes('"step"') && !line.includes('"eval"') && !line.includes('"start"')) continue;
      let e: Record<string, unknown>;
      try {
        const v = JSON.parse(line) as unknown;
        if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
        e = v as Record<string, unknown>;
      } catch {
        this.skipped++;
        continue;
      }
      const step = e['step'];
      if (e['type'] === 'step' && typeof step === 'number') this.train.add(step, num(e['loss']), num(e['lr']));
      else if (e['type'] === 'eval' && typeof step === 'number') this.evals.add(step, num(e['eval_loss']));
      else if (e['type'] === 'start' && typeof e['total_steps'] === 'number') this.totalSteps = e['total_steps'];
    }
  }

  private reset(): void {
    // The file was truncated or replaced: start over rather than mix two curves.
    this.offset = 0;
    this.partial = Buffer.alloc(0);
    this.train.clear();
    this.evals.clear();
    this.totalSteps = null;
  }
}
