/**
 * state.json is a cache (issue #14, defect 1): an engine that starts without it (truncated,
 * garbage, deleted) rebuilds the run in progress and the attempts from runs/, so a lost state
 * can neither re-train a finished dataset, forget an attempt, nor start a second trainer. The
 * engine runs as a subprocess with the trainer double; the engine is killed with SIGKILL.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  alive, assertInventory, cleanup, datasets, doublePid, drop, GOOD, lastStep, makeWorkspace, readJson, removeTempDirs, runDirs, startDaemon, state, waitFor, type Daemon, type Workspace,
} from './helpers';

const T = { timeout: 120_000 };
after(removeTempDirs);

/** The three ways a state.json is lost, in turn. */
const LOSSES: ((ws: Workspace) => void)[] = [
  (ws) => truncateSync(join(ws.root, 'state.json'), 0),
  (ws) => writeFileSync(join(ws.root, 'state.json'), '{"version":1,"paused":fal'),
  (ws) => rmSync(join(ws.root, 'state.json')),
];

/** Kills the daemon with SIGKILL once its run is held at the double's hold step; returns the run id. */
async function killWhileHeld(ws: Workspace, d: Daemon, runsBefore: number, holdAt: number): Promise<string> {
  const runId = await waitFor('a new run', () => runDirs(ws)[runsBefore], 30_000, d.output);
  await waitFor(`step ${holdAt}`, () => lastStep(ws, runId) >= holdAt, 30_000, d.output);
  d.child.kill('SIGKILL');
  await d.exited;
  return runId;
}

