/**
 * Min/max-preserving downsampling of a loss curve, for the chart: a million steps become a
 * couple of thousand points that draw the same picture (every spike and every dip survives,
 * which LTTB's area heuristic does not promise). Pure, O(n), no allocation per point.
 */

/**
 * The indices of the points to keep from `[from, to)` of a series with increasing `x`: the first
 * and the last point, and in each of about `maxPoints / 2` equal-width x buckets the point with
 * the least and the one with the greatest finite `y` (in index order, so x stays increasing). A
 * bucket with no finite `y` keeps its first point, so a NaN/Infinity stretch shows as a gap.
 * Never more than `maxPoints` indices; every index when the range has no more than that.
 */
export function minMaxIndices(x: ArrayLike<number>, y: ArrayLike<number>, from: number, to: number, maxPoints: number): number[] {
  const n = to - from;
  if (n <= 0) return [];
  if (n <= maxPoints) return Array.from({ length: n }, (_, i) => from + i);
  if (maxPoints < 2) return [to - 1];
  const buckets = Math.floor((maxPoints - 2) / 2);
  if (buckets === 0) return [from, to - 1];
  const x0 = x[from]!;
  const span = x[to - 1]! - x0;
  const out: number[] = [from];
  let bucket = -1;
  let lo = -1;
  let hi = -1;
  let firstNonFinite = -1;
  const flush = (): void => {
    if (lo < 0) {
      if (firstNonFinite >= 0) push(firstNonFinite);
    } else if (lo === hi) push(lo);
    else if (lo < hi) {
      push(lo);
      push(hi);
    } else {
      push(hi);
      push(lo);
    }
  };
  const push = (i: number): void => {
    if (i > out[out.length - 1]! && i < to - 1) out.push(i);
  };
  for (let i = from + 1; i < to - 1; i++) {
    const b = span > 0 ? Math.min(buckets - 1, Math.floor(((x[i]! - x0) / span) * buckets)) : 0;
    if (b !== bucket) {
      flush();
      bucket = b;
      lo = hi = firstNonFinite = -1;
    }
    const v = y[i]!;
    if (!Number.isFinite(v)) {
      if (firstNonFinite < 0) firstNonFinite = i;
      continue;
    }
    if (lo < 0 || v < y[lo]!) lo = i;
    if (hi < 0 || v > y[hi]!) hi = i;
  }
  flush();
  out.push(to - 1);
  return out;
}

/** The first index in `[0, length)` whose x is at least `v` (binary search over increasing x). */
export function lowerBound(x: ArrayLike<number>, length: number, v: number): number {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first index in `[0, length)` whose x is greater than `v`. */
export function upperBound(x: ArrayLike<number>, length: number, v: number): number {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x[mid]! <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
