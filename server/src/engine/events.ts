/**
 * Following a run's events.jsonl (trainer protocol v1) by polling its size. A last line without
 * its newline is kept back until it is complete; a complete line that is not an event is skipped.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export interface TrainerEvent {
  readonly type: string;
  readonly time?: number;
  readonly [key: string]: unknown;
}

export class EventTail {
  private offset = 0;
  private partial = Buffer.alloc(0);
  skipped = 0;

  constructor(readonly path: string) {}

  /** The events appended since the last call. */
  read(): TrainerEvent[] {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return [];
    }
    const chunks: Buffer[] = [this.partial];
    try {
      const size = fstatSync(fd).size;
      if (size < this.offset) {
        // Truncated: start over rather than read garbage.
        this.offset = 0;
        chunks.length = 0;
      }
      while (this.offset < size) {
        const buf = Buffer.alloc(Math.min(1 << 20, size - this.offset));
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        chunks.push(buf.subarray(0, n));
        this.offset += n;
      }
    } finally {
      closeSync(fd);
    }
    const all = Buffer.concat(chunks);
    const lastNl = all.lastIndexOf(0x0a);
    this.partial = lastNl < 0 ? all : all.subarray(lastNl + 1);
    if (lastNl < 0) return [];
    const out: TrainerEvent[] = [];
    for (const line of all.subarray(0, lastNl).toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const v = JSON.parse(line) as unknown;
        if (v && typeof v === 'object' && !Array.isArray(v) && typeof (v as { type?: unknown }).type === 'string') out.push(v as TrainerEvent);
        else this.skipped++;
      } catch {
        this.skipped++;
      }
    }
    return out;
  }
}

/** What the events of one run say so far. */
export interface Progress {
  events: number;
  totalSteps: number | null;
  step: number | null;
  epoch: number | null;
  loss: number | null;
  evalLoss: number | null;
  /** Unix seconds of the first step event seen, and its step, for the rate. */
  firstStepTime: number | null;
  firstStep: number | null;
  lastStepTime: number | null;
  lastEventTime: number | null;
  lastCheckpoint: string | null;
  lastCheckpointStep: number | null;
  done: { adapterPath: string | null; finalLoss: number | null; stopped: boolean } | null;
  error: { kind: string; message: string } | null;
}

export function emptyProgress(): Progress {
  return { events: 0, totalSteps: null, step: null, epoch: null, loss: null, evalLoss: null, firstStepTime: null, firstStep: null, lastStepTime: null, lastEventTime: null, lastCheckpoint: null, lastCheckpointStep: null, done: null, error: null };
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Folds events into the progress (mutates and returns it). */
export function applyEvents(p: Progress, events: readonly TrainerEvent[]): Progress {
  for (const e of events) {
    p.events++;
    const t = num(e.time);
    if (t !== null) p.lastEventTime = t;
    switch (e.type) {
      case 'start':
        p.totalSteps = num(e['total_steps']) ?? p.totalSteps;
        break;
      case 'step': {
        const step = num(e['step']);
        p.step = step ?? p.step;
        p.epoch = num(e['epoch']) ?? p.epoch;
        p.loss = num(e['loss']);
        if (t !== null && step !== null) {
          if (p.firstStepTime === null) {
            p.firstStepTime = t;
            p.firstStep = step;
          }
          p.lastStepTime = t;
        }
        break;
      }
      case 'eval':
        p.evalLoss = num(e['eval_loss']);
        break;
      case 'checkpoint':
        p.lastCheckpoint = str(e['path']) ?? p.lastCheckpoint;
        p.lastCheckpointStep = num(e['step']);
        break;
      case 'done':
        p.done = { adapterPath: str(e['adapter_path']), finalLoss: num(e['final_loss']), stopped: e['stopped'] === true };
        break;
      case 'error':
        p.error = { kind: str(e['kind']) ?? 'other', message: str(e['message']) ?? '' };
        break;
      default:
        break;
    }
  }
  return p;
}

/** Seconds left at the rate seen so far, or null. */
export function etaSeconds(p: Progress): number | null {
  if (p.totalSteps === null || p.step === null || p.firstStep === null || p.firstStepTime === null || p.lastStepTime === null) return null;
  const steps = p.step - p.firstStep;
  const secs = p.lastStepTime - p.firstStepTime;
  if (steps <= 0 || secs <= 0) return null;
  return Math.max(0, ((p.totalSteps - p.step) * secs) / steps);
}
