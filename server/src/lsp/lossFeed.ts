/**
 * The loss chart's server side: runs' curves read from their events.jsonl (cached, read
 * incrementally), downsampled on request (`loraQueue/lossSeries`), and the training run's new
 * points pushed in batches (`loraQueue/progress`, at most about ten a second).
 */
import { join } from 'node:path';
import { lowerBound, minMaxIndices, upperBound } from '../../../common/downsample';
import type { ChartRun, LossProgressNotification, LossSeries, LossSeriesRequest } from '../../../common/protocol';
import { RunSeries, type Column, type StepColumns } from '../engine/series';
import type { EngineState } from '../engine/types';

const CACHED_RUNS = 8;
const DEFAULT_POINTS = 2000;
// High enough to ask for a whole run raw (the benchmark's baseline); the chart asks for about twice its width.
const MAX_POINTS = 10_000_000;
const MAX_RUNS_PER_REQUEST = 16;
const BATCH_MS = 100;
/** A run first seen with more points than this (a window opened on a long run) sends only its tail; the chart loads the rest through lossSeries. */
const LIVE_BACKLOG = 10_000;

/** Run ids are folder names the engine made; anything else could walk out of runs/. */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);

function pick(c: Column, idx: readonly number[]): (number | null)[] {
  return idx.map((i) => finite(c.data[i]!));
}

/** The runs the chart can show, newest first: the current one, then the engine's history. */
export function chartRuns(state: EngineState): ChartRun[] {
  const out: ChartRun[] = [];
  const cur = state.current;
  if (cur) out.push({ runId: cur.runId, dataset: cur.dataset, attempt: cur.attempt, state: 'training', startedAt: cur.startedAt });
  for (const h of [...state.history].reverse()) {
    if (out.some((r) => r.runId === h.runId)) continue;
    out.push({ runId: h.runId, dataset: h.dataset, attempt: h.attempt, state: h.kind, startedAt: h.startedAt });
  }
  return out;
}

export class LossFeed {
  /** Most recently used last. */
  private readonly cache = new Map<string, RunSeries>();
  private live: { runId: string; sentTrain: number; sentEval: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly runsDir: string,
    private readonly currentRun: () => string | null,
    private readonly send: (p: LossProgressNotification.Params) => void,
  ) {}

  /** Starts following the training run (whichever it is at each batch). */
  start(): void {
    this.timer ??= setInterval(() => void this.batch(), BATCH_MS);
    // The feed must not keep a server that was told to exit alive.
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  series(runId: string): RunSeries {
    if (!RUN_ID.test(runId)) throw new Error(`not a run id: ${JSON.stringify(runId)}`);
    let s = this.cache.get(runId);
    if (s) this.cache.delete(runId);
    else s = new RunSeries(join(this.runsDir, runId, 'events.jsonl'));
    this.cache.set(runId, s);
    while (this.cache.size > CACHED_RUNS) {
      const oldest = this.cache.keys().next().value!;
      if (oldest === this.live?.runId) {
        // The live run stays cached: move it to the newest end instead.
        const live = this.cache.get(oldest)!;
        this.cache.delete(oldest);
        this.cache.set(oldest, live);
        continue;
      }
      this.cache.delete(oldest);
    }
    return s;
  }

  async lossSeries(p: LossSeriesRequest.Params): Promise<LossSeriesRequest.Result> {
    const maxPoints = Math.min(MAX_POINTS, Math.max(2, Math.floor(p.maxPoints ?? DEFAULT_POINTS)));
    const runs: LossSeriesRequest.RunResult[] = [];
    for (const runId of (p.runIds ?? []).slice(0, MAX_RUNS_PER_REQUEST)) {
      try {
        const s = this.series(runId);
        await s.update();
        runs.push(downsampleRun(runId, s, p.fromStep ?? Number.NEGATIVE_INFINITY, p.toStep ?? Number.POSITIVE_INFINITY, maxPoints));
      } catch (e) {
        runs.push({ runId, error: (e as Error).message });
      }
    }
    return { runs };
  }

  /** One batch: what the training run (and, once, the run that just ended) appended since the last. */
  private async batch(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const current = this.currentRun();
      const live = this.live;
      if (live && live.runId !== current) {
        // The run ended: its last points still go out, in a batch that says it ended.
        await this.flush(live, false);
        this.live = undefined;
      }
      if (current && RUN_ID.test(current)) {
        if (!this.live) {
          const s = this.series(current);
          await s.update();
          this.live = { runId: current, sentTrain: Math.max(0, s.train.length - LIVE_BACKLOG), sentEval: Math.max(0, s.evals.length - LIVE_BACKLOG) };
          s.train.lowWater = s.train.length;
          s.evals.lowWater = s.evals.length;
        }
        await this.flush(this.live, true);
      }
    } catch {
      // A read that failed (the run folder removed under us) is tried again next batch; an
      // unhandled rejection would take the whole language server down.
    } finally {
      this.busy = false;
    }
  }

  private async flush(live: { runId: string; sentTrain: number; sentEval: number }, training: boolean): Promise<void> {
    const s = this.series(live.runId);
    await s.update();
    const fromTrain = Math.min(live.sentTrain, s.train.lowWater);
    const fromEval = Math.min(live.sentEval, s.evals.lowWater);
    const reset = fromTrain < live.sentTrain || fromEval < live.sentEval;
    if (training && !reset && fromTrain === s.train.length && fromEval === s.evals.length) return;
    const range = (c: StepColumns, from: number): number[] => Array.from({ length: c.length - from }, (_, i) => from + i);
    const t = range(s.train, fromTrain);
    const e = range(s.evals, fromEval);
    live.sentTrain = s.train.lowWater = s.train.length;
    live.sentEval = s.evals.lowWater = s.evals.length;
    this.send({ runs: [{ ...columns(live.runId, s, t, e), totalSteps: s.totalSteps, reset, training }] });
  }
}

function columns(runId: string, s: RunSeries, train: readonly number[], evals: readonly number[]): LossSeries {
  return {
    runId,
    steps: train.map((i) => s.train.step.data[i]!),
    loss: pick(s.loss, train),
    lr: pick(s.lr, train),
    evalSteps: evals.map((i) => s.evals.step.data[i]!),
    evalLoss: pick(s.evalLoss, evals),
  };
}

/** A run's series over `[fromStep, toStep]`, each kind downsampled to at most `maxPoints`. */
export function downsampleRun(runId: string, s: RunSeries, fromStep: number, toStep: number, maxPoints: number): LossSeriesRequest.RunResult {
  const slice = (c: StepColumns, y: Column): { idx: number[]; n: number } => {
    const from = lowerBound(c.step.data, c.length, fromStep);
    const end = Math.max(from, upperBound(c.step.data, c.length, toStep));
    return { idx: minMaxIndices(c.step.data, y.data, from, end, maxPoints), n: end - from };
  };
  // The learning rate is smooth: sampled where the loss is, it keeps its shape.
  const t = slice(s.train, s.loss);
  const e = slice(s.evals, s.evalLoss);
  return {
    ...columns(runId, s, t.idx, e.idx),
    totalSteps: s.totalSteps,
    points: t.n,
    evalPoints: e.n,
    downsampled: t.idx.length < t.n || e.idx.length < e.n,
  };
}
