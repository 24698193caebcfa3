import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { QueueStatusView } from '../../common/protocol';
import { queueTree } from '../../client/src/queueTreeModel';

const base: QueueStatusView = {
  root: '/w/.lora-queue', engine: { running: true, pid: 42, host: 'gpu', since: '' }, paused: false, pauseReason: null, pause: null, blocked: null,
  current: null, queue: [], inbox: [], failed: [], done: 0, lastErrors: [],
};

const labels = (nodes: readonly { label: string; children?: readonly { label: string }[] }[]): string[] =>
  nodes.flatMap((n) => [n.label, ...(n.children ?? []).map((c) => `  ${c.label}`)]);

describe('Queue view tree', () => {
  it('groups processing, queued by priority, inbox, failed with reason, done', () => {
    const tree = queueTree('owner', undefined, {
      ...base,
      current: { runId: 'r1', dataset: 'now.jsonl', attempt: 2, step: 5, totalSteps: 20, loss: 1.5, etaSeconds: 30, stopping: null },
      queue: [
        { name: 'low.jsonl', priority: 0, attempts: 0, examples: 10, size: 2048 },
        { name: 'high.jsonl', priority: 5, attempts: 1, examples: 1, size: 3 << 20 },
      ],
      inbox: ['arriving.jsonl'],
      failed: [{ name: 'bad.jsonl', kind: 'data', message: 'line 3: json-syntax' }],
      done: 4,
    });
    assert.deepEqual(labels(tree), ['Processing', '  now.jsonl', 'Queued (2)', '  high.jsonl', '  low.jsonl', 'Inbox (1)', '  arriving.jsonl', 'Failed (1)', '  bad.jsonl', 'Done (4)']);
    const processing = tree[0]!.children![0]!;
    assert.equal(processing.description, 'step 5/20 · loss 1.5000 · attempt 2');
    assert.equal(tree[1]!.children![0]!.description, 'priority 5 · 1 example · 3.0 MiB · 1 attempt');
    assert.equal(tree[1]!.children![1]!.description, 'priority 0 · 10 examples · 2.0 KiB');
    // The priority commands read the node's priority, not its description.
    assert.deepEqual(tree[1]!.children!.map((n) => [n.name, n.priority]), [['high.jsonl', 5], ['low.jsonl', 0]]);
    const waiting = queueTree('owner', undefined, { ...base, current: { runId: 'r2', dataset: 'w.jsonl', attempt: 1, step: null, totalSteps: null, loss: null, etaSeconds: null, stopping: null, waiting: { scheduler: 'slurm', jobId: '7', state: 'PENDING', reason: 'Priority' } } });
    assert.equal(waiting[0]!.children![0]!.description, 'waiting: Slurm job 7 PENDING (Priority) · attempt 1');
    const failed = tree[3]!.children![0]!;
    assert.deepEqual([failed.kind, failed.description, failed.tooltip, failed.name], ['failed', 'data', 'line 3: json-syntax', 'bad.jsonl']);
  });
  it('says why the engine is off, and shows a pause or a block first', () => {
    assert.deepEqual(queueTree('off', 'the workspace is not trusted', null).map((n) => [n.label, n.description]), [['The engine is not running', 'the workspace is not trusted']]);
    const paused = queueTree('owner', undefined, { ...base, paused: true, pauseReason: 'waiting for resources: 2 GiB free', pause: { kind: 'disk', reason: 'waiting for resources: 2 GiB free', since: '2026-01-01T00:00:00.000Z' } });
    assert.deepEqual([paused[0]!.label, paused[0]!.description], ['Paused', 'waiting for resources: 2 GiB free']);
    const blocked = queueTree('follower', undefined, { ...base, blocked: 'baseModel is not set' });
    assert.equal(blocked[0]!.label, 'Blocked');
  });
});
