/**
 * The engine's own writes failing with EROFS during a run (issue #14, defect 5): a folder of the
 * queue root, or the whole root, made read-only by a read-only bind mount while the trainer double
 * is held. The queue pauses with the reason, nothing is lost, no attempt is used, and it resumes by
 * itself once the mount is gone. A bind mount needs root (CAP_SYS_ADMIN): skipped with the reason
 * elsewhere. (EACCES from permission bits cannot be injected as root, whom they do not stop; the
 * engine treats EACCES and EPERM as it treats EROFS: `writeTroubleOf` in engine.ts.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { assertInventory, cleanup, datasets, drop, GOOD, lastStep, lq, makeWorkspace, readJson, removeTempDirs, startDaemon, state, waitFor, type Daemon } from './helpers';

const T = { timeout: 120_000 };
after(removeTempDirs);

/** Makes `dir` read-only in place (a read-only bind mount over itself); false (and the test skipped) where not permitted. */
function readOnly(t: TestContext, dir: string): boolean {
  const b = spawnSync('mount', ['--bind', dir, dir], { encoding: 'utf8' });
  if (b.status !== 0) {
    t.skip(`cannot bind-mount here (needs root or CAP_SYS_ADMIN): ${(b.stderr || b.error?.message || '').trim()}`);
    return false;
  }
  const r = spawnSync('mount', ['-o', 'remount,bind,ro', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    spawnSync('umount', [dir]);
    t.skip(`cannot remount a bind mount read-only here: ${(r.stderr || r.error?.message || '').trim()}`);
    return false;
  }
  return true;
}

const runs = (root: string): string[] => (existsSync(join(root, 'runs')) ? readdirSync(join(root, 'runs')).sort() : []);

describe('read-only during a run', { concurrency: true }, () => {
  it('done/ read-only when the run succeeds: settling waits, paused with the reason; done once writable', T, async (t) => {
    const ws = makeWorkspace({ disk: { recheckSeconds: 1 }, env: { TRAINER_DOUBLE_MODE: 'slow', TRAINER_DOUBLE_SLOW_MS: '30', TRAINER_DOUBLE_STEPS: '6', TRAINER_DOUBLE_HOLD_AT: '3' } });
    const daemons: Daemon[] = [];
    const done = join(ws.root, 'done');
    let mounted = false;
    try {
      const d = startDaemon(ws);
      daemons.push(d);
      drop(ws, 'a.jsonl', GOOD('a'));
      const runId = await waitFor('the run', () => runs(ws.root)[0], 30_000, d.output);
      await waitFor('step 3', () => lastStep(ws, runId) >= 3, 30_000, d.output);
      if (!(mounted = readOnly(t, done))) return;
      writeFileSync(join(ws.root, 'runs', runId, 'release'), '');
      await waitFor('the pause', () => state(ws).paused && /EROFS/.test((state(ws) as { pauseReason?: string }).pauseReason ?? ''), 30_000, d.output);
      const st = JSON.parse((await lq(ws, ['status', '--format', 'json'])).stdout) as { pauseReason: string; current: { runId: string } | null };
      assert.match(st.pauseReason, /^waiting for resources: the engine cannot write to the queue root \(EROFS: cannot settle run/);
      assert.equal(st.current?.runId, runId, 'the run waits to be settled');
      assert.deepEqual(datasets(ws, 'processing'), ['a.jsonl'], 'the dataset stays where it was');
      spawnSync('umount', [done]);
      mounted = false;
      await waitFor('the run settled and the queue resumed', () => datasets(ws, 'done').length === 1 && !state(ws).current && !state(ws).paused, 30_000, d.output);
      assert.deepEqual(state(ws).history.map((h) => h.kind), ['success']);
      assert.equal(readJson<{ snapshot: string }>(join(ws.root, 'current.json')).snapshot, runId);
      assert.deepEqual(readdirSync(join(ws.root, 'snapshots')).filter((n) => n !== 'verified.json'), [runId], 'one snapshot, though settling was tried many times');
      assert.doesNotMatch(d.output(), /tick: /);
      assertInventory(ws);
    } finally {
      if (mounted) spawnSync('umount', [done]);
      await cleanup(ws, daemons);
    }
  });

  it('the whole root read-only: the trainer dies, the queue pauses, no attempt used; trained once writable', T, async (t) => {
    const ws = makeWorkspace({ disk: { recheckSeconds: 1 }, queue: { maxAttempts: 1 }, env: { TRAINER_DOUBLE_MODE: 'slow', TRAINER_DOUBLE_SLOW_MS: '30', TRAINER_DOUBLE_STEPS: '6', TRAINER_DOUBLE_HOLD_AT: '3' } });
    const daemons: Daemon[] = [];
    let mounted = false;
    try {
      const d = startDaemon(ws);
      daemons.push(d);
      drop(ws, 'b.jsonl', GOOD('b'));
      const runId = await waitFor('the run', () => runs(ws.root)[0], 30_000, d.output);
      await waitFor('step 3', () => lastStep(ws, runId) >= 3, 30_000, d.output);
      if (!(mounted = readOnly(t, ws.root))) return;
      await waitFor('the engine to pause', () => /the queue is paused until writes succeed again/.test(d.output()), 30_000, d.output);
      const st = JSON.parse((await lq(ws, ['status', '--format', 'json'])).stdout || '{}') as { rootProblem: string | null };
      assert.match(st.rootProblem ?? '', /not writable \(EROFS\)/, 'status says why, though state.json cannot record it');
      spawnSync('umount', [ws.root]);
      mounted = false;
      const second = await waitFor('the second run', () => runs(ws.root)[1], 30_000, d.output);
      writeFileSync(join(ws.root, 'runs', second, 'release'), '');
      await waitFor('the dataset done', () => datasets(ws, 'done').length === 1 && !state(ws).current, 30_000, d.output);
      assert.deepEqual(state(ws).history.map((h) => h.kind), ['disk_unwritable', 'success'], 'with maxAttempts 1 a counted attempt would have failed it');
      assert.equal(readJson<{ attempts: number }>(join(ws.root, 'done', 'b.jsonl.meta.json')).attempts, 0);
      assert.doesNotMatch(d.output(), /tick: /);
      assertInventory(ws);
    } finally {
      if (mounted) spawnSync('umount', [ws.root]);
      await cleanup(ws, daemons);
    }
  });
});
