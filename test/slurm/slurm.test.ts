/**
 * The Slurm executor on a real one-node Slurm cluster on localhost (cluster.ts: Debian's 22.05,
 * slurmctld + slurmd + munged, no systemd), with the engine as a subprocess (`lora-queue daemon`),
 * the trainer test double at the process boundary and once the real trainer on the tiny model.
 * The scenarios of issue #13 run concurrently, each on its own queue root, on the one cluster (the
 * node has 16 CPUs configured); the TIMEOUT one alone takes about 1.5 min (Slurm's time limit is in
 * minutes). Run with LQ_SLURM=1 as root after scripts/setup-slurm.sh (scripts/test.sh does both);
 * where the cluster cannot come up it fails under CI=true and is skipped with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertInventory, cleanup, datasets, drop, events, GOOD, lastStep, lq, readJson, removeTempDirs, runDirs, startDaemon, state, tempDir, waitFor, makeWorkspace, MODEL, PYTHON, type Daemon, type Workspace } from '../engine/helpers';
import { startCluster, whyNoCluster, type Cluster } from './cluster';

const ENABLED = process.env['LQ_SLURM'] === '1';
const CI = process.env['CI'] === 'true';
const why = whyNoCluster();
const skip = !ENABLED ? 'the Slurm suite runs with LQ_SLURM=1 (scripts/test.sh runs it as its own step)' : why && !CI ? `no Slurm here: ${why}` : false;

let cluster: Cluster | undefined;

function slurm(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { env: cluster!.env, encoding: 'utf8', timeout: 20_000 });
}

/** A workspace of the engine tests with the Slurm executor (pollSeconds 1). */
function slurmWs(o: { env?: Record<string, string>; executor?: Record<string, unknown>; queue?: Record<string, unknown>; trainer?: Record<string, unknown> } = {}): Workspace {
  const ws = makeWorkspace({ env: { TRAINER_DOUBLE_STEP_MS: '40', ...o.env }, queue: o.queue ?? {}, trainer: { hangTimeoutSeconds: 240, ...o.trainer } });
  const cfg = readJson<Record<string, unknown>>(ws.config);
  writeFileSync(ws.config, JSON.stringify({ ...cfg, executor: { kind: 'slurm', pollSeconds: 1, ...o.executor } }, null, 2) + '\n');
  return ws;
}

function slurmRecord(ws: Workspace, runId: string): { jobId: string | null; jobName: string } {
  return readJson(join(ws.root, 'runs', runId, 'slurm.json'));
}

/** Every job Slurm knows by the run's name (any state): one run, one job. */
function jobsNamed(name: string): string[] {
  return slurm('squeue', ['-h', '-t', 'all', '-n', name, '-o', '%i|%T']).split('\n').filter(Boolean);
}

function jobState(id: string): string {
  return /JobState=(\S+)/.exec(slurm('scontrol', ['-o', 'show', 'job', id]))?.[1] ?? '?';
}

/** The dataset is in `folder` and the run that put it there is settled in state.json. */
function settledIn(ws: Workspace, folder: string, runs: number): boolean {
  const st = state(ws);
  return datasets(ws, folder).length === 1 && !st.current && st.history.length >= runs;
}

