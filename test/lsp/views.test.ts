/** The Runs and Snapshots views' data, read from a queue root on disk. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ensureLayout, rootPaths } from '../../server/src/engine/paths';
import { saveState } from '../../server/src/engine/state';
import { readStatus } from '../../server/src/engine/status';
import { emptyState } from '../../server/src/engine/transitions';
import type { RunSummary } from '../../server/src/engine/types';
import { readTotalSteps, ViewReader } from '../../server/src/lsp/views';

const ev = (o: object): string => JSON.stringify({ time: 1, ...o }) + '\n';

function root() {
  const p = rootPaths(join(mkdtempSync(join(tmpdir(), 'lq-views-')), '.lora-queue'));
  ensureLayout(p);
  return p;
}

function run(p: ReturnType<typeof root>, id: string, events: string, checkpoints: string[] = []): void {
  mkdirSync(join(p.runs, id), { recursive: true });
  writeFileSync(join(p.runs, id, 'events.jsonl'), events);
  for (const c of checkpoints) mkdirSync(join(p.runs, id, 'checkpoints', c), { recursive: true });
}

const summary = (o: Partial<RunSummary>): RunSummary => ({
  runId: 'r1', dataset: 'a.jsonl', attempt: 1, kind: 'success', message: '', startedAt: '2026-11-23T10:00:00.000Z', endedAt: '2026-11-23T10:01:00.000Z',
  finalLoss: 0.5, steps: 20, outcome: 'done', ...o,
});

describe('the views pushed with the state', () => {
  it('lists the run in progress first, then the recent runs newest first, with total steps, checkpoints and log', () => {
    const p = root();
    run(p, 'r1', ev({ type: 'start', total_steps: 20 }) + ev({ type: 'step', step: 1, loss: 2 }), ['step-10', 'step-5', 'checkpoint-15']);
    run(p, 'r2', ev({ type: 'start', total_steps: 40, resumed_from_step: 5 }) + ev({ type: 'step', step: 6, loss: 1.25 }));
    run(p, 'r3', ev({ type: 'start', total_steps: 30 }) + ev({ type: 'step', step: 7, loss: 0.9 }));
    const s = emptyState();
    s.history = [summary({}), summary({ runId: 'r2', dataset: 'b.jsonl', kind: 'stopped', outcome: 'queue', steps: 6, finalLoss: 1.25, message: 'stopped after step 6' }), summary({ runId: '../../escape' })];
    s.current = {
      runId: 'r3', dataset: 'c.jsonl', attempt: 2, jobPath: join(p.runs, 'r3', 'job.json'), eventsPath: join(p.runs, 'r3', 'events.jsonl'), logPath: join(p.runs, 'r3', 'trainer.log'),
      startedAt: '2026-11-23T11:00:00.000Z', pid: null, startTime: null, action: 'stop-after-step', oomKillsAtStart: null,
    };
    saveState(p, s);
    const runs = new ViewReader(p).runs(readStatus(p));
    assert.deepEqual(runs.map((r) => [r.runId, r.dataset, r.state, r.outcome, r.step, r.totalSteps, r.loss, r.stopping, r.endedAt !== null]), [
      ['r3', 'c.jsonl', 'running', null, 7, 30, 0.9, 'stop-after-step', false],
      ['r2', 'b.jsonl', 'stopped', 'queue', 6, 40, 1.25, null, true],
      ['r1', 'a.jsonl', 'success', 'done', 20, 20, 0.5, null, true],
    ], 'a run id that would leave runs/ is left out');
    const r1 = runs[2]!;
    assert.deepEqual(r1.checkpoints.map((c) => [c.step, c.path]), [5, 10, 15].map((n) => [n, join(p.runs, 'r1', 'checkpoints', n === 15 ? 'checkpoint-15' : `step-${n}`)]));
    assert.equal(r1.logPath, join(p.runs, 'r1', 'trainer.log'));
    assert.equal(r1.dir, join(p.runs, 'r1'));
    assert.equal(runs[1]!.message, 'stopped after step 6');
  });

  it('lists the snapshots newest first with the current one marked', () => {
    const p = root();
    const snap = (id: string, created: string, step: number) => {
      mkdirSync(join(p.root, 'snapshots', id), { recursive: true });
      writeFileSync(join(p.root, 'snapshots', id, 'manifest.json'), JSON.stringify({ version: 1, id, runId: id, created, dataset: `${id}.jsonl`, step, loss: 0.25, files: {} }));
    };
    snap('s1', '2026-11-23T10:00:00.000Z', 20);
    snap('s2', '2026-11-23T11:00:00.000Z', 40);
    writeFileSync(join(p.root, 'snapshots', 'verified.json'), JSON.stringify({ s1: { ok: true, at: 'x' } }));
    writeFileSync(p.current, JSON.stringify({ snapshot: 's1', since: 'x', previous: 's2', adapter: null }));
    assert.deepEqual(new ViewReader(p).snapshots().map((s) => [s.id, s.current, s.verified, s.step, s.loss, s.dataset]), [
      ['s2', false, null, 40, 0.25, 's2.jsonl'],
      ['s1', true, true, 20, 0.25, 's1.jsonl'],
    ]);
  });

  it('reads total steps from the start event only, and copes with a missing or torn file', () => {
    const p = root();
    run(p, 'x', '{"type":"sta' + '\n' + ev({ type: 'start', total_steps: 12 }));
    assert.equal(readTotalSteps(join(p.runs, 'x', 'events.jsonl')), 12);
    assert.equal(readTotalSteps(join(p.runs, 'missing', 'events.jsonl')), null);
    run(p, 'y', ev({ type: 'step', step: 1 }));
    assert.equal(readTotalSteps(join(p.runs, 'y', 'events.jsonl')), null);
  });
});
