/** The loss chart's server side over LSP: live progress batches while a run trains, then its downsampled series. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { LossProgressNotification, LossRunsRequest, LossSeriesRequest, QueueCommandRequest, type QueueStateNotification } from '../../common/protocol';
import { LspClient } from './client';

const DOUBLE = resolve(__dirname, '..', '..', '..', 'test', 'engine', 'fixtures', 'trainer-double.mjs');
const STEPS = 30;
type State = QueueStateNotification.Params;

describe('the loss chart over LSP', () => {
  let c: LspClient | undefined;
  after(async () => c?.shutdown());

  it('pushes a training run\'s points in batches while it trains, then serves its series downsampled', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lq-chart-'));
    mkdirSync(join(dir, 'model'));
    writeFileSync(join(dir, 'model', 'config.json'), '{}');
    writeFileSync(join(dir, 'model', 'tokenizer.json'), '{}');
    writeFileSync(join(dir, 'lora-queue.json'), JSON.stringify({ baseModel: 'model', trainer: { command: [process.execPath, DOUBLE], hangTimeoutSeconds: 60, stopGraceSeconds: 5 }, queue: { intakeStableSeconds: 0 } }));
    writeFileSync(join(dir, 'first__slow.jsonl'), '{"messages":[{"role":"user","content":"Q"},{"role":"assistant","content":"A"}]}\n');
    // The double inherits the server's environment: 30 steps of 60 ms, so several batches come.
    process.env['TRAINER_DOUBLE_STEPS'] = String(STEPS);
    process.env['TRAINER_DOUBLE_SLOW_MS'] = '60';
    c = new LspClient(dir);
    const batches: { at: number; p: LossProgressNotification.Params }[] = [];
    c.conn.onNotification(LossProgressNotification.type, (p) => {
      batches.push({ at: c!.states.length, p });
    });
    await c.initialize(pathToFileURL(dir).href, { trusted: true });
    await c.state<State>((s) => s.engine === 'owner');

    const r = await c.conn.sendRequest(QueueCommandRequest.type, { type: 'enqueue', path: join(dir, 'first__slow.jsonl') });
    assert.ok(r.ok, r.message);
    await c.state<State>((s) => s.status?.done === 1 && s.status.current === null, 60_000);
    const doneAt = c.states.findIndex((s) => (s as State).status?.done === 1);

    assert.ok(batches.length >= 2, `${batches.length} batches: the points came while it trained, not at once`);
    assert.ok(batches.some((b) => b.at <= doneAt), 'a batch came before the run was done');
    const runId = batches[0]!.p.runs[0]!.runId;
    assert.ok(batches.every((b) => b.p.runs.every((x) => x.runId === runId)));
    const sent = batches.flatMap((b) => b.p.runs.flatMap((x) => x.steps));
    assert.deepEqual(sent, Array.from({ length: STEPS }, (_, i) => i + 1), 'every step once, in order');
    assert.equal(batches[0]!.p.runs[0]!.totalSteps, STEPS);
    assert.equal(batches.at(-1)!.p.runs[0]!.training, false, 'the last batch says the run ended');

    const runs = await c.conn.sendRequest(LossRunsRequest.type, {});
    assert.equal(runs.current, null);
    assert.deepEqual(runs.runs.map((x) => [x.runId, x.dataset, x.state]), [[runId, 'first__slow.jsonl', 'success']]);

    const res = await c.conn.sendRequest(LossSeriesRequest.type, { runIds: [runId], maxPoints: 10 });
    const s = res.runs[0]!;
    assert.ok(!('error' in s), JSON.stringify(s));
    if ('error' in s) return;
    assert.equal(s.points, STEPS);
    assert.ok(s.downsampled && s.steps.length <= 10 && s.steps.length >= 2);
    assert.equal(s.steps[0], 1);
    assert.equal(s.steps.at(-1), STEPS);
    // The double's loss is 2 * 0.95^step: a kept point carries its own step's loss.
    s.steps.forEach((st, i) => assert.ok(Math.abs(s.loss[i]! - 2 * 0.95 ** st) < 1e-9, `loss at step ${st}`));
    assert.ok(s.lr.every((v) => v === 1e-4));

    const bad = await c.conn.sendRequest(LossSeriesRequest.type, { runIds: ['../../etc'] });
    assert.match((bad.runs[0] as { error: string }).error, /not a run id/);
  });
});
