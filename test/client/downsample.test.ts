/** The chart's downsampler and live-merge/smoothing helpers: pure, so tested on arrays. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { emaSmooth, mergeLive, pointCount, runData } from '../../common/chartData';
import { lowerBound, minMaxIndices, upperBound } from '../../common/downsample';

const steps = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/** The bucket a point falls in, as documented: equal-width x buckets between the first and last point. */
function bucketOf(x: readonly number[], i: number, buckets: number): number {
  const span = x[x.length - 1]! - x[0]!;
  return span > 0 ? Math.min(buckets - 1, Math.floor(((x[i]! - x[0]!) / span) * buckets)) : 0;
}

describe('minMaxIndices', () => {
  it('keeps every point when there are no more than asked for', () => {
    assert.deepEqual(minMaxIndices([1, 2, 3], [3, 2, 1], 0, 3, 3), [0, 1, 2]);
    assert.deepEqual(minMaxIndices([1, 2, 3], [3, 2, 1], 0, 3, 100), [0, 1, 2]);
  });

  it('returns nothing for an empty range', () => {
    assert.deepEqual(minMaxIndices([], [], 0, 0, 10), []);
    assert.deepEqual(minMaxIndices([1, 2], [1, 2], 1, 1, 10), []);
  });

  it('keeps a single spike among a million flat steps, and the first and last step', () => {
    const n = 1_000_000;
    const x = new Float64Array(n).map((_, i) => i);
    const y = new Float64Array(n).fill(1);
    y[777_777] = 50;
    y[123_456] = -3;
    const idx = minMaxIndices(x, y, 0, n, 2000);
    assert.ok(idx.length <= 2000, `${idx.length} points`);
    assert.ok(idx.includes(777_777) && idx.includes(123_456), 'the spike and the dip survive');
    assert.equal(idx[0], 0);
    assert.equal(idx.at(-1), n - 1);
  });

  it('keeps the least and the greatest finite value of every bucket, first and last, in increasing x, within the bound', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY)), { minLength: 1, maxLength: 400 }),
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 400, maxLength: 400 }),
        fc.integer({ min: 2, max: 60 }),
        (y, gaps, maxPoints) => {
          const x: number[] = [];
          y.forEach((_, i) => x.push((x[i - 1] ?? 0) + gaps[i]!));
          const idx = minMaxIndices(x, y, 0, y.length, maxPoints);
          assert.ok(idx.length <= maxPoints, `${idx.length} > ${maxPoints}`);
          assert.equal(idx[0], 0);
          assert.equal(idx.at(-1), y.length - 1);
          for (let k = 1; k < idx.length; k++) assert.ok(idx[k]! > idx[k - 1]!, 'x increases');
          const buckets = Math.floor((maxPoints - 2) / 2);
          if (y.length <= maxPoints || buckets === 0) return;
          const kept = new Set(idx);
          const byBucket = new Map<number, number[]>();
          for (let i = 1; i < y.length - 1; i++) {
            const b = bucketOf(x, i, buckets);
            byBucket.set(b, [...(byBucket.get(b) ?? []), i]);
          }
          for (const members of byBucket.values()) {
            const fin = members.filter((i) => Number.isFinite(y[i]!));
            if (!fin.length) {
              assert.ok(members.some((i) => kept.has(i)), 'a bucket of NaN/Infinity keeps a point (a gap)');
              continue;
            }
            const lo = Math.min(...fin.map((i) => y[i]!));
            const hi = Math.max(...fin.map((i) => y[i]!));
            const keptVals = fin.filter((i) => kept.has(i)).map((i) => y[i]!);
            assert.ok(keptVals.includes(lo), `bucket min ${lo} kept`);
            assert.ok(keptVals.includes(hi), `bucket max ${hi} kept`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('downsamples a sub-range only', () => {
    const x = steps(1000);
    const y = x.map((v) => Math.sin(v / 10));
    const idx = minMaxIndices(x, y, 100, 200, 20);
    assert.equal(idx[0], 100);
    assert.equal(idx.at(-1), 199);
    assert.ok(idx.every((i) => i >= 100 && i < 200) && idx.length <= 20);
  });
});

describe('lowerBound / upperBound', () => {
  it('find a step range in increasing steps', () => {
    const x = [1, 2, 4, 8];
    assert.equal(lowerBound(x, 4, 3), 2);
    assert.equal(upperBound(x, 4, 4), 3);
    assert.equal(lowerBound(x, 4, Number.NEGATIVE_INFINITY), 0);
    assert.equal(upperBound(x, 4, Number.POSITIVE_INFINITY), 4);
  });
});

describe('the chart data', () => {
  const series = (s: number[], e: number[] = []) => ({ runId: 'r', steps: s, loss: s.map((v) => 1 / v), lr: s.map(() => 1e-4), evalSteps: e, evalLoss: e.map((v) => 2 / v) });

  it('appends live points', () => {
    const d = runData(series([1, 2, 3], [2]));
    mergeLive(d, series([4, 5], [4]));
    assert.deepEqual(d.steps, [1, 2, 3, 4, 5]);
    assert.deepEqual(d.evalSteps, [2, 4]);
    assert.equal(pointCount(d), 7);
  });

  it('replaces the curve from a resumed step on, as the trainer did', () => {
    const d = runData(series([1, 2, 3, 4, 5]));
    mergeLive(d, { ...series([3, 4]), loss: [9, 9] });
    assert.deepEqual(d.steps, [1, 2, 3, 4]);
    assert.deepEqual(d.loss, [1, 0.5, 9, 9]);
  });

  it('a reset with no points clears the run', () => {
    const d = runData(series([1, 2], [2]));
    mergeLive(d, series([]), true);
    assert.equal(pointCount(d), 0);
  });

  it('smooths like TensorBoard: debiased EMA, gaps stay gaps', () => {
    assert.deepEqual(emaSmooth([1, 2, 3], 0), [1, 2, 3]);
    const s = emaSmooth([4, null, 4, 4], 0.9);
    assert.equal(s[1], null);
    for (const v of [s[0], s[2], s[3]]) assert.ok(Math.abs(v! - 4) < 1e-12, 'a constant stays constant (no pull towards 0)');
    const step = emaSmooth([0, 0, 0, 10], 0.5);
    assert.ok(step[3]! > 0 && step[3]! < 10, 'a jump is softened');
  });
});
