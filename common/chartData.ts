/**
 * The loss chart's pure data handling, bundled into the webview (media/lossChart.js) and tested
 * without a browser: a run's series as plain arrays, live points merged in, TensorBoard's smoothing.
 */
import type { LossSeries } from './protocol';

/** A run's series as the chart holds it (mutable plain arrays). */
export interface RunData {
  steps: number[];
  loss: (number | null)[];
  lr: (number | null)[];
  evalSteps: number[];
  evalLoss: (number | null)[];
}

export function runData(s: LossSeries): RunData {
  return { steps: [...s.steps], loss: [...s.loss], lr: [...s.lr], evalSteps: [...s.evalSteps], evalLoss: [...s.evalLoss] };
}

/** Removes the points at or after `step` from parallel columns keyed by `xs`. */
function cutFrom(xs: number[], cols: (number | null)[][], step: number): void {
  let keep = xs.length;
  while (keep > 0 && xs[keep - 1]! >= step) keep--;
  xs.length = keep;
  for (const c of cols) c.length = keep;
}

/**
 * Merges a batch of live points into what the chart holds. Steps go up; a batch whose first step
 * is not past the last one held (a resume from an earlier checkpoint, a `reset`) replaces the
 * curve from that step on, as the trainer did.
 */
export function mergeLive(d: RunData, add: LossSeries, reset = false): void {
  const first = add.steps[0] ?? (reset ? Number.NEGATIVE_INFINITY : undefined);
  if (first !== undefined) cutFrom(d.steps, [d.loss, d.lr], first);
  const firstEval = add.evalSteps[0] ?? (reset ? Number.NEGATIVE_INFINITY : undefined);
  if (firstEval !== undefined) cutFrom(d.evalSteps, [d.evalLoss], firstEval);
  d.steps.push(...add.steps);
  d.loss.push(...add.loss);
  d.lr.push(...add.lr);
  d.evalSteps.push(...add.evalSteps);
  d.evalLoss.push(...add.evalLoss);
}

/** Points the chart draws for a run (train and eval). */
export function pointCount(d: RunData): number {
  return d.steps.length + d.evalSteps.length;
}

/**
 * TensorBoard's smoothing: an exponential moving average with weight `w` in [0, 1), debiased so
 * the start is not pulled towards zero. Gaps (null) stay gaps and do not move the average.
 */
export function emaSmooth(ys: readonly (number | null)[], w: number): (number | null)[] {
  if (!(w > 0)) return [...ys];
  const weight = Math.min(w, 0.999);
  let last = 0;
  let n = 0;
  return ys.map((y) => {
    if (y === null || !Number.isFinite(y)) return null;
    last = last * weight + (1 - weight) * y;
    n++;
    return last / (1 - weight ** n);
  });
}
