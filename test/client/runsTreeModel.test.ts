import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { QueueStateNotification, RunView } from '../../common/protocol';
import { duration, runsTree } from '../../client/src/runsTreeModel';

const run = (o: Partial<RunView>): RunView => ({
  runId: 'r1', dataset: 'a.jsonl', attempt: 1, state: 'success', outcome: 'done', stopping: null, message: null, step: 20, totalSteps: 20, loss: 0.5,
  startedAt: '2026-11-23T10:00:00.000Z', endedAt: '2026-11-23T10:01:05.000Z', dir: '/w/.lora-queue/runs/r1', logPath: '/w/.lora-queue/runs/r1/trainer.log', checkpoints: [], ...o,
});
const push = (runs: RunView[]): QueueStateNotification.Params => ({ engine: 'owner', status: null, runs });
const NOW = new Date('2026-11-23T12:00:00.000Z');

describe('Runs view tree', () => {
  it('shows each run with its state, step/total, loss and duration; the running one with its stop request', () => {
    const tree = runsTree(push([
      run({ runId: 'r3', dataset: 'now.jsonl', state: 'running', outcome: null, step: 5, totalSteps: 20, loss: 1.23456, startedAt: '2026-11-23T11:58:30.000Z', endedAt: null, stopping: 'stop-after-step' }),
      run({ runId: 'r2', state: 'stopped', outcome: 'queue', step: 5, loss: 1.5 }),
      run({ runId: 'r1', state: 'nan_loss', outcome: 'failed', step: 3, totalSteps: null, loss: null, message: 'loss is NaN at step 3' }),
    ]), NOW);
    assert.deepEqual(tree.map((n) => [n.label, n.description, n.kind, n.icon]), [
      ['now.jsonl', 'running · stopping (stop-after-step) · step 5/20 · loss 1.2346 · 1m30s', 'runRunning', 'sync~spin'],
      ['a.jsonl', 'stopped · step 5/20 · loss 1.5000 · 1m05s', 'run', 'debug-pause'],
      ['a.jsonl', 'nan_loss · step 3 · 1m05s', 'run', 'error'],
    ]);
    assert.match(tree[2]!.tooltip!, /run r1 · attempt 1[\s\S]*dataset → failed\/[\s\S]*loss is NaN at step 3/);
    assert.deepEqual(tree.map((n) => n.id), ['r3/running', 'r2', 'r1'], 'a run gets a new id when it ends');
  });

  it('says whether the run\'s trainer started warm (trainer.resident) or cold', () => {
    const [warm, cold, unknown] = runsTree(push([run({ runId: 'r3', warm: true }), run({ runId: 'r2', warm: false }), run({ runId: 'r1' })]), NOW);
    assert.equal(warm!.description, 'success · step 20/20 · loss 0.5000 · 1m05s · warm');
    assert.match(warm!.tooltip!, /trainer: warm \(the resident trainer had the base model loaded\)/);
    assert.equal(cold!.description, 'success · step 20/20 · loss 0.5000 · 1m05s');
    assert.match(cold!.tooltip!, /trainer: cold \(the base model was loaded for this run\)/);
    assert.doesNotMatch(unknown!.tooltip!, /trainer:/);
  });

  it('says a failure that goes back to the queue will be retried', () => {
    const [n] = runsTree(push([run({ state: 'crash', outcome: 'queue', step: 2, loss: null })]), NOW);
    assert.equal(n!.description, 'crash · will retry · step 2/20 · 1m05s');
    assert.equal(n!.icon, 'warning');
  });

  it('has the log and the checkpoints, by step, as children', () => {
    const [n] = runsTree(push([run({ checkpoints: [{ step: 5, path: '/c/step-5' }, { step: 10, path: '/c/step-10' }] })]), NOW);
    assert.deepEqual(n!.children!.map((c) => [c.label, c.kind, c.path]), [
      ['trainer.log', 'runLog', '/w/.lora-queue/runs/r1/trainer.log'],
      ['checkpoint step 5', 'checkpoint', '/c/step-5'],
      ['checkpoint step 10', 'checkpoint', '/c/step-10'],
    ]);
    assert.equal(n!.path, '/w/.lora-queue/runs/r1', 'reveal goes to the run folder');
    assert.equal(n!.logPath, '/w/.lora-queue/runs/r1/trainer.log');
  });

  it('says why when the engine is off, and is empty (the welcome text) when there are no runs', () => {
    const off = runsTree({ engine: 'off', why: 'the workspace is not trusted: …', status: null }, NOW);
    assert.deepEqual(off.map((n) => [n.label, n.description, n.kind]), [['The engine is not running', 'the workspace is not trusted: …', 'info']]);
    assert.deepEqual(runsTree({ engine: 'follower', status: null }, NOW), []);
  });

  it('formats durations', () => {
    assert.deepEqual([duration(0), duration(59.6), duration(65), duration(3600 + 3 * 60 + 9), duration(-3)], ['0s', '1m00s', '1m05s', '1h03m', '0s']);
  });
});
