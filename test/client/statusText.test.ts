import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { QueueStatusView } from '../../common/protocol';
import { statusText } from '../../client/src/statusText';

const base: QueueStatusView = {
  root: '/w/.lora-queue', engine: { running: true, pid: 42, host: 'gpu', since: '' }, paused: false, pauseReason: null, pause: null, blocked: null,
  current: null, queue: [], inbox: [], failed: [], done: 3, lastErrors: [],
};

describe('status bar text', () => {
  it('says why the engine is off', () => {
    const s = statusText({ engine: 'off', why: 'the workspace is not trusted', status: null });
    assert.equal(s.text, '$(circle-slash) LoRA Queue: off');
    assert.equal(s.tooltip, 'the workspace is not trusted');
  });
  it('shows the run: name, step/total, loss, ETA', () => {
    const s = statusText({ engine: 'owner', status: { ...base, queue: [{ name: 'b.jsonl', priority: 0, attempts: 0, examples: 1, size: 1 }], current: { runId: 'r1', dataset: 'a.jsonl', attempt: 1, step: 120, totalSteps: 400, loss: 1.83421, etaSeconds: 600, stopping: null } } });
    assert.equal(s.text, '$(sync~spin) a.jsonl 120/400 · loss 1.8342 · ETA 10m');
    assert.match(s.tooltip, /1 queued/);
  });
  it('shows a Slurm job still in the cluster\'s queue as waiting, with Slurm\'s reason', () => {
    const s = statusText({ engine: 'owner', status: { ...base, current: { runId: 'r1', dataset: 'a.jsonl', attempt: 1, step: null, totalSteps: null, loss: null, etaSeconds: null, stopping: null, waiting: { scheduler: 'slurm', jobId: '12', state: 'PENDING', reason: 'Resources' } } } });
    assert.equal(s.text, '$(clock) a.jsonl · waiting: PENDING (Resources)');
    assert.match(s.tooltip, /Slurm job 12 PENDING \(Resources\)/);
  });
  it('paused, blocked, failed and idle', () => {
    assert.equal(statusText({ engine: 'owner', status: { ...base, paused: true, pauseReason: 'only 3 GiB free', pause: { kind: 'disk', reason: 'only 3 GiB free', since: '2026-01-01T00:00:00.000Z' } } }).level, 'warning');
    assert.match(statusText({ engine: 'owner', status: { ...base, paused: true, pauseReason: 'only 3 GiB free', pause: { kind: 'disk', reason: 'only 3 GiB free', since: '2026-01-01T00:00:00.000Z' } } }).tooltip, /only 3 GiB free/);
    assert.equal(statusText({ engine: 'owner', status: { ...base, blocked: 'baseModel is not set' } }).text, '$(warning) LoRA Queue: blocked');
    const failed = statusText({ engine: 'owner', status: { ...base, failed: [{ name: 'x.jsonl', kind: 'nan_loss', message: 'loss is NaN' }], lastErrors: [{ at: '', message: 'x.jsonl: nan_loss' }] } });
    assert.equal(failed.text, '$(error) LoRA Queue: idle · 1 failed');
    assert.equal(failed.level, 'error');
    assert.equal(statusText({ engine: 'follower', status: base }).tooltip, '3 done, 0 failed (following pid 42)');
  });
  it('says when a resident trainer is warm or still loading (trainer.resident), and nothing without one', () => {
    const resident = { pid: 77, warm: true, runs: 4, baseModel: '/m', startedAt: '', rssBytes: null };
    assert.equal(statusText({ engine: 'owner', status: { ...base, resident } }).tooltip, '3 done, 0 failed\nTrainer: warm (resident pid 77, base model loaded, 4 runs served)');
    assert.match(statusText({ engine: 'owner', status: { ...base, resident: { ...resident, warm: false, runs: 0 } } }).tooltip, /Trainer: resident pid 77, loading the base model/);
    assert.doesNotMatch(statusText({ engine: 'owner', status: { ...base, resident: null } }).tooltip, /Trainer/);
  });
});
