import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { QueueStatusView, SnapshotView } from '../../common/protocol';
import { snapshotsTree } from '../../client/src/snapshotsTreeModel';

const snap = (o: Partial<SnapshotView>): SnapshotView => ({
  id: 's1', path: '/w/.lora-queue/snapshots/s1', current: false, verified: true, runId: 'r1', step: 20, loss: 0.75, dataset: 'a.jsonl', created: '2026-11-23T10:00:00.000Z', ...o,
});

describe('Snapshots view tree', () => {
  it('marks the current snapshot and shows verification, step, loss and dataset', () => {
    const tree = snapshotsTree({ engine: 'owner', status: null, snapshots: [
      snap({ id: 's3', current: true, dataset: 'c.jsonl' }),
      snap({ id: 's2', verified: false, step: null, loss: null }),
      snap({ id: 's1', verified: null, dataset: null }),
    ] });
    assert.deepEqual(tree.map((n) => [n.label, n.description, n.kind, n.icon]), [
      ['c.jsonl', 'current · verified · step 20 · loss 0.7500 · s3', 'snapshotCurrent', 'star-full'],
      ['a.jsonl', 'FAILED verification · step ? · loss ? · s2', 'snapshot', 'warning'],
      ['s1', 'not verified yet · step 20 · loss 0.7500', 'snapshot', 'circle-outline'],
    ]);
    assert.deepEqual([tree[1]!.snapshot, tree[1]!.path], ['s2', '/w/.lora-queue/snapshots/s1']);
    assert.match(tree[0]!.tooltip!, /the live adapter/);
  });

  it('says why when the engine is off, and is empty (the welcome text) when there are none', () => {
    assert.deepEqual(snapshotsTree({ engine: 'off', why: 'no lora-queue.json', status: null }).map((n) => [n.kind, n.description]), [['info', 'no lora-queue.json']]);
    assert.deepEqual(snapshotsTree({ engine: 'owner', status: null, snapshots: [] }), []);
  });

  it('names the merged base model above the snapshots after a consolidation', () => {
    const status = { base: { model: '20261123-0900-ab12', path: '/w/.lora-queue/models/20261123-0900-ab12', generation: 2, datasets: 3 } } as unknown as QueueStatusView;
    const tree = snapshotsTree({ engine: 'owner', status, snapshots: [snap({ id: 's4', current: true })] });
    assert.deepEqual(tree.map((n) => [n.kind, n.label, n.description]), [
      ['base', 'Base model: models/20261123-0900-ab12', 'generation 2 · 3 datasets merged'],
      ['snapshotCurrent', 'a.jsonl', 'current · verified · step 20 · loss 0.7500 · s4'],
    ]);
    assert.equal(tree[0]!.path, '/w/.lora-queue/models/20261123-0900-ab12');
    assert.equal(tree[0]!.snapshot, undefined, 'no rollback or consolidate on the base');
    // Before any consolidation (no base), the snapshots only.
    assert.deepEqual(snapshotsTree({ engine: 'owner', status: { base: null } as unknown as QueueStatusView, snapshots: [snap({})] }).map((n) => n.kind), ['snapshot']);
  });
});
