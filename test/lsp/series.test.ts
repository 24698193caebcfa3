/** A run's loss curve read from its events.jsonl: incremental, tolerant of torn lines, resumes. */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { RunSeries } from '../../server/src/engine/series';
import { downsampleRun, LossFeed } from '../../server/src/lsp/lossFeed';
import type { LossProgressNotification } from '../../common/protocol';

const step = (n: number, loss: number | null = 1 / n): string => JSON.stringify({ type: 'step', time: 1, step: n, epoch: 0, loss, lr: 1e-4 * n, grad_norm: 1, tokens_per_second: 10 }) + '\n';
const evalEv = (n: number): string => JSON.stringify({ type: 'eval', time: 1, step: n, eval_loss: 2 / n }) + '\n';
const start = (total: number): string => JSON.stringify({ type: 'start', time: 1, total_steps: total, world_size: 1, device: 'cpu' }) + '\n';

function runFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lq-series-'));
  const f = join(dir, 'events.jsonl');
  writeFileSync(f, '');
  return f;
}

const steps = (s: RunSeries): number[] => Array.from(s.train.step.data.subarray(0, s.train.length));

describe('RunSeries', () => {
  it('reads steps, evals and the total, and only what was appended on the next read', async () => {
    const f = runFile();
    appendFileSync(f, start(10) + step(1) + step(2) + evalEv(2) + JSON.stringify({ type: 'heartbeat', time: 1 }) + '\n');
    const s = new RunSeries(f);
    await s.update();
    assert.equal(s.totalSteps, 10);
    assert.deepEqual(steps(s), [1, 2]);
    assert.equal(s.lr.data[1], 2e-4);
    assert.equal(s.evals.length, 1);
    assert.equal(s.evalLoss.data[0], 1);
    appendFileSync(f, step(3));
    await s.update();
    assert.deepEqual(steps(s), [1, 2, 3]);
  });

  it('keeps a torn last line back until it is complete, and skips a broken complete one', async () => {
    const f = runFile();
    const line = step(2);
    appendFileSync(f, step(1) + line.slice(0, 20));
    const s = new RunSeries(f);
    await s.update();
    assert.deepEqual(steps(s), [1]);
    appendFileSync(f, line.slice(20) + '{"type":"step", broken\n' + step(3));
    await s.update();
    assert.deepEqual(steps(s), [1, 2, 3]);
    assert.equal(s.skipped, 1);
  });

  it('reads a file bigger than one slice across slices, a line split between them', () => {
    const f = runFile();
    appendFileSync(f, Array.from({ length: 500 }, (_, i) => step(i + 1)).join(''));
    const s = new RunSeries(f);
    let slices = 0;
    while (s.readSlice(1000)) slices++;
    assert.ok(slices > 10);
    assert.deepEqual(steps(s), Array.from({ length: 500 }, (_, i) => i + 1));
  });

  it('keeps a NaN loss as a non-finite point (the chart shows a gap), not as a dropped step', async () => {
    const f = runFile();
    appendFileSync(f, step(1) + step(2, null));
    const s = new RunSeries(f);
    await s.update();
    assert.equal(s.train.length, 2);
    assert.ok(Number.isNaN(s.loss.data[1]));
    const r = downsampleRun('r', s, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, 100);
    assert.ok(!('error' in r));
    if (!('error' in r)) assert.deepEqual(r.loss, [1, null]);
  });

  it('replaces the curve from the step a resumed trainer starts again at', async () => {
    const f = runFile();
    appendFileSync(f, step(1) + step(2) + step(3) + step(4));
    const s = new RunSeries(f);
    await s.update();
    appendFileSync(f, start(10) + step(3, 7) + step(4, 7) + step(5, 7));
    await s.update();
    assert.deepEqual(steps(s), [1, 2, 3, 4, 5]);
    assert.deepEqual(Array.from(s.loss.data.subarray(2, 5)), [7, 7, 7]);
    assert.equal(s.train.lowWater, 0, 'the follower is told to resend from where the cut was');
  });

  it('starts over when the file is replaced by a shorter one', async () => {
    const f = runFile();
    appendFileSync(f, step(1) + step(2) + step(3));
    const s = new RunSeries(f);
    await s.update();
    writeFileSync(f, step(1));
    await s.update();
    assert.deepEqual(steps(s), [1]);
  });
});

