/**
 * No process of a run outlives it. The trainer command is a launcher (the launcher TEST DOUBLE,
 * fixtures/launcher-double.mjs, at the process boundary: what torchrun does to processes) whose
 * workers run the trainer double, each in a session of its own, so a signal to the launcher's
 * process group does not reach them. After every kind of end the test walks /proc for any process
 * whose command line names the run's job file: there must be none.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  alive, assertInventory, cleanup, datasets, DOUBLE, drop, events, GOOD, lastStep, lq, makeWorkspace, readJson, REPO, removeTempDirs, runDirs, startDaemon, state, waitFor,
  type Daemon, type Workspace,
} from './helpers';

const T = { timeout: 120_000 };
after(removeTempDirs);
const LAUNCHER_DOUBLE = join(REPO, 'test', 'engine', 'fixtures', 'launcher-double.mjs');
const launched = (nproc = 2): string[] => [process.execPath, LAUNCHER_DOUBLE, '--nproc', String(nproc), '--', process.execPath, DOUBLE];

/** Live processes (not zombies) whose command line holds `text`. */
function processesWith(text: string): number[] {
  const found: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(text) && alive(Number(e))) found.push(Number(e));
    } catch { /* gone */ }
  }
  return found;
}

function workers(ws: Workspace, runId: string): number[] {
  const f = join(ws.root, 'runs', runId, 'workers.json');
  return existsSync(f) ? readJson<number[]>(f) : [];
}

