/**
 * trainer.resident with the REAL reference trainer on the tiny model (CPU): queued datasets train
 * in one loaded trainer process, each run's adapter equal to a cold run of the same job; a resident
 * process killed mid-run costs that run (retried, cold) and nothing more; an engine killed with -9
 * between and during runs leaves the process to the next engine (never a second one); a new base
 * model restarts it; a trainer command without resident support stops the queue with the reason.
 * Skipped, with the reason, where .venv or the tiny model is missing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkAdapter } from '../../server/src/engine/adapterCheck';
import { readResidentRecord, residentProcesses } from '../../server/src/engine/resident';
import { alive, cleanup, datasets, drop, events, lastStep, lq, readJson, removeTempDirs, runDirs, startDaemon, state, tempDir, waitFor, type Daemon, type Workspace, MODEL, PYTHON, realTrainerMissing } from './helpers';

const missing = realTrainerMissing;
after(removeTempDirs);

interface Opts { command?: string[]; model?: string; maxAttempts?: number; maxJobs?: number; hangTimeoutSeconds?: number }

function workspace(opts: Opts = {}): Workspace {
  const dir = tempDir('lq-resident-');
  mkdirSync(dir, { recursive: true });
  const ws: Workspace = { dir, config: join(dir, 'lora-queue.json'), root: join(dir, '.lora-queue'), inputs: new Map() };
  writeConfig(ws, opts);
  return ws;
}

function writeConfig(ws: Workspace, opts: Opts = {}): void {
  const config = {
    baseModel: opts.model ?? MODEL, maxSeqLength: 48,
    trainer: { command: opts.command ?? [PYTHON, '-m', 'lora_queue_trainer'], resident: true, hangTimeoutSeconds: opts.hangTimeoutSeconds ?? 300, stopGraceSeconds: opts.hangTimeoutSeconds ? 5 : 60, ...(opts.maxJobs && { residentMaxJobs: opts.maxJobs }) },
    queue: { maxAttempts: opts.maxAttempts ?? 2, retryBackoffSeconds: 0, intakeStableSeconds: 0 },
    lora: { rank: 4, alpha: 8, dropout: 0.1 },
    training: { epochs: 1, batchSize: 2, gradientAccumulation: 1, learningRate: 0.002, warmupSteps: 0, checkpointEverySteps: 1000, bf16: false },
    disk: { minFreeGiB: 0, resumeFreeGiB: 0, minFreeInodes: 0 },
  };
  writeFileSync(ws.config, JSON.stringify(config, null, 2) + '\n');
}

function chats(tag: string, n: number): string {
  return Array.from({ length: n }, (_, i) => JSON.stringify({ messages: [{ role: 'user', content: `${tag}: what is ${i} plus ${i}?` }, { role: 'assistant', content: `${i} plus ${i} is ${2 * i}.` }] })).join('\n') + '\n';
}

function engineLog(ws: Workspace): string {
  const dir = join(ws.root, 'logs');
  return readdirSync(dir).sort().map((f) => readFileSync(join(dir, f), 'utf8')).join('');
}

function settledRuns(ws: Workspace, n: number): () => boolean {
  return () => state(ws).history.length >= n && !state(ws).current;
}

/** The run's job again, as a cold trainer process of its own, into another folder; returns the adapter folder. */
function coldRun(ws: Workspace, runId: string): string {
  const job = readJson<Record<string, unknown>>(join(ws.root, 'runs', runId, 'job.json'));
  const out = join(ws.dir, 'cold', runId);
  mkdirSync(out, { recursive: true });
  // The dataset has moved on to done/ since.
  const dataset = join(ws.root, 'done', basename(job['dataset'] as string));
  writeFileSync(join(out, 'job.json'), JSON.stringify({ ...job, dataset, output_dir: join(out, 'adapter'), events: join(out, 'events.jsonl') }));
  const r = spawnSync(PYTHON, ['-m', 'lora_queue_trainer', '--job', join(out, 'job.json')], { cwd: ws.root, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `${r.stderr}\n${r.stdout}`);
  return join(out, 'adapter');
}

/** The largest difference between two adapters' tensors (the same tensor names required). */
function adapterDiff(a: string, b: string): number {
  const code = 'import sys\nfrom safetensors.torch import load_file\na,b=(load_file(p+"/adapter_model.safetensors") for p in sys.argv[1:3])\nassert a.keys()==b.keys(), (sorted(a), sorted(b))\nprint(max(float((a[k].float()-b[k].float()).abs().max()) for k in a))';
  const r = spawnSync(PYTHON, ['-c', code, a, b], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout.trim());
}

const T = { timeout: 600_000 };

describe('trainer.resident with the real trainer on the tiny model', { skip: missing }, () => {
  it('four queued datasets: four runs in one trainer process, four verified snapshots, each adapter equal to a cold run of its job; status says warm', T, async () => {
    const ws = workspace();
    const d = startDaemon(ws);
    try {
      for (const name of ['a', 'b', 'c', 'd']) drop(ws, `${name}.jsonl`, chats(name, 6));
      await waitFor('four settled runs', settledRuns(ws, 4), 400_000, d.output);
      const h = state(ws).history;
      assert.deepEqual(h.map((r) => r.kind), ['success', 'success', 'success', 'success'], JSON.stringify(h));
      assert.deepEqual(datasets(ws, 'done'), ['a.jsonl', 'b.jsonl', 'c.jsonl', 'd.jsonl']);
      const rec = readResidentRecord(ws.root)!;
      assert.ok(rec && alive(rec.pid), 'the resident trainer is alive after the runs');
      const runs = h.map((r) => r.runId);
      for (const [i, id] of runs.entries()) {
        // Each run's own trainer.log, written by the one resident process.
        assert.match(readFileSync(join(ws.root, 'runs', id, 'trainer.log'), 'utf8'), new RegExp(`resident trainer pid ${rec.pid}: job ${i + 1} `));
        const start = events(ws, id).find((e) => e.type === 'start')!;
        assert.equal(start['warm'], i > 0, `run ${i + 1}: the model was ${i > 0 ? 'already' : 'not yet'} loaded`);
        // The verified snapshot of each run fits the model.
        const report = checkAdapter(join(ws.root, 'snapshots', id), MODEL);
        assert.ok(report.ok, JSON.stringify(report.problems));
      }
      assert.equal(readJson<{ loads: number; jobs: number }>(join(ws.root, 'resident', 'stats.json')).loads, 1, 'the base model loaded once');
      // The ledger: the load is in the first run's time only; the others say they started warm.
      const ledger = readFileSync(join(ws.root, 'ledger.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { runId: string; warm?: boolean });
      assert.deepEqual(ledger.map((l) => [l.runId, l.warm]), runs.map((id, i) => [id, i > 0]));
      assert.deepEqual(residentProcesses(ws.root).map((p) => p.pid), [rec.pid], 'one resident process');
      const st = JSON.parse((await lq(ws, ['status', '--format', 'json'])).stdout) as { resident: { pid: number; warm: boolean; runs: number } };
      assert.deepEqual([st.resident.pid, st.resident.warm, st.resident.runs], [rec.pid, true, 4]);
      assert.match((await lq(ws, ['status'])).stdout, new RegExp(`trainer: warm — resident pid ${rec.pid}`));
      // Each run's adapter equals a cold run of the same job.json (each continued the previous snapshot).
      for (const id of runs) {
        const diff = adapterDiff(join(ws.root, 'runs', id, 'adapter'), coldRun(ws, id));
        assert.ok(diff < 1e-5, `run ${id}: resident and cold adapters differ by ${diff}`);
      }
    } finally {
      await cleanup(ws, [d]);
      const rec = readResidentRecord(ws.root);
      if (rec && alive(rec.pid)) process.kill(rec.pid, 'SIGKILL');
    }
  });

  it('kill -9 of the resident trainer mid-run: that dataset is retried cold and the queue goes on; kill -9 of the engine between and during runs: adopted, never a second process; a new baseModel restarts it', T, async () => {
    const ws = workspace();
    const daemons: Daemon[] = [];
    const start = (): Daemon => {
      const d = startDaemon(ws);
      daemons.push(d);
      return d;
    };
    try {
      let d = start();
      drop(ws, 'long.jsonl', chats('long', 60));
      const first = await waitFor('the first run to train', () => runDirs(ws)[0], 60_000, d.output);
      await waitFor('step 2', () => lastStep(ws, first) >= 2, 180_000, d.output);
      const killed = readResidentRecord(ws.root)!.pid;
      process.kill(killed, 'SIGKILL');
      await waitFor('the retry to succeed', settledRuns(ws, 2), 300_000, d.output);
      let h = state(ws).history;
      assert.deepEqual(h.map((r) => [r.dataset, r.kind]), [['long.jsonl', 'crash'], ['long.jsonl', 'success']], JSON.stringify(h));
      assert.match(readFileSync(join(ws.root, 'runs', first, 'trainer.log'), 'utf8'), new RegExp(`resident trainer \\(pid ${killed}\\) ended before it finished the job`));
      const second = readResidentRecord(ws.root)!.pid;
      assert.notEqual(second, killed);
      assert.equal(events(ws, h[1]!.runId).find((e) => e.type === 'start')!['warm'], false, 'the retry started cold');

      // The engine killed between runs: the next engine adopts the idle process and trains on it.
      d.child.kill('SIGKILL');
      await d.exited;
      assert.ok(alive(second), 'the resident trainer outlives the engine');
      d = start();
      drop(ws, 'b.jsonl', chats('b', 30));
      await waitFor('the run of b to train', () => runDirs(ws).length === 3 && lastStep(ws, runDirs(ws)[2]!) >= 1, 120_000, d.output);
      assert.match(engineLog(ws), new RegExp(`adopted the resident trainer pid ${second}`));
      // ...and killed during that run: the next engine adopts both the run and the process.
      d.child.kill('SIGKILL');
      await d.exited;
      d = start();
      await waitFor('b to succeed', settledRuns(ws, 3), 300_000, d.output);
      h = state(ws).history;
      assert.equal(h[2]!.kind, 'success', JSON.stringify(h));
      assert.equal(events(ws, h[2]!.runId).find((e) => e.type === 'start')!['warm'], true);
      assert.deepEqual(residentProcesses(ws.root).map((p) => p.pid), [second], 'one resident process, the same one');

      // A config edit of baseModel (the same weights under another path): restarted, and the run is cold.
      const other = join(ws.dir, 'model-2');
      symlinkSync(MODEL, other);
      writeConfig(ws, { model: other });
      await waitFor('the engine to reload its config', () => /configuration reloaded/.test(engineLog(ws)), 30_000, d.output);
      drop(ws, 'c.jsonl', chats('c', 4));
      await waitFor('c to succeed', settledRuns(ws, 4), 300_000, d.output);
      assert.equal(state(ws).history[3]!.kind, 'success');
      assert.match(engineLog(ws), new RegExp(`resident trainer pid ${second} killed: the base model changed \\(${MODEL} → ${other}\\)`));
      const third = readResidentRecord(ws.root)!.pid;
      assert.notEqual(third, second);
      assert.equal(alive(second), false);
      assert.deepEqual(residentProcesses(ws.root).map((p) => p.pid), [third]);

      // stop --now acts on the job: it checkpoints and ends stopped; the process stays, and the resumed run is warm.
      drop(ws, 'long2.jsonl', chats('long2', 60));
      const fifth = await waitFor('the fifth run to train', () => runDirs(ws).length === 5 && lastStep(ws, runDirs(ws)[4]!) >= 2 && runDirs(ws)[4], 120_000, d.output);
      assert.equal((await lq(ws, ['stop', '--now'])).code, 0);
      await waitFor('the run to end stopped', settledRuns(ws, 5), 120_000, d.output);
      assert.equal(state(ws).history[4]!.kind, 'stopped');
      assert.equal(events(ws, fifth).find((e) => e.type === 'done')!['stopped'], true);
      assert.ok(alive(third), 'the resident trainer waits for the next job after a stop');
      assert.equal((await lq(ws, ['resume'])).code, 0);
      await waitFor('long2 to succeed', settledRuns(ws, 6), 300_000, d.output);
      const last = state(ws).history[5]!;
      assert.equal(last.kind, 'success');
      assert.equal(events(ws, last.runId).find((e) => e.type === 'start')!['warm'], true);
      assert.ok(readJson<{ resume_from: string | null }>(join(ws.root, 'runs', last.runId, 'job.json')).resume_from, 'resumed from the stop\'s checkpoint');
      assert.deepEqual(residentProcesses(ws.root).map((p) => p.pid), [third]);
    } finally {
      await cleanup(ws, daemons);
      for (const p of residentProcesses(ws.root)) process.kill(p.pid, 'SIGKILL');
    }
  });

  it('a resident trainer that hangs mid-run (SIGSTOP): the hang kill takes the process too, the dataset is retried cold', T, async () => {
    const ws = workspace({ hangTimeoutSeconds: 10 });
    const d = startDaemon(ws);
    try {
      drop(ws, 'long.jsonl', chats('long', 60));
      const first = await waitFor('the run to train', () => runDirs(ws)[0], 60_000, d.output);
      await waitFor('step 2', () => lastStep(ws, first) >= 2, 180_000, d.output);
      const hung = readResidentRecord(ws.root)!.pid;
      process.kill(hung, 'SIGSTOP');
      await waitFor('the retry to succeed', settledRuns(ws, 2), 300_000, d.output);
      const h = state(ws).history;
      assert.deepEqual(h.map((r) => r.kind), ['hang', 'success'], JSON.stringify(h));
      assert.match(engineLog(ws), new RegExp(`resident trainer pid ${hung} killed: run ${first} hung`));
      assert.equal(alive(hung), false);
      assert.equal(events(ws, h[1]!.runId).find((e) => e.type === 'start')!['warm'], false, 'the retry started cold');
      assert.deepEqual(residentProcesses(ws.root).map((p) => p.pid), [readResidentRecord(ws.root)!.pid]);
    } finally {
      await cleanup(ws, [d]);
      for (const p of residentProcesses(ws.root)) process.kill(p.pid, 'SIGKILL');
    }
  });

  it('recycled between runs after trainer.residentMaxJobs runs and when its RSS has grown, with the reason in the log', T, async () => {
    const ws = workspace({ maxJobs: 2 });
    const d = startDaemon(ws);
    try {
      for (const name of ['a', 'b', 'c']) drop(ws, `${name}.jsonl`, chats(name, 2));
      await waitFor('three settled runs', settledRuns(ws, 3), 300_000, d.output);
      const h = state(ws).history;
      assert.deepEqual(h.map((r) => r.kind), ['success', 'success', 'success']);
      assert.deepEqual(h.map((r) => events(ws, r.runId).find((e) => e.type === 'start')!['warm']), [false, true, false]);
      const m = /resident trainer pid (\d+) killed: recycled: 2 runs served \(trainer.residentMaxJobs 2\)/.exec(engineLog(ws));
      assert.ok(m, engineLog(ws));
      assert.equal(alive(Number(m[1])), false);
      assert.deepEqual(residentProcesses(ws.root).map((p) => p.pid), [readResidentRecord(ws.root)!.pid]);
      assert.notEqual(readResidentRecord(ws.root)!.pid, Number(m[1]));

      // Memory: the trainer's stats.json rewritten here to say the process held 1 MiB after its first
      // run, so its real RSS now (read from /proc) is past trainer.residentMemoryGrowth (1.5) times that.
      const third = readResidentRecord(ws.root)!.pid;
      const statsFile = join(ws.root, 'resident', 'stats.json');
      await waitFor('the trainer\'s stats after run 3', () => readJson<{ pid: number; jobs: number }>(statsFile).pid === third && readJson<{ jobs: number }>(statsFile).jobs === 1, 60_000, d.output);
      writeFileSync(statsFile, JSON.stringify({ ...readJson(statsFile), first_rss_bytes: 2 ** 20 }));
      drop(ws, 'd.jsonl', chats('d', 2));
      await waitFor('four settled runs', settledRuns(ws, 4), 300_000, d.output);
      assert.equal(state(ws).history[3]!.kind, 'success');
      assert.match(engineLog(ws), new RegExp(`resident trainer pid ${third} killed: recycled: its RSS grew to \\d+ MiB, past 1.5 × the 1 MiB after its first run \\(trainer.residentMemoryGrowth\\)`));
      assert.equal(alive(third), false);
      assert.equal(events(ws, state(ws).history[3]!.runId).find((e) => e.type === 'start')!['warm'], false);
    } finally {
      await cleanup(ws, [d]);
      for (const p of residentProcesses(ws.root)) process.kill(p.pid, 'SIGKILL');
    }
  });

  it('a trainer command without resident support: the queue pauses with the reason, the dataset waits, no attempt used', T, async () => {
    // A user's own script: it knows nothing of --resident and exits with a usage error.
    const ws = workspace({ command: [PYTHON, '-c', 'import sys; print("usage: train.py --job JOB", file=sys.stderr); sys.exit(2)'] });
    const d = startDaemon(ws);
    try {
      drop(ws, 'a.jsonl', chats('a', 2));
      await waitFor('the queue to pause', () => state(ws).paused && !state(ws).current, 60_000, d.output);
      const h = state(ws).history;
      assert.equal(h.length, 1);
      assert.equal(h[0]!.kind, 'config');
      assert.match((h[0] as unknown as { message: string }).message, /trainer\.command does not support trainer\.resident/);
      assert.deepEqual(datasets(ws, 'queue'), ['a.jsonl']);
      assert.match(readFileSync(join(ws.root, 'resident', 'trainer.log'), 'utf8'), /usage: train\.py --job JOB/);
    } finally {
      await cleanup(ws, [d]);
    }
  });
});
