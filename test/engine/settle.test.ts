/**
 * The engine's one way to change state, without processes: how a finished run settles (settle.ts,
 * pure: the inputs Engine.finishRun gathers), the structured pause and its `since`, and reading a
 * state.json from before the pause had a kind (only `paused` and the reason's text).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { liftsItself, pauseFromText } from '../../common/pause';
import { emptyProgress, type Progress } from '../../server/src/engine/events';
import { ensureLayout, rootPaths } from '../../server/src/engine/paths';
import { isResourcePause } from '../../server/src/engine/resources';
import { settle, type SettleInput } from '../../server/src/engine/settle';
import { loadState, peekState, saveState } from '../../server/src/engine/state';
import { readStatus } from '../../server/src/engine/status';
import { emptyState, withPause, withPauseStep } from '../../server/src/engine/transitions';
import type { DatasetMeta, EngineState } from '../../server/src/engine/types';
import { removeTempDirs, tempDir } from './helpers';

after(removeTempDirs);

const NOW = new Date('2026-03-01T12:00:00.000Z');
const meta = (m: Partial<DatasetMeta> = {}): DatasetMeta => ({ priority: 0, attempts: 0, added: '2026-01-01T00:00:00.000Z', sha256: 'x', size: 1, examples: 1, ...m });
const progress = (p: Partial<Progress> = {}): Progress => ({ ...emptyProgress(), step: 10, loss: 0.5, ...p });
const record = { runId: 'r1', dataset: 'a.jsonl', attempt: 1, startedAt: '2026-03-01T11:00:00.000Z' };
const running = (s: Partial<EngineState> = {}): EngineState => ({ ...emptyState(new Date('2026-03-01T00:00:00.000Z')), current: { ...record, jobPath: '/j', eventsPath: '/e', logPath: '/l', pid: 1, startTime: '1', action: null, oomKillsAtStart: null }, ...s });
const input = (i: Partial<SettleInput> = {}): SettleInput => ({
  state: running(), record, end: { kind: 'success', message: 'finished' }, snapshot: { made: true }, liveFellBack: false, meta: meta(),
  progress: progress({ done: { adapterPath: '/a', finalLoss: 0.4, stopped: false } }), queue: { maxAttempts: 3, retryBackoffSeconds: 60 }, now: NOW, ...i,
});

describe('settle: a finished run, as a pure function', () => {
  it('a success whose snapshot became current: done/, the run cleared, its history line, no pause', () => {
    const r = settle(input());
    assert.equal(r.decision.outcome, 'done');
    assert.equal(r.state.current, null);
    assert.equal(r.state.pause, null);
    assert.equal(r.snapshotMade, true);
    assert.deepEqual(r.state.history.at(-1), { ...record, kind: 'success', message: 'finished', endedAt: NOW.toISOString(), finalLoss: 0.4, steps: 10, outcome: 'done' });
    assert.deepEqual(r.state.errors, []);
  });

  it('a snapshot the checks reject: bad_adapter, back to the queue trained again from the start, paused as `run`', () => {
    const r = settle(input({ snapshot: { made: false, failure: 'run r1: no snapshot of /a: the adapter does not fit the base model' }, progress: progress({ lastCheckpoint: '/ck/9', done: { adapterPath: '/a', finalLoss: 0.4, stopped: false } }) }));
    assert.equal(r.end.kind, 'bad_adapter');
    assert.equal(r.decision.outcome, 'queue');
    assert.equal(r.decision.meta.resumeFrom, null, 'its checkpoints lead to the same adapter');
    assert.equal(r.state.pause?.kind, 'run');
    assert.match(r.state.pause!.reason, /^the adapter failed the snapshot checks: run r1: no snapshot/);
    assert.equal(r.state.pause!.since, NOW.toISOString());
    assert.match(r.state.errors.at(-1)!.message, /^run r1 \(a\.jsonl\): bad_adapter: /);
    assert.equal(r.snapshotMade, false);
  });

  it('a snapshot a full disk cut short: disk_full, attempts kept, a pause the engine lifts itself', () => {
    const r = settle(input({ snapshot: { made: false, failure: 'run r1: snapshot bookkeeping failed: ENOSPC: no space left on device' } }));
    assert.equal(r.end.kind, 'disk_full');
    assert.equal(r.decision.meta.attempts, 0);
    assert.equal(r.state.pause?.kind, 'disk');
    assert.ok(isResourcePause(r.state));
  });

  it('a success on an adapter the live one no longer holds: kept aside, the dataset trains again (not done/)', () => {
    const r = settle(input({ snapshot: { made: false }, liveFellBack: true }));
    assert.equal(r.requeuedOnFallback, true);
    assert.equal(r.decision.outcome, 'queue');
    assert.deepEqual([r.decision.meta.interrupted, r.decision.meta.resumeFrom, r.decision.meta.notBefore], [true, null, null]);
    // A snapshot that became current is in the live adapter whatever current.json's note says.
    assert.equal(settle(input({ snapshot: { made: true }, liveFellBack: true })).decision.outcome, 'done');
  });

  it('stop --after-job pauses as `stop` when the run ends; a retryable end backs off and does not pause', () => {
    const r = settle(input({ state: running({ stopAfterJob: true }) }));
    assert.deepEqual(r.state.pause, { kind: 'stop', reason: 'stopped after the job (resume to continue)', since: NOW.toISOString() });
    assert.equal(r.state.stopAfterJob, false);
    const crash = settle(input({ end: { kind: 'crash', message: 'exit 1' }, snapshot: null, meta: meta({ attempts: 1 }) }));
    assert.equal(crash.decision.outcome, 'queue');
    assert.equal(crash.decision.meta.notBefore, new Date(NOW.getTime() + 120_000).toISOString());
    assert.equal(crash.state.pause, null);
    assert.equal(crash.state.errors.length, 1);
  });

  it('leaves the state it was given as it was (the engine applies the result)', () => {
    const s = running({ stopAfterJob: true });
    const before = JSON.stringify(s);
    settle(input({ state: s, end: { kind: 'config', message: 'bad lr' }, snapshot: null }));
    assert.equal(JSON.stringify(s), before);
  });
});

describe('the structured pause', () => {
  it('keeps `since` while the kind stays (a resource pause re-worded by each check), and stamps a new kind', () => {
    const t1 = new Date('2026-03-01T00:00:00.000Z');
    const t2 = new Date('2026-03-01T00:05:00.000Z');
    const a = withPause(emptyState(), { kind: 'disk', reason: 'waiting for resources: 1.2 GiB free' }, t1);
    const b = withPauseStep(a, { pause: { kind: 'disk', reason: 'waiting for resources: 1.1 GiB free' } }, t2);
    assert.deepEqual(b.pause, { kind: 'disk', reason: 'waiting for resources: 1.1 GiB free', since: t1.toISOString() });
    assert.equal(withPause(b, { kind: 'gpuError', reason: 'GPU error: x' }, t2).pause!.since, t2.toISOString());
    assert.equal(withPauseStep(b, { resume: true }).pause, null);
  });

  it('is saved with `paused` and `pauseReason` derived from it, and status --json shows all three', () => {
    const p = rootPaths(tempDir('lq-settle-'));
    ensureLayout(p);
    saveState(p, withPause(emptyState(), { kind: 'request', reason: 'paused (resume to continue)' }, NOW), NOW);
    const file = JSON.parse(readFileSync(p.state, 'utf8')) as Record<string, unknown>;
    assert.deepEqual([file['paused'], file['pauseReason'], file['pause']], [true, 'paused (resume to continue)', { kind: 'request', reason: 'paused (resume to continue)', since: NOW.toISOString() }]);
    const st = readStatus(p);
    assert.deepEqual([st.paused, st.pauseReason, st.pause?.kind], [true, 'paused (resume to continue)', 'request']);
  });

  it('reads an older state.json whose pause is only text: the same pause, its kind from the words, since its updatedAt', () => {
    const p = rootPaths(tempDir('lq-settle-'));
    ensureLayout(p);
    const old = (paused: boolean, pauseReason: string | null): void => writeFileSync(p.state, JSON.stringify({
      version: 1, paused, pauseReason, stopAfterJob: false, current: null, applied: [], results: [], history: [], errors: [], updatedAt: '2026-02-01T00:00:00.000Z',
    }));
    const cases: [string, string][] = [
      ["waiting for resources: free space on the queue root's filesystem is 1.2 GiB, below disk.minFreeGiB = 10 GiB (checked again every 30 s; the queue resumes by itself)", 'disk'],
      ['waiting for resources: the disk filled up during run r1: ENOSPC (the queue resumes by itself once free space is back above disk.resumeFreeGiB)', 'disk'],
      ['waiting for resources: the engine cannot write to the queue root (EROFS: cannot settle run r1: EROFS); nothing is lost, and the queue resumes by itself once writes succeed again', 'disk'],
      ['waiting for resources: GPU 1 (H100) has 512 MiB free, below gpu.minFreeMiB = 1000 (checked again every 30 s; the queue resumes by itself)', 'gpu'],
      ['waiting for resources: the GPU check failed: nvidia-smi exited with code 6: No devices were found (checked again every 30 s; the queue resumes by itself)', 'gpu'],
      ['GPU error: GPU 0 (H100): uncorrected ECC errors rose from 0 to 2 since the last check (check the GPU, then resume)', 'gpuError'],
      ['paused (resume to continue)', 'request'],
      ['stopped after the job (resume to continue)', 'stop'],
      ['the trainer reported a configuration error: lr (fix it, then resume)', 'run'],
      ['the adapter failed the snapshot checks: shape-mismatch (fix it, then resume)', 'run'],
      ['cannot prepare run r2: EISDIR (free space or fix permissions, then resume)', 'engine'],
      ['the live base model models/g1 is missing or damaged: nothing trains on it (rollback to a snapshot or another model, then resume)', 'engine'],
    ];
    for (const [reason, kind] of cases) {
      old(true, reason);
      const s = loadState(p).state;
      assert.deepEqual(s.pause, { kind, reason, since: '2026-02-01T00:00:00.000Z' }, reason);
      assert.deepEqual(peekState(p)?.pause, s.pause, 'a follower and the CLI read it the same way');
      assert.equal(readStatus(p).pauseReason, reason, 'status --json says what it said before');
      assert.equal(isResourcePause(s), kind === 'disk' || kind === 'gpu', `only these lift themselves: ${reason}`);
    }
    old(true, null);
    assert.deepEqual([loadState(p).state.pause?.kind, readStatus(p).pauseReason], ['request', null], 'paused with no reason: by request, as it was shown');
    old(false, null);
    assert.equal(loadState(p).state.pause, null);
    assert.equal(readStatus(p).paused, false);
    // Saved again, it carries the kind from then on.
    saveState(p, loadState(p).state);
    old(true, 'waiting for resources: 1 GiB free');
    saveState(p, loadState(p).state);
    assert.equal((JSON.parse(readFileSync(p.state, 'utf8')) as { pause: { kind: string } }).pause.kind, 'disk');
    assert.equal(liftsItself(pauseFromText('waiting for resources: x', '')), true);
  });
});