async function cleanupAll(ws: Workspace, daemons: Daemon[]): Promise<void> {
  await cleanup(ws, daemons);
  for (const r of runDirs(ws)) for (const pid of workers(ws, r)) if (alive(pid)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

async function noneLeft(ws: Workspace, runId: string, d: Daemon): Promise<void> {
  const job = join(ws.root, 'runs', runId, 'job.json');
  // SIGKILL is asynchronous: give the kernel a moment to reap, then nothing may remain.
  await waitFor(`no process of run ${runId} left (found ${processesWith(job).join(' ')})`, () => processesWith(job).length === 0, 10_000, d.output);
}

describe('the processes of a run', { concurrency: true }, () => {
  it('a launched run trains to done/ with a snapshot; its workers are gone after it', T, async () => {
    const ws = makeWorkspace({ trainer: { command: launched(2) }, env: { TRAINER_DOUBLE_DEVICE: 'cuda:0 (double)' } });
    const d = startDaemon(ws);
    try {
      drop(ws, 'two.jsonl', GOOD('two'));
      await waitFor('the run to settle', () => state(ws).history.length === 1 && !state(ws).current, 60_000, d.output);
      const runId = runDirs(ws)[0]!;
      assert.deepEqual(datasets(ws, 'done'), ['two.jsonl']);
      assert.equal(state(ws).history[0]!.kind, 'success');
      const starts = events(ws, runId).filter((e) => e.type === 'start');
      assert.equal(starts.length, 1, 'one writer');
      assert.equal(starts[0]!['world_size'], 2);
      assert.equal(workers(ws, runId).length, 2);
      const snaps = JSON.parse((await lq(ws, ['snapshots', '--format', 'json'])).stdout) as { current: boolean; verified: boolean; dataset: string }[];
      assert.equal(snaps.length, 1, JSON.stringify(snaps));
      assert.ok(snaps[0]!.current && snaps[0]!.verified && snaps[0]!.dataset === 'two.jsonl', JSON.stringify(snaps));
      // The ledger counts the GPU time of every process: world size x wall time.
      const ledger = readFileSync(join(ws.root, 'ledger.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(ledger.length, 1);
      assert.equal(ledger[0]!['gpus'], 2, JSON.stringify(ledger[0]));
      assert.ok(Math.abs((ledger[0]!['gpuSeconds'] as number) - 2 * (ledger[0]!['wallSeconds'] as number)) < 0.01, JSON.stringify(ledger[0]));
      await noneLeft(ws, runId, d);
      assertInventory(ws);
    } finally {
      await cleanupAll(ws, [d]);
    }
  });

  it('stop --now: workers in their own sessions that ignore SIGTERM are killed after the grace period', T, async () => {
    const ws = makeWorkspace({ trainer: { command: launched(2), stopGraceSeconds: 1 }, env: { TRAINER_DOUBLE_SLOW_MS: '100', TRAINER_DOUBLE_STEPS: '400' } });
    const d = startDaemon(ws);
    try {
      drop(ws, 'i__ignoreterm.jsonl', GOOD('i'));
      const runId = await waitFor('the run to start', () => runDirs(ws)[0], 30_000, d.output);
      await waitFor('step 2', () => lastStep(ws, runId) >= 2, 30_000, d.output);
      const pids = workers(ws, runId);
      assert.equal(pids.length, 2);
      const r = await lq(ws, ['stop', '--now']);
      assert.equal(r.code, 0, r.stderr);
      await waitFor('the run to end stopped', () => state(ws).history[0]?.kind === 'stopped' && !state(ws).current, 30_000, d.output);
      assert.match(d.output(), /every process of the run \([1-9]/);
      for (const pid of pids) assert.equal(alive(pid), false, `worker ${pid} is gone`);
      await noneLeft(ws, runId, d);
      assert.deepEqual(datasets(ws, 'queue'), ['i__ignoreterm.jsonl']);
      assertInventory(ws);
    } finally {
      await cleanupAll(ws, [d]);
    }
  });

  it('a hung launched run: every worker is killed, not only the launcher\'s group', T, async () => {
    const ws = makeWorkspace({ trainer: { command: launched(2), hangTimeoutSeconds: 10, stopGraceSeconds: 1 }, queue: { maxAttempts: 1 } });
    const d = startDaemon(ws);
    try {
      drop(ws, 'h__hang.jsonl', GOOD('h'));
      const runId = await waitFor('the run to start', () => runDirs(ws)[0], 30_000, d.output);
      const pids = await waitFor('the workers', () => (workers(ws, runId).length === 2 ? workers(ws, runId) : undefined), 30_000, d.output);
      await waitFor('the hung run to be settled', () => state(ws).history.length === 1 && !state(ws).current, 60_000, d.output);
      assert.equal(state(ws).history[0]!.kind, 'hang');
      for (const pid of pids) assert.equal(alive(pid), false, `worker ${pid} is gone`);
      await noneLeft(ws, runId, d);
      assertInventory(ws);
    } finally {
      await cleanupAll(ws, [d]);
    }
  });

  it('a launcher that dies leaves no worker behind: the engine kills what outlived it', T, async () => {
    const ws = makeWorkspace({
      trainer: { command: launched(2) }, queue: { maxAttempts: 1 },
      env: { TRAINER_DOUBLE_MODE: 'slow', TRAINER_DOUBLE_SLOW_MS: '100', TRAINER_DOUBLE_STEPS: '400', LAUNCHER_DOUBLE_DIE_AFTER_MS: '1500' },
    });
    const d = startDaemon(ws);
    try {
      drop(ws, 'orphans.jsonl', GOOD('o'));
      const runId = await waitFor('the run to start', () => runDirs(ws)[0], 30_000, d.output);
      const pids = await waitFor('the workers', () => (workers(ws, runId).length === 2 ? workers(ws, runId) : undefined), 30_000, d.output);
      await waitFor('the run to be settled', () => state(ws).history.length === 1 && !state(ws).current, 60_000, d.output);
      assert.notEqual(state(ws).history[0]!.kind, 'success');
      assert.match(d.output(), /2 process\(es\) of the run outlived its trainer command/);
      for (const pid of pids) assert.equal(alive(pid), false, `worker ${pid} is gone`);
      await noneLeft(ws, runId, d);
      assert.deepEqual(datasets(ws, 'failed'), ['orphans.jsonl']);
      assertInventory(ws);
    } finally {
      await cleanupAll(ws, [d]);
    }
  });

  it('daemon --stop-trainer: workers that ignore SIGTERM are killed after the grace period, none left when the engine exits', T, async () => {
    const ws = makeWorkspace({ trainer: { command: launched(2), stopGraceSeconds: 1 }, env: { TRAINER_DOUBLE_SLOW_MS: '100', TRAINER_DOUBLE_STEPS: '400' } });
    const d = startDaemon(ws, ['--stop-trainer']);
    try {
      drop(ws, 's__ignoreterm.jsonl', GOOD('s'));
      const runId = await waitFor('the run to start', () => runDirs(ws)[0], 30_000, d.output);
      await waitFor('step 2', () => lastStep(ws, runId) >= 2, 30_000, d.output);
      const pids = workers(ws, runId);
      d.child.kill('SIGTERM');
      assert.equal(await d.exited, 0, d.output());
      assert.equal(state(ws).history[0]?.kind, 'stopped');
      for (const pid of pids) assert.equal(alive(pid), false, `worker ${pid} is gone`);
      await noneLeft(ws, runId, d);
      assertInventory(ws);
    } finally {
      await cleanupAll(ws, [d]);
    }
  });

  it('kill -9 of the engine during a launched run: the next engine adopts the launcher, one run', T, async () => {
    const ws = makeWorkspace({ trainer: { command: launched(2) }, env: { TRAINER_DOUBLE_MODE: 'slow', TRAINER_DOUBLE_STEPS: '12', TRAINER_DOUBLE_SLOW_MS: '50', TRAINER_DOUBLE_HOLD_AT: '4' } });
    const daemons: Daemon[] = [];
    try {
      const d1 = startDaemon(ws);
      daemons.push(d1);
      drop(ws, 'adopt.jsonl', GOOD('a'));
      const runId = await waitFor('the run to start', () => runDirs(ws)[0], 30_000, d1.output);
      await waitFor('step 4', () => lastStep(ws, runId) >= 4, 30_000, d1.output);
      d1.child.kill('SIGKILL');
      await d1.exited;
      const pids = workers(ws, runId);
      for (const pid of pids) assert.ok(alive(pid), 'the workers survive the engine');
      const d2 = startDaemon(ws);
      daemons.push(d2);
      await waitFor('the new engine to adopt it', () => /adopted trainer pid/.test(d2.output()), 30_000, d2.output);
      writeFileSync(join(ws.root, 'runs', runId, 'release'), '');
      await waitFor('the run to be settled', () => state(ws).history.length === 1 && !state(ws).current, 60_000, d2.output);
      assert.deepEqual(datasets(ws, 'done'), ['adopt.jsonl']);
      assert.deepEqual(runDirs(ws), [runId], 'one run');
      assert.equal(events(ws, runId).filter((e) => e.type === 'start').length, 1);
      assert.equal(state(ws).history[0]!.kind, 'success');
      // The launcher's exit record says how it ended, as for a plain trainer.
      assert.equal(readJson<{ code: number }>(join(ws.root, 'runs', runId, 'exit.json')).code, 0);
      await noneLeft(ws, runId, d2);
      assertInventory(ws);
    } finally {
      await cleanupAll(ws, daemons);
    }
  });
});