async function statusJson(ws: Workspace): Promise<{ paused: boolean; pauseReason: string | null; current: { runId: string; waiting: { state: string; reason: string | null; jobId: string | null } | null; slurm: { jobId: string | null; state: string | null } | null } | null }> {
  const r = await lq(ws, ['status', '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

async function waitAsync<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs: number, diag?: () => string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}${diag ? `\n${diag()}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const daemons: Daemon[] = [];
const spaces: Workspace[] = [];
function daemon(ws: Workspace): Daemon {
  const d = startDaemon(ws);
  daemons.push(d);
  if (!spaces.includes(ws)) spaces.push(ws);
  return d;
}

describe('the Slurm executor on a one-node Slurm cluster', { skip, concurrency: true, timeout: 600_000 }, () => {
  before(() => {
    if (why) assert.fail(`the Slurm suite cannot run under CI=true: ${why}`);
    cluster = startCluster(tempDir('lq-slurm-'), { cpus: 16, port: 17000 + (process.pid % 400) * 2 });
    // The engines (daemons) and the CLI find the cluster through SLURM_CONF.
    process.env['SLURM_CONF'] = cluster.conf;
    process.stdout.write(`# Slurm test cluster: ${cluster.version}, ${cluster.conf}\n`);
  });
  after(async () => {
    for (const ws of spaces) await cleanup(ws, daemons);
    cluster?.stop();
    removeTempDirs();
  });

  it('success: one job, SLURM_* reach the trainer, output in trainer.log, a snapshot, a ledger line', async () => {
    const ws = slurmWs();
    const d = daemon(ws);
    drop(ws, 'ok.jsonl', GOOD(1));
    await waitFor('ok.jsonl in done/, settled', () => settledIn(ws, 'done', 1), 120_000, d.output);
    const [run] = runDirs(ws);
    const rec = slurmRecord(ws, run!);
    assert.ok(rec.jobId && /^\d+$/.test(rec.jobId), JSON.stringify(rec));
    assert.equal(rec.jobName, `lq-${run}`);
    assert.equal(jobState(rec.jobId), 'COMPLETED');
    assert.equal(readJson<{ slurmJobId: string }>(join(ws.root, 'runs', run!, 'double.json')).slurmJobId, rec.jobId);
    assert.equal(readJson<{ cwd: string }>(join(ws.root, 'runs', run!, 'double.json')).cwd, ws.root);
    assert.match(readFileSync(join(ws.root, 'runs', run!, 'trainer.log'), 'utf8'), /trainer-double: mode success/);
    const h = state(ws).history;
    assert.equal(h[0]!.kind, 'success');
    assert.equal(readJson<{ snapshot: string }>(join(ws.root, 'current.json')).snapshot !== undefined, true);
    const ledger = readFileSync(join(ws.root, 'ledger.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { runId: string; outcome: string; gpus: number });
    assert.deepEqual(ledger.map((l) => [l.runId, l.outcome, l.gpus]), [[run, 'success', 0]]);
    assert.deepEqual(jobsNamed(`lq-${run}`).length, 1);
    assertInventory(ws);
  });

  it('exit 3: FAILED, retried, then failed/ with the exit code and the log tail', async () => {
    const ws = slurmWs({ queue: { maxAttempts: 2 } });
    const d = daemon(ws);
    drop(ws, 'bad__crash.jsonl', GOOD(2));
    await waitFor('bad__crash.jsonl in failed/, settled', () => settledIn(ws, 'failed', 2), 120_000, d.output);
    const reason = readJson<{ kind: string; message: string; attempts: number; lastLogLines: string[] }>(join(ws.root, 'failed', 'bad__crash.jsonl.reason.json'));
    assert.equal(reason.kind, 'crash');
    assert.match(reason.message, /^Slurm job \d+ FAILED on localhost: the trainer exited with code 3/);
    assert.equal(reason.attempts, 2);
    assert.ok(reason.lastLogLines.some((l) => /double crashed on purpose/.test(l)), reason.lastLogLines.join('\n'));
    assert.deepEqual(state(ws).history.map((x) => x.kind), ['crash', 'crash']);
    for (const r of runDirs(ws)) assert.equal(jobState(slurmRecord(ws, r).jobId!), 'FAILED');
    assertInventory(ws);
  });

  it('stop --now: the trainer gets SIGTERM through scancel and checkpoints; resume continues from that checkpoint', async () => {
    const ws = slurmWs({ env: { TRAINER_DOUBLE_HOLD_AT: '7' } });
    const d = daemon(ws);
    drop(ws, 'stop.jsonl', GOOD(3));
    const first = await waitFor('the first run', () => runDirs(ws)[0], 60_000, d.output);
    await waitFor('step 7', () => lastStep(ws, first) >= 7, 120_000, d.output);
    const r = await lq(ws, ['stop', '--now']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout + r.stderr, /SIGTERM sent to Slurm job \d+|sent to the owner/);
    await waitFor('the run to end stopped', () => state(ws).history[0]?.kind === 'stopped' && !state(ws).current, 60_000, d.output);
    assert.equal(state(ws).paused, true);
    const ck = events(ws, first).filter((e) => e.type === 'checkpoint').pop()!;
    assert.equal(ck['step'], 7);
    assert.deepEqual(datasets(ws, 'queue'), ['stop.jsonl']);
    assert.equal((await lq(ws, ['resume'])).code, 0);
    await waitFor('stop.jsonl in done/, settled', () => settledIn(ws, 'done', 1), 120_000, d.output);
    const second = runDirs(ws).find((x) => x !== first)!;
    // The second run releases itself at step 7 only if it resumed before it: it resumes from 7.
    assert.equal(events(ws, second).find((e) => e.type === 'start')!['resumed_from_step'], 7);
    assert.equal(readJson<{ resume_from: string }>(join(ws.root, 'runs', second, 'job.json')).resume_from, ck['path']);
    assertInventory(ws);
  });

  it('kill -9 of the engine while the job RUNS: the next engine adopts it by its id, no second submission', async () => {
    const ws = slurmWs({ env: { TRAINER_DOUBLE_HOLD_AT: '3' } });
    const d1 = daemon(ws);
    drop(ws, 'adopt.jsonl', GOOD(4));
    const run = await waitFor('the run', () => runDirs(ws)[0], 60_000, d1.output);
    await waitFor('step 3', () => lastStep(ws, run) >= 3, 120_000, d1.output);
    d1.child.kill('SIGKILL');
    await d1.exited;
    const d2 = daemon(ws);
    await waitFor('the adoption', () => /adopted Slurm job \d+ of run/.test(d2.output()), 60_000, d2.output);
    writeFileSync(join(ws.root, 'runs', run, 'release'), '');
    await waitFor('adopt.jsonl in done/, settled', () => settledIn(ws, 'done', 1), 120_000, d2.output);
    assert.deepEqual(runDirs(ws), [run]);
    assert.equal(jobsNamed(`lq-${run}`).length, 1);
    assert.equal(state(ws).history[0]!.kind, 'success');
    assertInventory(ws);
  });

  it('kill -9 of the engine while the job is PENDING, state.json lost: status shows Slurm\'s reason; the next engine adopts it from runs/; no hang while pending; one job', async () => {
    // Another job holds the cluster's one lqtoken license: ours waits (PENDING, reason Licenses).
    const blocker = slurm('sbatch', ['--parsable', '--job-name=lq-test-blocker', '--licenses=lqtoken:1', '--output=/dev/null', '--wrap', 'sleep 600']).trim();
    try {
      await waitFor('the blocker to run', () => jobState(blocker) === 'RUNNING', 60_000);
      // A hang timeout shorter than the wait: the hang timer must not run while Slurm holds the job.
      const ws = slurmWs({ executor: { sbatchArgs: ['--licenses=lqtoken:1'] }, trainer: { hangTimeoutSeconds: 10, stopGraceSeconds: 2 } });
      const d1 = daemon(ws);
      drop(ws, 'pending.jsonl', GOOD(5));
      const st = await waitAsync('status to show the job PENDING', async () => {
        const s = await statusJson(ws);
        return s.current?.waiting?.state === 'PENDING' && s.current.waiting.reason ? s : undefined;
      }, 60_000, d1.output);
      // Slurm 22.05 says Resources (later Licenses) for a job that waits for a license: whatever it says is shown.
      const reason = st.current!.waiting!.reason!;
      assert.match(reason, /^(Resources|Licenses)$/);
      const text = await lq(ws, ['status']);
      assert.match(text.stdout, /waiting: pending\.jsonl — run \S+, attempt 1: Slurm job \d+ PENDING \((Resources|Licenses)\)/);
      d1.child.kill('SIGKILL');
      await d1.exited;
      // The cache is gone too: runs/<id>/slurm.json is the record the next engine follows.
      rmSync(join(ws.root, 'state.json'));
      const d2 = daemon(ws);
      await waitFor('the adoption', () => /adopted Slurm job \d+ of run \S+ \(pending\.jsonl\) from runs\//.test(d2.output()), 60_000, d2.output);
      // Pending for longer than hangTimeoutSeconds (10 s) before the job may start.
      await new Promise((r) => setTimeout(r, 12_000));
      assert.equal((await statusJson(ws)).current?.waiting?.state, 'PENDING');
      slurm('scancel', [blocker]);
      await waitFor('pending.jsonl in done/, settled', () => settledIn(ws, 'done', 1), 120_000, d2.output);
      const runs = runDirs(ws);
      assert.equal(runs.length, 1);
      assert.equal(state(ws).history[0]!.kind, 'success');
      assert.equal(jobsNamed(`lq-${runs[0]}`).length, 1);
      assertInventory(ws);
    } finally {
      try { slurm('scancel', [blocker]); } catch { /* ended */ }
    }
  });

  it('a crash between sbatch and recording the job id: the next engine finds the job by its name; stop --after-step reaches it', async () => {
    const ws = slurmWs({ env: { TRAINER_DOUBLE_HOLD_AT: '4' } });
    const d1 = daemon(ws);
    drop(ws, 'lost.jsonl', GOOD(10));
    const run = await waitFor('the run', () => runDirs(ws)[0], 60_000, d1.output);
    await waitFor('step 4', () => lastStep(ws, run) >= 4, 120_000, d1.output);
    d1.child.kill('SIGKILL');
    await d1.exited;
    // What a crash right after sbatch leaves: the job name recorded (written before sbatch), its id nowhere.
    const jobId = slurmRecord(ws, run).jobId!;
    const file = join(ws.root, 'runs', run, 'slurm.json');
    writeFileSync(file, JSON.stringify({ ...readJson(file), jobId: null, state: null }) + '\n');
    const st = readJson<{ current: { slurm: Record<string, unknown> } }>(join(ws.root, 'state.json'));
    writeFileSync(join(ws.root, 'state.json'), JSON.stringify({ ...st, current: { ...st.current, slurm: { ...st.current.slurm, jobId: null, state: null } } }));
    const d2 = daemon(ws);
    await waitFor('the job found by its name', () => new RegExp(`found job ${jobId} by its name lq-${run}`).test(d2.output()), 60_000, d2.output);
    assert.equal(slurmRecord(ws, run).jobId, jobId, 'the id is recorded again');
    const r = await lq(ws, ['stop', '--after-step']);
    assert.equal(r.code, 0, r.stderr);
    await waitFor('the run to end stopped', () => state(ws).history[0]?.kind === 'stopped' && !state(ws).current, 60_000, d2.output);
    assert.match(readFileSync(join(ws.root, 'runs', run, 'trainer.log'), 'utf8'), /stopped by SIGUSR1 at step 4/);
    assert.equal((await lq(ws, ['resume'])).code, 0);
    await waitFor('lost.jsonl in done/, settled', () => settledIn(ws, 'done', 2), 120_000, d2.output);
    assert.equal(jobsNamed(`lq-${run}`).length, 1);
    assertInventory(ws);
  });

  it('stop --now with no engine running: the CLI signals the job through scancel itself; the next engine settles it as stopped', async () => {
    const ws = slurmWs({ env: { TRAINER_DOUBLE_HOLD_AT: '4' } });
    const d1 = daemon(ws);
    drop(ws, 'cli.jsonl', GOOD(11));
    const run = await waitFor('the run', () => runDirs(ws)[0], 60_000, d1.output);
    await waitFor('step 4', () => lastStep(ws, run) >= 4, 120_000, d1.output);
    // The daemon exits on SIGTERM leaving the job running (to be adopted).
    d1.child.kill('SIGTERM');
    await d1.exited;
    const jobId = slurmRecord(ws, run).jobId!;
    // The daemon's last word may predate the job's start (it asks Slurm every pollSeconds): a stale
    // PENDING must not turn a graceful stop into a cancel of a running job.
    const st = readJson<{ current: { slurm: Record<string, unknown> } }>(join(ws.root, 'state.json'));
    writeFileSync(join(ws.root, 'state.json'), JSON.stringify({ ...st, current: { ...st.current, slurm: { ...st.current.slurm, state: 'PENDING', reason: 'Priority' } } }));
    const r = await lq(ws, ['stop', '--now']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`SIGTERM sent to Slurm job ${jobId}`));
    // The trainer got SIGTERM from the CLI's scancel: it checkpoints and ends; Slurm says COMPLETED.
    await waitFor('the job to end', () => jobState(jobId) === 'COMPLETED', 60_000);
    assert.match(readFileSync(join(ws.root, 'runs', run, 'trainer.log'), 'utf8'), /stopped by SIGTERM at step 4/);
    const d2 = daemon(ws);
    await waitFor('the run settled as stopped', () => state(ws).history[0]?.kind === 'stopped' && !state(ws).current, 60_000, d2.output);
    assert.deepEqual(datasets(ws, 'queue'), ['cli.jsonl']);
    assertInventory(ws);
  });

  it('a hung trainer in a running job: no event for hangTimeoutSeconds, the engine cancels the job; hang, not killed', async () => {
    const ws = slurmWs({ trainer: { hangTimeoutSeconds: 10, stopGraceSeconds: 2 }, queue: { maxAttempts: 1 } });
    const d = daemon(ws);
    drop(ws, 'stuck__hang.jsonl', GOOD(12));
    await waitFor('stuck__hang.jsonl in failed/, settled', () => settledIn(ws, 'failed', 1), 120_000, d.output);
    const reason = readJson<{ kind: string; message: string }>(join(ws.root, 'failed', 'stuck__hang.jsonl.reason.json'));
    assert.equal(reason.kind, 'hang', reason.message);
    assert.match(reason.message, /^Slurm job \d+ CANCELLED .*no event for 10 s/);
    assert.equal(jobState(slurmRecord(ws, runDirs(ws)[0]!).jobId!), 'CANCELLED');
    assert.match(d.output(), /no event from Slurm job \d+ for 10 s: hung; the job is cancelled \(scancel\)/);
    assertInventory(ws);
  });

  it('an scancel from outside the engine is not a success: killed, the reason says so, and the next attempt resumes', async () => {
    const ws = slurmWs({ env: { TRAINER_DOUBLE_HOLD_AT: '6' }, queue: { maxAttempts: 2 } });
    const d = daemon(ws);
    drop(ws, 'outside.jsonl', GOOD(6));
    const first = await waitFor('the run', () => runDirs(ws)[0], 60_000, d.output);
    await waitFor('step 6', () => lastStep(ws, first) >= 6, 120_000, d.output);
    slurm('scancel', [slurmRecord(ws, first).jobId!]);
    await waitFor('the run to be settled', () => state(ws).history.length === 1, 60_000, d.output);
    const h = state(ws).history[0]! as { kind: string; message?: string };
    assert.equal(h.kind, 'killed');
    assert.match(String((state(ws).history[0] as unknown as { message: string }).message), /Slurm job \d+ CANCELLED .*cancelled by someone other than this engine/);
    const second = await waitFor('the second run', () => runDirs(ws).find((x) => x !== first), 60_000, d.output);
    writeFileSync(join(ws.root, 'runs', second, 'release'), '');
    await waitFor('outside.jsonl in done/, settled', () => settledIn(ws, 'done', 1), 120_000, d.output);
    assert.equal(events(ws, second).find((e) => e.type === 'start')!['resumed_from_step'], 6);
    assertInventory(ws);
  });

  it('a job over its --time: TIMEOUT after the SIGUSR2 warning checkpoint, resumed from it without using an attempt', async () => {
    // The double checkpoints on SIGUSR2 and ignores the time limit's SIGTERM: only the warning's checkpoint exists.
    const ws = slurmWs({ executor: { sbatchArgs: ['--time=1'], warningSeconds: 50 }, queue: { maxAttempts: 1 } });
    const d = daemon(ws);
    drop(ws, 'long__outlast.jsonl', GOOD(7));
    const first = await waitFor('the run', () => runDirs(ws)[0], 60_000, d.output);
    await waitFor('the first run to be settled', () => state(ws).history.length === 1, 240_000, d.output);
    const h = state(ws).history[0] as unknown as { kind: string; message: string };
    assert.equal(h.kind, 'timeout', h.message);
    assert.match(h.message, /Slurm job \d+ TIMEOUT .*resumes from checkpoint .*step-3/);
    assert.match(readFileSync(join(ws.root, 'runs', first, 'trainer.log'), 'utf8'), /checkpoint at step 3 \(SIGUSR2\)/);
    await waitFor('long__outlast.jsonl in done/, settled', () => settledIn(ws, 'done', 1), 120_000, d.output);
    const second = runDirs(ws).find((x) => x !== first)!;
    assert.equal(events(ws, second).find((e) => e.type === 'start')!['resumed_from_step'], 3);
    // maxAttempts 1 and still done: the timeout used no attempt.
    assert.equal(readJson<{ attempts: number }>(join(ws.root, 'done', 'long__outlast.jsonl.meta.json')).attempts, 0);
    assertInventory(ws);
  });

  it('sbatch refuses the job (Invalid partition): the queue pauses with Slurm\'s words, the dataset waits, no attempt used', async () => {
    const ws = slurmWs({ executor: { partition: 'nope' } });
    const d = daemon(ws);
    drop(ws, 'part.jsonl', GOOD(8));
    const s = await waitAsync('the pause', async () => { const x = await statusJson(ws); return x.paused && !x.current ? x : undefined; }, 60_000, d.output);
    assert.match(s.pauseReason!, /the Slurm job could not be submitted: sbatch exited with code 1: .*Invalid partition name specified/);
    assert.deepEqual(datasets(ws, 'queue'), ['part.jsonl']);
    assert.equal(readJson<{ attempts: number }>(join(ws.root, 'queue', 'part.jsonl.meta.json')).attempts, 0);
    assertInventory(ws);
  });

  it('Slurm\'s commands missing: the queue pauses saying so, nothing lost', async () => {
    const ws = slurmWs({ env: { PATH: '/nonexistent' } });
    const d = daemon(ws);
    drop(ws, 'nocmd.jsonl', GOOD(9));
    const s = await waitAsync('the pause', async () => { const x = await statusJson(ws); return x.paused && !x.current ? x : undefined; }, 60_000, d.output);
    assert.match(s.pauseReason!, /sbatch was not found on PATH/);
    assert.deepEqual(datasets(ws, 'queue'), ['nocmd.jsonl']);
    assertInventory(ws);
  });

  it('the real trainer on the tiny model as a Slurm job: trains, snapshots', { skip: !existsSync(PYTHON) || !existsSync(join(MODEL, 'model.safetensors')) ? 'no .venv or tiny model (bash scripts/test.sh makes both)' : false }, async () => {
    const dir = tempDir('lq-slurm-real-');
    const config = {
      baseModel: MODEL, maxSeqLength: 64,
      trainer: { command: [PYTHON, '-m', 'lora_queue_trainer'], hangTimeoutSeconds: 300, stopGraceSeconds: 60, env: { OMP_NUM_THREADS: '1' } },
      queue: { maxAttempts: 1, intakeStableSeconds: 0 },
      lora: { rank: 4, alpha: 8, dropout: 0 },
      training: { epochs: 1, batchSize: 1, gradientAccumulation: 1, learningRate: 0.002, warmupSteps: 0, checkpointEverySteps: 4, bf16: false },
      disk: { minFreeGiB: 0, resumeFreeGiB: 0, minFreeInodes: 0 },
      executor: { kind: 'slurm', pollSeconds: 1 },
    };
    writeFileSync(join(dir, 'lora-queue.json'), JSON.stringify(config, null, 2) + '\n');
    const ws: Workspace = { dir, config: join(dir, 'lora-queue.json'), root: join(dir, '.lora-queue'), inputs: new Map() };
    const d = daemon(ws);
    const lines = Array.from({ length: 8 }, (_, i) => JSON.stringify({ messages: [{ role: 'user', content: `What is ${i} times 3?` }, { role: 'assistant', content: `${i} times 3 is ${3 * i}.` }] }));
    drop(ws, 'times.jsonl', lines.join('\n') + '\n');
    await waitFor('times.jsonl in done/, settled', () => settledIn(ws, 'done', 1), 300_000, d.output);
    const [run] = runDirs(ws);
    assert.equal(jobState(slurmRecord(ws, run!).jobId!), 'COMPLETED');
    assert.equal(state(ws).history[0]!.kind, 'success');
    assert.ok(events(ws, run!).some((e) => e.type === 'step'));
    assert.ok(existsSync(join(ws.root, 'current.json')));
    assertInventory(ws);
  });
});
