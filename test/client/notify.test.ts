import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PauseKind } from '../../common/pause';
import type { QueueStateNotification, QueueStatusView } from '../../common/protocol';
import { stateNotices } from '../../client/src/notify';

const base: QueueStatusView = {
  root: '/w/.lora-queue', engine: { running: true, pid: 42, host: 'gpu', since: '' }, paused: false, pauseReason: null, pause: null, blocked: null,
  current: null, queue: [], inbox: [], failed: [], done: 0, lastErrors: [],
};
const push = (s: Partial<QueueStatusView>): QueueStateNotification.Params => ({ engine: 'owner', status: { ...base, ...s } });
const bad = { name: 'bad.jsonl', kind: 'data', message: 'line 3: json-syntax' };
/** A paused status as the server sends it: the structured pause (common/pause.ts) and the fields derived from it. */
const pausedBy = (kind: PauseKind, reason: string): Partial<QueueStatusView> => ({ paused: true, pauseReason: reason, pause: { kind, reason, since: '2026-01-01T00:00:00.000Z' } });
const DISK = 'waiting for resources: free space on the queue root\'s filesystem is 1.2 GiB, below disk.minFreeGiB = 10 GiB (checked again every 30 s; the queue resumes by itself)';

describe('notifications from successive state pushes', () => {
  it('tells of a dataset that newly failed, once, with its reason file', () => {
    const before = push({});
    const after = push({ failed: [bad] });
    assert.deepEqual(stateNotices(before, after), [
      { level: 'error', message: 'Dataset bad.jsonl failed: data: line 3: json-syntax', details: '/w/.lora-queue/failed/bad.jsonl.reason.json' },
    ]);
    assert.deepEqual(stateNotices(after, push({ failed: [bad], done: 1 })), [], 'not again on the next push');
    const second = { name: 'worse.jsonl', kind: 'nan_loss', message: '' };
    assert.deepEqual(stateNotices(after, push({ failed: [bad, second] })).map((n) => n.message), ['Dataset worse.jsonl failed: nan_loss']);
  });

  it('says nothing about what was already so when the window opened, or when the engine is off', () => {
    assert.deepEqual(stateNotices(undefined, push({ failed: [bad], ...pausedBy('disk', DISK) })), []);
    assert.deepEqual(stateNotices({ engine: 'off', why: 'starting', status: null }, push({ failed: [bad] })), []);
    assert.deepEqual(stateNotices(push({}), { engine: 'off', why: 'closed', status: null }), []);
    assert.deepEqual(stateNotices(push({ root: '/other' }), push({ failed: [bad] })), [], 'another queue root is a new baseline');
  });

  it('warns when the queue pauses for disk space, not on each push while it stays paused, nor for other pauses', () => {
    const paused = push(pausedBy('disk', DISK));
    assert.deepEqual(stateNotices(push({}), paused), [{ level: 'warning', message: `LoRA Queue paused: ${DISK}` }]);
    assert.deepEqual(stateNotices(paused, push(pausedBy('disk', DISK.replace('1.2', '1.1')))), [], 'the free space changed, the pause did not');
    assert.deepEqual(stateNotices(push({}), push(pausedBy('request', 'paused (resume to continue)'))), []);
    // A write the engine could not make for want of space pauses as `disk` (engine.ts writeFailed).
    const enospc = push(pausedBy('disk', 'cannot prepare run r9: ENOSPC: no space left on device, mkdir (free space or fix permissions, then resume)'));
    assert.equal(stateNotices(push(pausedBy('request', 'paused (resume to continue)')), enospc).length, 1);
  });
});
