/**
 * The engine as a subprocess (`daemon`) with real trainer processes (the trainer double), real
 * signals and real files; the CLI as a subprocess too. Each scenario has its own workspace and
 * runs concurrently with the others. After each, every dataset is counted and hashed: nothing
 * lost, nothing doubled.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  alive, assertInventory, removeTempDirs, BAD, cleanup, datasets, doublePid, drop, events, GOOD, lastStep, lq, makeWorkspace, readJson, runDirs, sha, startDaemon, state, waitFor, type Daemon,
} from './helpers';

const T = { timeout: 120_000 };
after(removeTempDirs);
const lockPid = (root: string): number | undefined => (existsSync(join(root, 'engine.lock')) ? readJson<{ pid: number }>(join(root, 'engine.lock')).pid : undefined);

describe('engine', { concurrency: true }, () => {
  it('files every kind of end in the right folder with the right reason', T, async () => {
    const ws = makeWorkspace({ queue: { maxAttempts: 2 } });
    const d = startDaemon(ws);
    try {
      const names = ['ok__success', 'n__nan', 'c__crash', 'k__sigkill', 'o__oom', 'd__data', 'f__flaky'];
      names.forEach((n, i) => drop(ws, `${n}.jsonl`, GOOD(i)));
      drop(ws, 'bad.jsonl', BAD);
      await waitFor('all 8 datasets to settle', () => datasets(ws, 'done').length + datasets(ws, 'failed').length === 8 && state(ws).history.length === 12 && !state(ws).current, 90_000, () => `${d.output()}\n${JSON.stringify(state(ws).history.map((r) => [r.dataset, r.kind]))}`);
      assert.deepEqual(datasets(ws, 'done'), ['f__flaky.jsonl', 'ok__success.jsonl']);
      const reason = (n: string): { kind: string; attempts: number; message: string; lastLogLines?: string[]; diagnostics?: unknown[]; runId?: string } => readJson(join(ws.root, 'failed', `${n}.jsonl.reason.json`));
      assert.equal(reason('n__nan').kind, 'nan_loss');
      assert.equal(reason('n__nan').attempts, 2);
      assert.equal(reason('c__crash').kind, 'crash');
      assert.match(reason('c__crash').message, /code 3/);
      assert.ok(reason('c__crash').lastLogLines?.some((l) => l.includes('double crashed on purpose')), 'the reason carries the last lines of trainer.log');
      assert.equal(reason('k__sigkill').kind, 'killed');
      assert.equal(reason('o__oom').kind, 'cuda_oom');
      assert.equal(reason('d__data').kind, 'data');
      assert.equal(reason('d__data').attempts, 1, 'a data error is not retried');
      assert.equal(reason('bad').kind, 'invalid');
      const diag = reason('bad').diagnostics?.[0] as Record<string, unknown>;
      assert.deepEqual(Object.keys(diag).sort(), ['code', 'column', 'endColumn', 'endLine', 'file', 'line', 'message', 'severity']);
      assert.equal(diag['code'], 'unknown-role');
      assert.equal(diag['line'], 1);
      // One run per attempt: 1 (ok) + 2 × 4 retried failures + 1 (data) + 2 (flaky) = 12.
      assert.equal(runDirs(ws).length, 12);
      const h = state(ws).history;
      assert.equal(h.length, 12);
      assert.equal(h.filter((r) => r.dataset === 'f__flaky.jsonl').map((r) => r.kind).join(), 'crash,success');
      // job.json holds exactly the contract's keys.
      const job = readJson(join(ws.root, 'runs', runDirs(ws)[0]!, 'job.json'));
      assert.deepEqual(Object.keys(job).sort(), ['base_model', 'dataset', 'events', 'hyperparameters', 'init_adapter', 'output_dir', 'resume_from', 'run_id']);
      // The success became the live adapter, and the next run continued from it.
      const cur = readJson<{ adapter: string }>(join(ws.root, 'current.json'));
      assert.ok(existsSync(cur.adapter));
      assert.ok(readdirSync(join(ws.root, 'logs')).some((n) => /^engine-\d{8}\.log$/.test(n)));
      assertInventory(ws);
    } finally {
      await cleanup(ws, [d]);
    }
  });

  it('settles a run whose trainer reports an error kind protocol v1 does not have, as the trainer\'s other, with its text', T, async () => {
    const ws = makeWorkspace({ queue: { maxAttempts: 2 } });
    const d = startDaemon(ws);
    try {
      drop(ws, 'x__xid.jsonl', GOOD('x'));
      drop(ws, 'ok__success.jsonl', GOOD('ok'));
      await waitFor('both datasets to settle', () => datasets(ws, 'failed').length + datasets(ws, 'done').length === 2 && !state(ws).current, 60_000, d.output);
      assert.deepEqual(datasets(ws, 'failed'), ['x__xid.jsonl']);
      assert.deepEqual(datasets(ws, 'done'), ['ok__success.jsonl'], 'the queue went on after it');
      const reason = readJson<{ kind: string; attempts: number; message: string }>(join(ws.root, 'failed', 'x__xid.jsonl.reason.json'));
      assert.equal(reason.kind, 'crash');
      assert.equal(reason.attempts, 2, 'retried like any crash');
      assert.match(reason.message, /unknown kind "gpu_xid_error".*Xid 79: GPU has fallen off the bus/);
      assertInventory(ws);
    } finally {
      await cleanup(ws, [d]);
    }
  });

  it('kills a hung trainer\'s process group and fails the dataset as hung', T, async () => {
    const ws = makeWorkspace({ trainer: { hangTimeoutSeconds: 10, stopGraceSeconds: 2 }, queue: { maxAttempts: 1 } });
    const d = startDaemon(ws);
    try {
      drop(ws, 'h__hang.jsonl', GOOD('h'));
      const runId = await waitFor('the run to start', () => runDirs(ws)[0], 30_000, d.output);
      const pid = await waitFor('the double to start', () => doublePid(ws, runId), 30_000, d.output);
      await waitFor('the hung run to be settled', () => state(ws).history.length === 1 && !state(ws).current, 60_000, d.output);
      assert.deepEqual(datasets(ws, 'failed'), ['h__hang.jsonl']);
      assert.equal(readJson<{ kind: string }>(join(ws.root, 'failed', 'h__hang.jsonl.reason.json')).kind, 'hang');
      assert.equal(alive(pid), false, 'the hung trainer is gone');
      assertInventory(ws);
    } finally {
      await cleanup(ws, [d]);
    }
  });

  it('adopts the running trainer after the engine is killed with SIGKILL: one run, not two', T, async () => {
    const ws = makeWorkspace({ env: { TRAINER_DOUBLE_MODE: 'slow', TRAINER_DOUBLE_STEPS: '12', TRAINER_DOUBLE_SLOW_MS: '50', TRAINER_DOUBLE_HOLD_AT: '4' } });
    const daemons: Daemon[] = [];
    try {
      const d1 = startDaemon(ws);
      daemons.push(d1);
      drop(ws, 'long.jsonl', GOOD('long'));
      const runId = await waitFor('the run to start', () => runDirs(ws)[0], 30_000, d1.output);
      await waitFor('step 4', () => lastStep(ws, runId) >= 4, 30_000, d1.output);
      d1.child.kill('SIGKILL');
      await d1.exited;
      const pid = doublePid(ws, runId)!;
      assert.ok(alive(pid), 'the trainer survives the engine');
      const stepAtKill = lastStep(ws, runId);
      const d2 = startDaemon(ws);
      daemons.push(d2);
      await waitFor('the new engine to adopt it', () => /adopted trainer pid/.test(d2.output()), 30_000, d2.output);
      // A clean exit (SIGTERM) leaves the trainer running too, for the next engine.
      d2.child.kill('SIGTERM');
      assert.equal(await d2.exited, 0);
      assert.ok(alive(pid), 'the trainer survives a clean engine exit');
      assert.equal(existsSync(join(ws.root, 'engine.lock')), false, 'a clean exit releases the lock');
      const d3 = startDaemon(ws);
      daemons.push(d3);
      await waitFor('the third engine to adopt it', () => /adopted trainer pid/.test(d3.output()), 30_000, d3.output);
      writeFileSync(join(ws.root, 'runs', runId, 'release'), '');
      await waitFor('the run to be settled', () => state(ws).history.length === 1 && !state(ws).current, 60_000, d3.output);
      assert.deepEqual(datasets(ws, 'done'), ['long.jsonl']);
      assert.ok(lastStep(ws, runId) > stepAtKill);
      assert.deepEqual(runDirs(ws), [runId], 'one run');
      const ev = events(ws, runId);
      assert.equal(ev.filter((e) => e.type === 'start').length, 1);
      assert.equal(ev.filter((e) => e.type === 'done').length, 1);
      const h = state(ws).history;
      assert.equal(h.length, 1);
      assert.equal(h[0]!.kind, 'success');
      assert.equal(lockPid(ws.root), d3.child.pid);
      assertInventory(ws);
    } finally {
      await cleanup(ws, daemons);
    }
  });

  it('stops after the step, stays paused, and resumes from the checkpoint', T, async () => {
    const ws = makeWorkspace({ env: { TRAINER_DOUBLE_MODE: 'slow', TRAINER_DOUBLE_STEPS: '12', TRAINER_DOUBLE_SLOW_MS: '50', TRAINER_DOUBLE_HOLD_AT: '7' } });
    const d = startDaemon(ws);
    try {
      drop(ws, 's.jsonl', GOOD('s'));
      const first = await waitFor('the run to start', () => runDirs(ws)[0], 30_000, d.output);
      await waitFor('step 7', () => lastStep(ws, first) >= 7, 30_000, d.output);
      const r = await lq(ws, ['stop', '--after-step']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /SIGUSR1/);
      await waitFor('the run to end stopped', () => state(ws).history[0]?.kind === 'stopped' && !state(ws).current, 30_000, d.output);
      const ck = events(ws, first).filter((e) => e.type === 'checkpoint').pop()!;
      const meta = readJson<{ resumeFrom: string; attempts: number }>(join(ws.root, 'queue', 's.jsonl.meta.json'));
      assert.equal(meta.resumeFrom, ck['path']);
      assert.equal(meta.attempts, 0);
      const st = JSON.parse((await lq(ws, ['status', '--format', 'json'])).stdout) as { paused: boolean; queue: { name: string; resumeFrom: string }[]; engine: { running: boolean } };
      assert.equal(st.paused, true);
      assert.equal(st.engine.running, true);
      assert.equal(st.queue[0]?.name, 's.jsonl');
      // Paused: nothing starts until resume.
      await new Promise((res) => setTimeout(res, 1500));
      assert.equal(runDirs(ws).length, 1);
      const r2 = await lq(ws, ['resume']);
      assert.equal(r2.code, 0, r2.stderr);
      await waitFor('the second run to be settled', () => state(ws).history.length === 2 && !state(ws).current, 60_000, d.output);
      assert.deepEqual(datasets(ws, 'done'), ['s.jsonl']);
      const runs = runDirs(ws);
      assert.equal(runs.length, 2);
      const second = runs.find((x) => x !== first)!;
      assert.equal(readJson<{ resume_from: string }>(join(ws.root, 'runs', second, 'job.json')).resume_from, ck['path']);
      const firstStep = events(ws, second).find((e) => e.type === 'step')!;
      assert.equal(ck['step'], 7);
      assert.equal(firstStep['step'], 8);
      assertInventory(ws);
    } finally {
      await cleanup(ws, [d]);
    }
  });

  it('stop --now: SIGKILL to the group when the trainer ignores SIGTERM; then remove and retry', T, async () => {
    const ws = makeWorkspace({ trainer: { stopGraceSeconds: 1 }, env: { TRAINER_DOUBLE_SLOW_MS: '100', TRAINER_DOUBLE_STEPS: '400' } });
    const d = startDaemon(ws);
    try {
      drop(ws, 'i__ignoreterm.jsonl', GOOD('i'));
      const runId = await waitFor('the run to start', () => runDirs(ws)[0], 30_000, d.output);
      await waitFor('step 2', () => lastStep(ws, runId) >= 2, 30_000, d.output);
      const pid = doublePid(ws, runId)!;
      const r = await lq(ws, ['stop', '--now']);
      assert.equal(r.code, 0, r.stderr);
      await waitFor('the run to end stopped', () => state(ws).history[0]?.kind === 'stopped' && !state(ws).current, 30_000, d.output);
      assert.match(d.output(), /did not stop within 1 s of SIGTERM/);
      assert.equal(alive(pid), false);
      assert.equal(state(ws).paused, true);
      assert.deepEqual(datasets(ws, 'queue'), ['i__ignoreterm.jsonl']);
      const rm = await lq(ws, ['remove', 'i__ignoreterm']);
      assert.equal(rm.code, 0, rm.stderr);
      assert.deepEqual(datasets(ws, 'failed'), ['i__ignoreterm.jsonl']);
      assert.equal(readJson<{ kind: string }>(join(ws.root, 'failed', 'i__ignoreterm.jsonl.reason.json')).kind, 'removed');
      const missing = await lq(ws, ['remove', 'nope']);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /no dataset nope/);
      const rt = await lq(ws, ['retry', 'i__ignoreterm.jsonl']);
      assert.equal(rt.code, 0, rt.stderr);
      assert.deepEqual(datasets(ws, 'queue'), ['i__ignoreterm.jsonl']);
      assert.equal(existsSync(join(ws.root, 'failed', 'i__ignoreterm.jsonl.reason.json')), false);
      assertInventory(ws);
    } finally {
      await cleanup(ws, [d]);
    }
  });

  it('pauses the queue and keeps the dataset when the GPU is unavailable', T, async () => {
    const ws = makeWorkspace();
    const d = startDaemon(ws);
    try {
      drop(ws, 'g__gpu.jsonl', GOOD('g'));
      await waitFor('the GPU error', () => state(ws).history[0]?.kind === 'gpu_unavailable' && !state(ws).current, 30_000, d.output);
      drop(ws, 'next.jsonl', GOOD('n'));
      await waitFor('next.jsonl to be queued', () => datasets(ws, 'queue').includes('next.jsonl'), 30_000, d.output);
      const s = readJson<{ paused: boolean; pauseReason: string }>(join(ws.root, 'state.json'));
      assert.equal(s.paused, true);
      assert.match(s.pauseReason, /GPU/);
      assert.equal(readJson<{ attempts: number }>(join(ws.root, 'queue', 'g__gpu.jsonl.meta.json')).attempts, 0);
      assert.equal(runDirs(ws).length, 1);
      assertInventory(ws);
    } finally {
      await cleanup(ws, [d]);
    }
  });

  it('a second engine follows, commands go through control/ once, and the follower takes over', T, async () => {
    const ws = makeWorkspace();
    const daemons: Daemon[] = [];
    try {
      const a = startDaemon(ws);
      daemons.push(a);
      await waitFor('A to own the root', () => lockPid(ws.root) === a.child.pid, 30_000, a.output);
      const b = startDaemon(ws);
      daemons.push(b);
      await waitFor('B to follow', () => /following the engine of pid/.test(b.output()), 30_000, b.output);
      assert.equal(lockPid(ws.root), a.child.pid);
      const r = await lq(ws, ['pause']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^pause: paused/);
      const s = state(ws);
      assert.equal(s.paused, true);
      assert.equal(s.applied.length, 1);
      assert.equal(s.results.length, 1);
      assert.deepEqual(readdirSync(join(ws.root, 'control')).filter((n) => !n.startsWith('.')), []);
      assert.match(a.output(), /command pause/);
      assert.doesNotMatch(b.output(), /command pause/);
      a.child.kill('SIGTERM');
      assert.equal(await a.exited, 0);
      await waitFor('B to take over', () => lockPid(ws.root) === b.child.pid && /took over the queue root/.test(b.output()), 30_000, b.output);
      const r2 = await lq(ws, ['resume']);
      assert.equal(r2.code, 0, r2.stderr);
      drop(ws, 'x.jsonl', GOOD('x'));
      await waitFor('x.jsonl to be trained by B', () => state(ws).history.length === 1 && !state(ws).current, 30_000, b.output);
      assert.deepEqual(datasets(ws, 'done'), ['x.jsonl']);
      assert.equal(state(ws).applied.length, 2);
      assertInventory(ws);
    } finally {
      await cleanup(ws, daemons);
    }
  });

  it('takes concurrent enqueues, with and without an engine, each once, colliding names suffixed', T, async () => {
    const ws = makeWorkspace();
    const daemons: Daemon[] = [];
    try {
      // No engine yet: pause applies directly, under the lock.
      const p = await lq(ws, ['pause']);
      assert.equal(p.code, 0, p.stderr);
      assert.match(p.stdout, /applied directly/);
      const srcs: string[] = [];
      for (let i = 0; i < 10; i++) {
        const dir = join(ws.dir, `src${i}`);
        mkdirSync(dir);
        writeFileSync(join(dir, 'data.jsonl'), GOOD(`c${i}`));
        ws.inputs.set(sha(GOOD(`c${i}`)), `src${i}/data.jsonl`);
        srcs.push(join(dir, 'data.jsonl'));
      }
      const d = startDaemon(ws);
      daemons.push(d);
      await waitFor('the engine to own the root', () => lockPid(ws.root) === d.child.pid, 30_000, d.output);
      const withEngine = await Promise.all(srcs.slice(0, 5).map((f, i) => lq(ws, ['enqueue', '--priority', String(i), f])));
      for (const r of withEngine) assert.equal(r.code, 0, r.stderr + r.stdout);
      d.child.kill('SIGTERM');
      await d.exited;
      const without = await Promise.all(srcs.slice(5).map((f) => lq(ws, ['enqueue', f])));
      for (const r of without) assert.equal(r.code, 0, r.stderr + r.stdout);
      const q = datasets(ws, 'queue');
      assert.equal(q.length, 10);
      assert.deepEqual(q, ['data-10.jsonl', 'data-2.jsonl', 'data-3.jsonl', 'data-4.jsonl', 'data-5.jsonl', 'data-6.jsonl', 'data-7.jsonl', 'data-8.jsonl', 'data-9.jsonl', 'data.jsonl']);
      const st = JSON.parse((await lq(ws, ['status', '--format', 'json'])).stdout) as { queue: { priority: number }[]; engine: { running: boolean } };
      assert.equal(st.engine?.running ?? false, false);
      assert.equal(st.queue[0]!.priority, 4);
      for (const f of srcs) assert.ok(existsSync(f), 'enqueue copies; the source stays');
      const s = state(ws);
      assert.equal(s.applied.length, 11);
      assertInventory(ws);
    } finally {
      await cleanup(ws, daemons);
    }
  });

  it('takes only complete, safe files from the inbox', T, async () => {
    const ws = makeWorkspace({ queue: { intakeStableSeconds: 2 } });
    const daemons: Daemon[] = [];
    try {
      const p = await lq(ws, ['pause']);
      assert.equal(p.code, 0, p.stderr);
      const d = startDaemon(ws);
      daemons.push(d);
      const inbox = join(ws.root, 'inbox');
      drop(ws, 'a.jsonl', GOOD('a1'));
      await waitFor('a.jsonl queued', () => datasets(ws, 'queue').includes('a.jsonl'), 30_000, d.output);
      drop(ws, 'a.jsonl', GOOD('a2'));
      drop(ws, 'we\nird\tname.jsonl', GOOD('weird'));
      drop(ws, 'bad.jsonl', BAD);
      for (const n of ['x.jsonl.part', 'y.tmp', 'z.jsonl~', '.h.jsonl', 'notes.txt']) writeFileSync(join(inbox, n), GOOD(n));
      writeFileSync(join(inbox, '.target.jsonl'), GOOD('target'));
      symlinkSync('.target.jsonl', join(inbox, 'inside.jsonl'));
      ws.inputs.set(sha(GOOD('target')), 'inside.jsonl');
      writeFileSync(join(ws.dir, 'outside.jsonl'), GOOD('outside'));
      symlinkSync(join(ws.dir, 'outside.jsonl'), join(inbox, 'outside.jsonl'));
      // Written in place, slowly: taken only once it stopped changing, and whole.
      const fd = openSync(join(inbox, 'slow.jsonl'), 'w');
      let full = '';
      for (let i = 0; i < 6; i++) {
        const line = GOOD(`slow${i}`);
        writeSync(fd, line);
        full += line;
        await new Promise((res) => setTimeout(res, 200));
        assert.ok(existsSync(join(inbox, 'slow.jsonl')), 'a file still being written is not taken');
      }
      closeSync(fd);
      ws.inputs.set(sha(full), 'slow.jsonl');
      await waitFor('everything taken', () => datasets(ws, 'queue').length === 5 && datasets(ws, 'failed').length === 1, 30_000, d.output);
      assert.deepEqual(datasets(ws, 'queue'), ['a-2.jsonl', 'a.jsonl', 'inside.jsonl', 'slow.jsonl', 'we_ird_name.jsonl']);
      assert.equal(readJson<{ originalName: string }>(join(ws.root, 'queue', 'we_ird_name.jsonl.meta.json')).originalName, 'we\nird\tname.jsonl');
      assert.equal(readJson<{ examples: number }>(join(ws.root, 'queue', 'slow.jsonl.meta.json')).examples, 6);
      assert.equal(sha(readFileSync(join(ws.root, 'queue', 'slow.jsonl'))), sha(full));
      const meta = readJson<Record<string, unknown>>(join(ws.root, 'queue', 'a-2.jsonl.meta.json'));
      for (const k of ['priority', 'attempts', 'added', 'sha256', 'size', 'examples']) assert.ok(k in meta, k);
      assert.equal(meta['sha256'], sha(GOOD('a2')));
      const left = readdirSync(inbox).sort();
      assert.deepEqual(left, ['.h.jsonl', '.target.jsonl', 'notes.txt', 'outside.jsonl', 'x.jsonl.part', 'y.tmp', 'z.jsonl~']);
      assert.match(d.output(), /outside the inbox: not followed/);
      assertInventory(ws, ['outside.jsonl']);
      // Fixed in failed/, then retried: checked again and queued.
      const still = await lq(ws, ['retry', 'bad']);
      assert.equal(still.code, 1);
      assert.match(still.stderr, /still has errors/);
      assert.deepEqual(datasets(ws, 'failed'), ['bad.jsonl']);
      writeFileSync(join(ws.root, 'failed', 'bad.jsonl'), GOOD('fixed'));
      ws.inputs.delete(sha(BAD));
      ws.inputs.set(sha(GOOD('fixed')), 'bad.jsonl (fixed)');
      const fixed = await lq(ws, ['retry', 'bad']);
      assert.equal(fixed.code, 0, fixed.stderr);
      assert.deepEqual(datasets(ws, 'failed'), []);
      assert.ok(datasets(ws, 'queue').includes('bad.jsonl'));
      assertInventory(ws, ['outside.jsonl']);
    } finally {
      await cleanup(ws, daemons);
    }
  });
  it('settles a run whose trainer ended while no engine was running, from its events', T, async () => {
    const ws = makeWorkspace({ env: { TRAINER_DOUBLE_MODE: 'slow', TRAINER_DOUBLE_STEPS: '8', TRAINER_DOUBLE_SLOW_MS: '50', TRAINER_DOUBLE_HOLD_AT: '3' } });
    const daemons: Daemon[] = [];
    try {
      const d1 = startDaemon(ws);
      daemons.push(d1);
      drop(ws, 'gone.jsonl', GOOD('gone'));
      const runId = await waitFor('the run to start', () => runDirs(ws)[0], 30_000, d1.output);
      await waitFor('step 3', () => lastStep(ws, runId) >= 3, 30_000, d1.output);
      d1.child.kill('SIGKILL');
      await d1.exited;
      const pid = doublePid(ws, runId)!;
      writeFileSync(join(ws.root, 'runs', runId, 'release'), '');
      await waitFor('the trainer to finish unwatched', () => !alive(pid), 30_000);
      const d2 = startDaemon(ws);
      daemons.push(d2);
      await waitFor('the run to be settled', () => state(ws).history.length === 1 && !state(ws).current, 30_000, d2.output);
      assert.match(d2.output(), /ended while no engine was watching/);
      assert.equal(state(ws).history[0]!.kind, 'success');
      assert.deepEqual(datasets(ws, 'done'), ['gone.jsonl']);
      assert.deepEqual(runDirs(ws), [runId]);
      assertInventory(ws);
    } finally {
      await cleanup(ws, daemons);
    }
  });

  it('knows how an unwatched trainer ended from its exit record: a SIGKILL nobody sent is "killed"', T, async () => {
    const ws = makeWorkspace({ queue: { maxAttempts: 1 }, env: { TRAINER_DOUBLE_MODE: 'slow', TRAINER_DOUBLE_STEPS: '8', TRAINER_DOUBLE_SLOW_MS: '50', TRAINER_DOUBLE_HOLD_AT: '3' } });
    const daemons: Daemon[] = [];
    try {
      const d1 = startDaemon(ws);
      daemons.push(d1);
      drop(ws, 'oomed.jsonl', GOOD('oomed'));
      const runId = await waitFor('the run to start', () => runDirs(ws)[0], 30_000, d1.output);
      await waitFor('step 3', () => lastStep(ws, runId) >= 3, 30_000, d1.output);
      d1.child.kill('SIGKILL');
      await d1.exited;
      // What the OOM killer does while no engine watches: SIGKILL to the trainer alone.
      const pid = doublePid(ws, runId)!;
      process.kill(pid, 'SIGKILL');
      const exitFile = join(ws.root, 'runs', runId, 'exit.json');
      await waitFor('the exit record', () => existsSync(exitFile), 30_000);
      assert.deepEqual({ ...readJson<Record<string, unknown>>(exitFile), endedAt: undefined }, { code: null, signal: 'SIGKILL', pid, endedAt: undefined });
      const d2 = startDaemon(ws);
      daemons.push(d2);
      await waitFor('the run to be settled', () => state(ws).history.length === 1 && !state(ws).current, 30_000, d2.output);
      assert.equal(state(ws).history[0]!.kind, 'killed');
      assert.deepEqual(datasets(ws, 'failed'), ['oomed.jsonl']);
      const reason = readJson<{ kind: string; message: string; exit: unknown }>(join(ws.root, 'failed', 'oomed.jsonl.reason.json'));
      assert.equal(reason.kind, 'killed');
      assert.match(reason.message, /SIGKILL, which the engine did not send/);
      assert.deepEqual(reason.exit, { code: null, signal: 'SIGKILL' });
      assertInventory(ws);
    } finally {
      await cleanup(ws, daemons);
    }
  });

  it('daemon --stop-trainer stops the trainer with a checkpoint on SIGTERM; the next engine resumes from it', T, async () => {
    const ws = makeWorkspace({ env: { TRAINER_DOUBLE_MODE: 'slow', TRAINER_DOUBLE_STEPS: '10', TRAINER_DOUBLE_SLOW_MS: '50', TRAINER_DOUBLE_HOLD_AT: '4' } });
    const daemons: Daemon[] = [];
    try {
      const d1 = startDaemon(ws, ['--stop-trainer']);
      daemons.push(d1);
      drop(ws, 'shutdown.jsonl', GOOD('shutdown'));
      const first = await waitFor('the run to start', () => runDirs(ws)[0], 30_000, d1.output);
      await waitFor('step 4', () => lastStep(ws, first) >= 4, 30_000, d1.output);
      const pid = doublePid(ws, first)!;
      d1.child.kill('SIGTERM');
      assert.equal(await d1.exited, 0, d1.output());
      assert.equal(alive(pid), false, 'the trainer stopped with the engine');
      assert.equal(state(ws).history[0]?.kind, 'stopped');
      assert.equal(state(ws).paused, false, 'not left paused: the next engine goes on by itself');
      const ck = events(ws, first).filter((e) => e.type === 'checkpoint').pop()!;
      assert.equal(readJson<{ resumeFrom: string }>(join(ws.root, 'queue', 'shutdown.jsonl.meta.json')).resumeFrom, ck['path']);
      const d2 = startDaemon(ws);
      daemons.push(d2);
      await waitFor('the second run to start', () => runDirs(ws).length === 2, 30_000, d2.output);
      const second = runDirs(ws).find((x) => x !== first)!;
      writeFileSync(join(ws.root, 'runs', second, 'release'), '');
      await waitFor('the second run to be settled', () => state(ws).history.length === 2 && !state(ws).current, 60_000, d2.output);
      assert.deepEqual(datasets(ws, 'done'), ['shutdown.jsonl']);
      assert.equal(readJson<{ resume_from: string }>(join(ws.root, 'runs', second, 'job.json')).resume_from, ck['path']);
      assertInventory(ws);
    } finally {
      await cleanup(ws, daemons);
    }
  });

  it('a checkpoint cut short is set aside and the run resumes from the one before it', T, async () => {
    const ws = makeWorkspace({ env: { TRAINER_DOUBLE_MODE: 'slow', TRAINER_DOUBLE_STEPS: '12', TRAINER_DOUBLE_SLOW_MS: '50', TRAINER_DOUBLE_HOLD_AT: '7', TRAINER_DOUBLE_CHECKPOINT_EVERY: '3' } });
    const d = startDaemon(ws);
    try {
      drop(ws, 'torn.jsonl', GOOD('torn'));
      const first = await waitFor('the run to start', () => runDirs(ws)[0], 30_000, d.output);
      await waitFor('step 7', () => lastStep(ws, first) >= 7, 30_000, d.output);
      assert.equal((await lq(ws, ['stop', '--after-step'])).code, 0);
      await waitFor('the run to end stopped', () => state(ws).history[0]?.kind === 'stopped' && !state(ws).current, 30_000, d.output);
      const ck = events(ws, first).filter((e) => e.type === 'checkpoint').map((e) => e['path'] as string);
      assert.deepEqual(ck.map((p) => p.split('/').pop()), ['step-3', 'step-6', 'step-7']);
      // What a power cut after the checkpoint event can leave: the state file empty.
      writeFileSync(join(ck[2]!, 'state.json'), '');
      assert.equal((await lq(ws, ['resume'])).code, 0);
      await waitFor('the second run to start', () => runDirs(ws).length === 2, 30_000, d.output);
      const second = runDirs(ws).find((x) => x !== first)!;
      writeFileSync(join(ws.root, 'runs', second, 'release'), ''); // it passes step 7 again
      await waitFor('the second run to be settled', () => state(ws).history.length === 2 && !state(ws).current, 60_000, d.output);
      assert.equal(readJson<{ resume_from: string }>(join(ws.root, 'runs', second, 'job.json')).resume_from, ck[1]);
      assert.equal(events(ws, second).find((e) => e.type === 'step')!['step'], 7, 'resumed after step 6');
      assert.match(d.output(), /step-7 is not whole \(state\.json is empty\): set aside as step-7\.bad-/);
      assert.ok(readdirSync(join(ws.root, 'runs', first, 'checkpoints')).some((n) => n.startsWith('step-7.bad-')));
      assert.deepEqual(datasets(ws, 'done'), ['torn.jsonl']);
      assertInventory(ws);
    } finally {
      await cleanup(ws, [d]);
    }
  });

  it('stop --after-job lets the run finish, then pauses', T, async () => {
    const ws = makeWorkspace({ env: { TRAINER_DOUBLE_MODE: 'slow', TRAINER_DOUBLE_STEPS: '6', TRAINER_DOUBLE_SLOW_MS: '50', TRAINER_DOUBLE_HOLD_AT: '2' } });
    const d = startDaemon(ws);
    try {
      drop(ws, 'one.jsonl', GOOD('one'));
      const runId = await waitFor('the run to start', () => runDirs(ws)[0], 30_000, d.output);
      await waitFor('step 2', () => lastStep(ws, runId) >= 2, 30_000, d.output);
      drop(ws, 'two.jsonl', GOOD('two'));
      await waitFor('two.jsonl queued', () => datasets(ws, 'queue').includes('two.jsonl'), 30_000, d.output);
      const r = await lq(ws, ['stop', '--after-job']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /pauses when it ends/);
      writeFileSync(join(ws.root, 'runs', runId, 'release'), '');
      await waitFor('the run to be settled', () => state(ws).history.length === 1 && !state(ws).current, 30_000, d.output);
      assert.equal(state(ws).history[0]!.kind, 'success');
      assert.equal(state(ws).paused, true);
      await new Promise((res) => setTimeout(res, 1500));
      assert.deepEqual(runDirs(ws), [runId], 'nothing else starts');
      assert.deepEqual(datasets(ws, 'queue'), ['two.jsonl']);
      const text = await lq(ws, ['status']);
      assert.match(text.stdout, /queue: paused/);
      assert.match(text.stdout, /1\. two\.jsonl/);
      assertInventory(ws);
    } finally {
      await cleanup(ws, [d]);
    }
  });
});