describe('LossFeed', () => {
  it('downsamples a step range, and refuses a run id that would leave runs/', async () => {
    const runs = mkdtempSync(join(tmpdir(), 'lq-feed-'));
    mkdirSync(join(runs, 'r1'));
    writeFileSync(join(runs, 'r1', 'events.jsonl'), Array.from({ length: 10_000 }, (_, i) => step(i + 1)).join('') + evalEv(5000));
    const feed = new LossFeed(runs, () => null, () => {});
    const { runs: [whole, bad] } = await feed.lossSeries({ runIds: ['r1', '../r1'], maxPoints: 500 });
    assert.ok(whole && !('error' in whole));
    if (!('error' in whole)) {
      assert.equal(whole.points, 10_000);
      assert.ok(whole.steps.length <= 500 && whole.downsampled);
      assert.equal(whole.steps[0], 1);
      assert.equal(whole.steps.at(-1), 10_000);
      assert.deepEqual(whole.evalSteps, [5000]);
    }
    assert.ok(bad && 'error' in bad && /not a run id/.test(bad.error));
    const { runs: [zoomed] } = await feed.lossSeries({ runIds: ['r1'], fromStep: 100, toStep: 300, maxPoints: 500 });
    assert.ok(zoomed && !('error' in zoomed));
    if (!('error' in zoomed)) {
      assert.deepEqual(zoomed.steps, Array.from({ length: 201 }, (_, i) => i + 100), 'a zoomed range at full resolution, ends included');
      assert.equal(zoomed.downsampled, false);
      assert.deepEqual(zoomed.evalSteps, []);
    }
  });

  it('first seen with a long history, sends only its last 10,000 points (the chart loads the rest)', async () => {
    const runs = mkdtempSync(join(tmpdir(), 'lq-feed-'));
    mkdirSync(join(runs, 'r1'));
    writeFileSync(join(runs, 'r1', 'events.jsonl'), Array.from({ length: 10_005 }, (_, i) => step(i + 1)).join(''));
    const got: LossProgressNotification.Params[] = [];
    const feed = new LossFeed(runs, () => 'r1', (p) => got.push(p));
    feed.start();
    try {
      while (!got.length) await new Promise((r) => setTimeout(r, 20));
    } finally {
      feed.stop();
    }
    const sent = got[0]!.runs[0]!.steps;
    assert.equal(sent.length, 10_000);
    assert.equal(sent[0], 6);
    assert.equal(sent.at(-1), 10_005);
  });

  it('pushes a training run\'s new points in batches, each point once, and the rest when it ends', async () => {
    const runs = mkdtempSync(join(tmpdir(), 'lq-feed-'));
    mkdirSync(join(runs, 'r1'));
    const f = join(runs, 'r1', 'events.jsonl');
    writeFileSync(f, step(1) + step(2));
    let current: string | null = 'r1';
    const got: LossProgressNotification.Params[] = [];
    const feed = new LossFeed(runs, () => current, (p) => got.push(p));
    const next = async (n: number): Promise<void> => {
      while (got.length < n) await new Promise((r) => setTimeout(r, 20));
    };
    feed.start();
    try {
      await next(1);
      appendFileSync(f, step(3) + evalEv(3));
      await next(2);
      appendFileSync(f, step(4));
      current = null;
      await next(3);
    } finally {
      feed.stop();
    }
    assert.deepEqual(got.map((p) => p.runs[0]!.steps), [[1, 2], [3], [4]]);
    assert.deepEqual(got.map((p) => p.runs[0]!.evalSteps), [[], [3], []]);
    assert.ok(got.every((p) => p.runs[0]!.reset === false));
    assert.deepEqual(got.map((p) => p.runs[0]!.training), [true, true, false], 'the last batch says the run ended');
  });
});