describe('state.json lost', { concurrency: true }, () => {
  it('a run that ended while no engine watched is settled from runs/: done, snapshotted, not trained again', T, async () => {
    const ws = makeWorkspace({ env: { TRAINER_DOUBLE_MODE: 'slow', TRAINER_DOUBLE_STEPS: '6', TRAINER_DOUBLE_SLOW_MS: '30', TRAINER_DOUBLE_HOLD_AT: '2' } });
    const daemons: Daemon[] = [];
    try {
      const d1 = startDaemon(ws);
      daemons.push(d1);
      drop(ws, 'x.jsonl', GOOD('x'));
      const runId = await killWhileHeld(ws, d1, 0, 2);
      const pid = doublePid(ws, runId)!;
      writeFileSync(join(ws.root, 'runs', runId, 'release'), '');
      await waitFor('the trainer to finish unwatched', () => !alive(pid) && existsSync(join(ws.root, 'runs', runId, 'exit.json')), 30_000);
      truncateSync(join(ws.root, 'state.json'), 0);
      const d2 = startDaemon(ws);
      daemons.push(d2);
      await waitFor('the run to be settled', () => datasets(ws, 'done').length === 1 && !state(ws).current, 30_000, d2.output);
      assert.doesNotMatch(d2.output(), /had no run/);
      assert.match(d2.output(), /settling it from runs\//);
      assert.deepEqual(runDirs(ws), [runId], 'not trained again');
      assert.equal(readJson<{ kind: string }>(join(ws.root, 'runs', runId, 'end.json')).kind, 'success');
      assert.equal(readJson<{ snapshot: string }>(join(ws.root, 'current.json')).snapshot, runId, 'its adapter is the live one');
      assertInventory(ws);
    } finally {
      await cleanup(ws, daemons);
    }
  });

  it('a trainer still running is adopted, never joined by a second one', T, async () => {
    const ws = makeWorkspace({ env: { TRAINER_DOUBLE_MODE: 'slow', TRAINER_DOUBLE_STEPS: '6', TRAINER_DOUBLE_SLOW_MS: '30', TRAINER_DOUBLE_HOLD_AT: '2' } });
    const daemons: Daemon[] = [];
    try {
      const d1 = startDaemon(ws);
      daemons.push(d1);
      drop(ws, 'y.jsonl', GOOD('y'));
      const runId = await killWhileHeld(ws, d1, 0, 2);
      rmSync(join(ws.root, 'state.json'));
      const d2 = startDaemon(ws);
      daemons.push(d2);
      await waitFor('the trainer to be adopted', () => /still running run .* adopted/.test(d2.output()), 30_000, d2.output);
      assert.equal(state(ws).current !== null, true, 'state.json names the run again');
      writeFileSync(join(ws.root, 'runs', runId, 'release'), '');
      await waitFor('the run to be settled', () => datasets(ws, 'done').length === 1 && !state(ws).current, 30_000, d2.output);
      assert.deepEqual(runDirs(ws), [runId], 'one run, not two');
      assertInventory(ws);
    } finally {
      await cleanup(ws, daemons);
    }
  });

  it('attempts are counted from runs/: a failing dataset gets queue.maxAttempts runs however often the state is lost', T, async () => {
    // crash mode crashes at step 3; held at step 2, so the crash happens while no engine watches.
    const ws = makeWorkspace({ queue: { maxAttempts: 2 }, env: { TRAINER_DOUBLE_MODE: 'slow', TRAINER_DOUBLE_SLOW_MS: '30', TRAINER_DOUBLE_HOLD_AT: '2' } });
    const daemons: Daemon[] = [];
    try {
      drop(ws, 'z__crash.jsonl', GOOD('z'));
      for (let i = 0; i < 2; i++) {
        const d = startDaemon(ws);
        daemons.push(d);
        const runId = await killWhileHeld(ws, d, i, 2);
        writeFileSync(join(ws.root, 'runs', runId, 'release'), '');
        await waitFor('the exit record', () => existsSync(join(ws.root, 'runs', runId, 'exit.json')), 30_000);
        LOSSES[i]!(ws);
      }
      const d = startDaemon(ws);
      daemons.push(d);
      await waitFor('the dataset to fail', () => datasets(ws, 'failed').length === 1, 30_000, d.output);
      // A third engine start with the state lost again must not revive it.
      d.child.kill('SIGKILL');
      await d.exited;
      LOSSES[2]!(ws);
      const d2 = startDaemon(ws);
      daemons.push(d2);
      await waitFor('the new owner', () => /owner of/.test(d2.output()), 30_000, d2.output);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(runDirs(ws).length, 2, `two runs, as maxAttempts says: ${readdirSync(join(ws.root, 'runs')).join(' ')}`);
      assert.deepEqual(datasets(ws, 'failed'), ['z__crash.jsonl']);
      const reason = readJson<{ kind: string; attempts: number }>(join(ws.root, 'failed', 'z__crash.jsonl.reason.json'));
      assert.equal(reason.kind, 'crash');
      assert.equal(reason.attempts, 2);
      assertInventory(ws);
    } finally {
      await cleanup(ws, daemons);
    }
  });
  it('a garbled sidecar is rebuilt with its attempts counted from runs/', T, async () => {
    // A 30 s back-off holds the dataset after its first crash, while the sidecar is garbled.
    const ws = makeWorkspace({ queue: { maxAttempts: 2, retryBackoffSeconds: 30 } });
    const daemons: Daemon[] = [];
    try {
      const d1 = startDaemon(ws);
      daemons.push(d1);
      drop(ws, 's__crash.jsonl', GOOD('s'));
      await waitFor('the first crash', () => state(ws).history.length === 1 && datasets(ws, 'queue').length === 1, 30_000, d1.output);
      d1.child.kill('SIGKILL');
      await d1.exited;
      writeFileSync(join(ws.root, 'queue', 's__crash.jsonl.meta.json'), '{"priority":0,"attem');
      const d2 = startDaemon(ws);
      daemons.push(d2);
      await waitFor('the dataset to fail', () => datasets(ws, 'failed').length === 1, 30_000, d2.output);
      assert.match(d2.output(), /its sidecar was unreadable .* 1 attempt\(s\) counted from runs\//);
      assert.equal(runDirs(ws).length, 2, 'maxAttempts runs, not one more');
      assert.equal(readJson<{ attempts: number }>(join(ws.root, 'failed', 's__crash.jsonl.reason.json')).attempts, 2);
      assertInventory(ws);
    } finally {
      await cleanup(ws, daemons);
    }
  });
});
