/** The text `status`: a long queue shows its head and how many more, never thousands of lines. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatStatus, STATUS_QUEUE_LINES, type QueueStatus } from '../../server/src/engine/status';

function status(queued: number): QueueStatus {
  return {
    root: '/q', engine: null, paused: false, pauseReason: null, stopAfterJob: false, blocked: null, current: null,
    queue: Array.from({ length: queued }, (_, i) => ({ name: `d${i}.jsonl`, priority: 0, attempts: 0, added: '2026-11-23T00:00:00Z', examples: 3, size: 10, notBefore: null, resumeFrom: null })),
    rootProblem: null, inbox: [], inboxNotTaken: [], failed: [], done: 0, pendingCommands: 0, lastErrors: [], recentRuns: [], snapshot: null,
  } as unknown as QueueStatus;
}

describe('status text', () => {
  it('lists a short queue whole', () => {
    const out = formatStatus(status(3));
    assert.ok(out.includes('queued: 3'));
    assert.equal(out.filter((l) => /^ {2}\d+\. d\d+\.jsonl/.test(l)).length, 3);
    assert.ok(!out.some((l) => /more \(status --format json/.test(l)));
  });

  it('lists the head of a long queue and says how many more', () => {
    const out = formatStatus(status(10_000));
    assert.ok(out.includes('queued: 10000'));
    const listed = out.filter((l) => /^ {2}\d+\. d\d+\.jsonl/.test(l));
    assert.equal(listed.length, STATUS_QUEUE_LINES);
    assert.match(listed[0]!, /^ {2}1\. d0\.jsonl/);
    assert.ok(out.includes(`  … and ${10_000 - STATUS_QUEUE_LINES} more (status --format json lists them all)`));
    assert.ok(out.length < 60);
  });
});
