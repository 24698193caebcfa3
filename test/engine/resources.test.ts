/**
 * Resource checks: disk thresholds (with hysteresis), the writable probe, nvidia-smi parsing and
 * judging (a fake `nvidia-smi` on PATH), disk-full classification, and the daemon pausing instead of
 * failing a dataset, then resuming by itself (a threshold above the real free space; a tmpfs that
 * fills during a run where mounting is permitted).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { classifyEnd } from '../../server/src/engine/classify';
import { applyEvents, emptyProgress } from '../../server/src/engine/events';
import { readLedger } from '../../server/src/engine/ledger';
import {
  diskProblem, isResourcePause, judgeGpus, parseNvidiaSmi, queryNvidiaSmi, ResourceGate, RESOURCE_PAUSE_PREFIX, visibleIndices, writeProbe, type ResourceEnv,
} from '../../server/src/engine/resources';
import { decideAfterEnd, emptyState, withPauseStep } from '../../server/src/engine/transitions';
import { configSchema } from '../../server/src/config/schema';
import { cleanup, datasets, DOUBLE, drop, GOOD, lq, makeWorkspace, readJson, removeTempDirs, startDaemon, state, tempDir, waitFor, type Daemon } from './helpers';

after(removeTempDirs);
const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const disk = (minFreeGiB: number, resumeFreeGiB: number, minFreeInodes = 100) => ({ minFreeGiB, resumeFreeGiB, minFreeInodes, recheckSeconds: 30 });

describe('disk checks', () => {
  it('pauses below minFreeGiB and resumes only above resumeFreeGiB (hysteresis)', () => {
    const d = disk(10, 15);
    assert.match(diskProblem({ freeBytes: 9 * GIB, freeInodes: 1e6 }, d, false)!, /9\.0 GiB, below disk\.minFreeGiB = 10 GiB/);
    assert.equal(diskProblem({ freeBytes: 12 * GIB, freeInodes: 1e6 }, d, false), undefined, 'above minFreeGiB: a run may start');
    assert.match(diskProblem({ freeBytes: 12 * GIB, freeInodes: 1e6 }, d, true)!, /below disk\.resumeFreeGiB = 15 GiB/, 'paused: 12 GiB is not enough to resume');
    assert.equal(diskProblem({ freeBytes: 15 * GIB, freeInodes: 1e6 }, d, true), undefined);
    assert.match(diskProblem({ freeBytes: 20 * GIB, freeInodes: 50 }, d, false)!, /free inodes.*50, below disk\.minFreeInodes = 100/);
    assert.equal(diskProblem({ freeBytes: 20 * GIB, freeInodes: null }, d, false), undefined, 'a filesystem without inode counts is not judged on them');
  });

  it('probes writability with a file it removes again', () => {
    const dir = tempDir('lq-probe-');
    assert.equal(writeProbe(dir), undefined);
    assert.deepEqual(readdirSync(dir), []);
    assert.match(writeProbe(join(dir, 'missing'))!, /not writable \(ENOENT\)/);
  });
});

// ---- nvidia-smi --------------------------------------------------------------------------------

const HEALTHY = '0, NVIDIA H100 80GB HBM3, 80000, 81559, 0\n1, NVIDIA H100 80GB HBM3, 79000, 81559, 0\n';
const NA = '0, NVIDIA GeForce RTX 4090, 22000, 24564, [N/A]\n';

describe('nvidia-smi', () => {
  it('parses rows defensively ([N/A], commas in names, junk lines)', () => {
    assert.deepEqual(parseNvidiaSmi(HEALTHY).map((g) => [g.index, g.name, g.memoryFreeMiB, g.memoryTotalMiB, g.eccUncorrected]), [
      [0, 'NVIDIA H100 80GB HBM3', 80000, 81559, 0], [1, 'NVIDIA H100 80GB HBM3', 79000, 81559, 0],
    ]);
    assert.equal(parseNvidiaSmi(NA)[0]!.eccUncorrected, null);
    assert.equal(parseNvidiaSmi('0, Tesla, V100, [Not Supported], [N/A], 2\n')[0]!.name, 'Tesla, V100');
    assert.equal(parseNvidiaSmi('0, Tesla, V100, [Not Supported], [N/A], 2\n')[0]!.memoryFreeMiB, null);
    assert.deepEqual(parseNvidiaSmi('No devices were found\n\nFailed to initialize NVML: Driver/library version mismatch\n'), []);
  });

  it('judges: healthy, rising ECC, low memory, missing GPU, a failed query, no nvidia-smi', () => {
    const none = new Map<number, number>();
    const ok = judgeGpus({ kind: 'ok', stdout: HEALTHY }, { minFreeMiB: 1000, previousEcc: none });
    assert.equal(ok.fatal ?? ok.transient, undefined);
    assert.equal(ok.ecc.get(1), 0);
    const rising = judgeGpus({ kind: 'ok', stdout: HEALTHY.replace(/, 0\n$/, ', 3\n') }, { minFreeMiB: 0, previousEcc: ok.ecc });
    assert.match(rising.fatal!, /GPU 1 .*uncorrected ECC errors rose from 0 to 3/);
    const same = judgeGpus({ kind: 'ok', stdout: HEALTHY.replace(/, 0\n$/, ', 3\n') }, { minFreeMiB: 0, previousEcc: rising.ecc });
    assert.equal(same.fatal, undefined, 'compared with the last check: no further rise, no pause');
    const low = judgeGpus({ kind: 'ok', stdout: HEALTHY }, { minFreeMiB: 79500, previousEcc: none });
    assert.match(low.transient!, /GPU 1 .* has 79000 MiB free, below gpu\.minFreeMiB = 79500/);
    assert.doesNotMatch(low.transient!, /GPU 0/);
    assert.equal(judgeGpus({ kind: 'ok', stdout: HEALTHY }, { minFreeMiB: 79500, previousEcc: none, visible: [0] }).transient, undefined, 'only CUDA_VISIBLE_DEVICES are judged');
    assert.match(judgeGpus({ kind: 'ok', stdout: 'No devices were found\n' }, { minFreeMiB: 0, previousEcc: none }).transient!, /no GPU found by nvidia-smi \(it said: No devices were found\)/);
    assert.match(judgeGpus({ kind: 'failed', why: 'nvidia-smi exited with code 9' }, { minFreeMiB: 0, previousEcc: none }).transient!, /GPU check failed: nvidia-smi exited with code 9/);
    const absent = judgeGpus({ kind: 'absent' }, { minFreeMiB: 1e9, previousEcc: none });
    assert.equal(absent.fatal ?? absent.transient, undefined, 'no nvidia-smi: no GPU check');
    assert.equal(judgeGpus({ kind: 'ok', stdout: NA }, { minFreeMiB: 0, previousEcc: new Map([[0, 5]]) }).fatal, undefined, '[N/A] ECC is not a rise');
    assert.deepEqual(visibleIndices('0, 2'), [0, 2]);
    assert.equal(visibleIndices('GPU-1234'), undefined);
  });

  it('runs a fake nvidia-smi from PATH and pauses with the reason (gate)', () => {
    const bin = tempDir('lq-smi-');
    const csv = join(bin, 'answer.csv');
    // A test double: prints the canned CSV; exits with the code in exit.txt (6 = no devices).
    writeFileSync(join(bin, 'nvidia-smi'), `#!/bin/sh\nfor a in "$@"; do echo "$a" >> "${bin}/args.txt"; done\ncat "${csv}"\nexit $(cat "${bin}/exit.txt" 2>/dev/null || echo 0)\n`);
    chmodSync(join(bin, 'nvidia-smi'), 0o755);
    const root = tempDir('lq-gate-');
    const config = configSchema.parse({ disk: { minFreeGiB: 0, resumeFreeGiB: 0, minFreeInodes: 0, recheckSeconds: 30 }, gpu: { minFreeMiB: 1000 } });
    const logs: string[] = [];
    const env: ResourceEnv = { root, config, env: { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}` }, log: { info: (m) => logs.push(m), warn: (m) => logs.push(m) } };
    const gate = new ResourceGate();

    writeFileSync(csv, HEALTHY);
    assert.equal(gate.beforeRun(env), undefined, 'healthy: the run starts');
    assert.deepEqual(readFileSync(join(bin, 'args.txt'), 'utf8').trim().split('\n'), ['--query-gpu=index,name,memory.free,memory.total,ecc.errors.uncorrected.volatile.total', '--format=csv,noheader,nounits']);

    writeFileSync(csv, HEALTHY.replace('80000, 81559, 0', '80000, 81559, 2'));
    // The gate returns a step; the engine applies it (Engine.change), as here.
    const ecc = withPauseStep(emptyState(), gate.beforeRun(env)!);
    assert.ok(ecc.pause);
    assert.match(ecc.pause.reason, /^GPU error: GPU 0 .*ECC errors rose from 0 to 2/);
    assert.equal(isResourcePause(ecc), false, 'rising ECC errors wait for a person');
    assert.equal(gate.whilePaused(env, ecc), undefined, 'not re-checked or lifted by itself');

    writeFileSync(csv, HEALTHY.replace('79000', '512'));
    const low = withPauseStep(emptyState(), gate.beforeRun(env)!);
    assert.match(low.pause!.reason, new RegExp(`^${RESOURCE_PAUSE_PREFIX}GPU 1 .*512 MiB free, below gpu\\.minFreeMiB = 1000`));
    assert.ok(isResourcePause(low));
    // Memory freed, config changed (a reload): re-checked at once and resumed.
    writeFileSync(csv, HEALTHY);
    const resumed = withPauseStep(low, gate.whilePaused({ ...env, config: configSchema.parse({ ...config }) }, low)!);
    assert.equal(resumed.pause, null);
    assert.ok(logs.some((l) => /resources are back/.test(l)));

    writeFileSync(csv, 'No devices were found\n');
    writeFileSync(join(bin, 'exit.txt'), '6\n');
    const missing = withPauseStep(emptyState(), gate.beforeRun(env)!);
    assert.match(missing.pause!.reason, /waiting for resources: the GPU check failed: nvidia-smi exited with code 6: No devices were found/);

    // A hung nvidia-smi is cut off by the timeout.
    writeFileSync(join(bin, 'nvidia-smi'), '#!/bin/sh\nexec sleep 30\n');
    const t0 = Date.now();
    const hung = queryNvidiaSmi(env.env, 500);
    assert.equal(hung.kind, 'failed');
    assert.match((hung as { why: string }).why, /did not answer within/);
    assert.ok(Date.now() - t0 < 10_000);
    assert.equal(queryNvidiaSmi({ ...process.env, PATH: tempDir('lq-empty-') }).kind, 'absent');
  });
});

describe('disk full during a run', () => {
  it('is classified disk_full, keeps the attempt and pauses until space is back', () => {
    const p = applyEvents(emptyProgress(), [{ type: 'error', kind: 'other', message: "OSError: [Errno 28] No space left on device: 'checkpoint-200'" }]);
    const c = classifyEnd({ progress: p, exit: { code: 1, signal: null }, action: null, oomKills: 0, hangTimeoutSeconds: 60, logTail: '' });
    assert.equal(c.kind, 'disk_full');
    const fromLog = classifyEnd({ progress: emptyProgress(), exit: { code: 1, signal: null }, action: null, oomKills: 0, hangTimeoutSeconds: 60, logTail: 'step 3\nError: ENOSPC: no space left on device, write\n' });
    assert.equal(fromLog.kind, 'disk_full');
    assert.match(fromLog.message, /trainer\.log says: Error: ENOSPC/);
    const d = decideAfterEnd('disk_full', { priority: 0, attempts: 1, added: 'x', sha256: '', size: 0, examples: 1 }, { maxAttempts: 2, retryBackoffSeconds: 60, lastCheckpoint: '/ck/5', now: 0, runId: 'r1', message: c.message });
    assert.equal(d.outcome, 'queue');
    assert.equal(d.meta.attempts, 1, 'not the dataset\'s fault: no attempt used');
    assert.equal(d.meta.resumeFrom, '/ck/5');
    assert.ok(d.pause!.reason.startsWith(RESOURCE_PAUSE_PREFIX));
  });

  it('a silent trainer on a disk the engine saw full is disk_full, not crash; a SIGKILL stays killed', () => {
    const facts = { progress: emptyProgress(), exit: { code: 1, signal: null }, action: null, oomKills: 0, hangTimeoutSeconds: 60, logTail: '' };
    assert.equal(classifyEnd(facts).kind, 'crash');
    const seen = classifyEnd({ ...facts, diskFull: '0.0 MiB free on the queue root at the end of the run, under 1.0 MiB' });
    assert.equal(seen.kind, 'disk_full');
    assert.match(seen.message, /0\.0 MiB free/);
    const withOther = applyEvents(emptyProgress(), [{ type: 'error', kind: 'other', message: 'write failed' }]);
    assert.equal(classifyEnd({ ...facts, progress: withOther, diskFull: 'ENOSPC' }).kind, 'disk_full');
    const nan = applyEvents(emptyProgress(), [{ type: 'error', kind: 'nan_loss', message: 'NaN' }]);
    assert.equal(classifyEnd({ ...facts, progress: nan, diskFull: 'ENOSPC' }).kind, 'nan_loss', 'a named failure keeps its name');
    assert.equal(classifyEnd({ ...facts, exit: { code: null, signal: 'SIGKILL' }, diskFull: 'ENOSPC' }).kind, 'killed');
  });
});

// ---- the daemon ----------------------------------------------------------------------------------

function writeConfig(file: string, change: (c: Record<string, unknown>) => void): void {
  const c = readJson<Record<string, unknown>>(file);
  change(c);
  writeFileSync(file, JSON.stringify(c, null, 2) + '\n');
}

const logText = (root: string): string => readdirSync(join(root, 'logs')).filter((n) => n.startsWith('engine-')).map((n) => readFileSync(join(root, 'logs', n), 'utf8')).join('');

describe('engine and resources', { concurrency: true }, () => {
  it('pauses instead of failing when free space is below disk.minFreeGiB, and resumes when the threshold is lowered', { timeout: 120_000 }, async () => {
    // A threshold far above the real free space of any disk.
    const ws = makeWorkspace({ disk: { minFreeGiB: 1e9, resumeFreeGiB: 1e9, recheckSeconds: 1 } });
    const daemons: Daemon[] = [];
    try {
      daemons.push(startDaemon(ws));
      drop(ws, 'a.jsonl', GOOD(1));
      const st = await waitFor('the pause for disk space', () => (state(ws).paused ? (state(ws) as ReturnType<typeof state> & { pauseReason: string }) : undefined), 60_000, daemons[0]!.output);
      assert.match(st.pauseReason, /^waiting for resources: free space on the queue root's filesystem is .* GiB, below disk\.minFreeGiB = 1000000000 GiB/);
      assert.deepEqual(datasets(ws, 'queue'), ['a.jsonl'], 'the dataset waits in the queue');
      assert.deepEqual(datasets(ws, 'failed'), []);
      assert.ok(!existsSync(join(ws.root, 'runs')) || readdirSync(join(ws.root, 'runs')).length === 0, 'no run was started');
      const status = await lq(ws, ['status']);
      assert.match(status.stdout, /queue: paused — waiting for resources: free space/);
      assert.match(logText(ws.root), /not starting a run: free space .* below disk\.minFreeGiB/);
      writeConfig(ws.config, (c) => { c['disk'] = { minFreeGiB: 0, resumeFreeGiB: 0, minFreeInodes: 0, recheckSeconds: 1 }; });
      await waitFor('the run after the threshold was lowered', () => datasets(ws, 'done').includes('a.jsonl') && !state(ws).current, 60_000, daemons[0]!.output);
      assert.equal(state(ws).paused, false);
      assert.match(logText(ws.root), /resources are back/);
      // The run is in the usage ledger.
      const led = readLedger(join(ws.root, 'ledger.jsonl'));
      assert.equal(led.records.length, 1);
      assert.equal(led.records[0]!.outcome, 'success');
      assert.equal(led.records[0]!.dataset, 'a.jsonl');
      assert.equal(led.records[0]!.gpus, 0, 'the trainer double runs on the CPU');
      assert.equal(led.records[0]!.examples, 1);
    } finally {
      await cleanup(ws, daemons);
    }
  });

  it('a tmpfs that fills during a run: disk_full, dataset kept, paused until space is back above resumeFreeGiB', { timeout: 120_000 }, async (t) => {
    const ws = makeWorkspace();
    mkdirSync(ws.root, { recursive: true });
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', ws.root], { encoding: 'utf8' });
    if (m.status !== 0) {
      t.skip(`cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): ${(m.stderr || m.error?.message || '').trim()}`);
      return;
    }
    const daemons: Daemon[] = [];
    try {
      // A trainer that, once, fills the disk until ENOSPC, reports it like a Python trainer would,
      // and leaves free space between minFreeGiB (6 MiB) and resumeFreeGiB (10 MiB); later runs are
      // the ordinary trainer double.
      const trainer = join(ws.dir, 'filling-trainer.cjs');
      writeFileSync(join(ws.dir, 'fill-once'), '');
      writeFileSync(trainer, `
const fs = require('node:fs'); const path = require('node:path'); const { spawnSync } = require('node:child_process');
const job = JSON.parse(fs.readFileSync(process.argv[process.argv.indexOf('--job') + 1], 'utf8'));
const marker = ${JSON.stringify(join(ws.dir, 'fill-once'))};
if (!fs.existsSync(marker)) process.exit(spawnSync(process.execPath, [${JSON.stringify(DOUBLE)}, ...process.argv.slice(2)], { stdio: 'inherit' }).status ?? 1);
fs.unlinkSync(marker);
const emit = (e) => fs.appendFileSync(job.events, JSON.stringify({ time: Date.now() / 1000, ...e }) + '\\n');
emit({ type: 'start', total_steps: 10, world_size: 1, device: 'cuda:0' });
const ballast = path.join(${JSON.stringify(ws.root)}, 'ballast.bin');
const fd = fs.openSync(ballast, 'w'); const chunk = Buffer.alloc(256 * 1024, 1); let err;
try { for (;;) fs.writeSync(fd, chunk); } catch (e) { err = e; }
fs.closeSync(fd);
const s = fs.statfsSync(${JSON.stringify(ws.root)}); const free = s.bavail * s.bsize;
fs.truncateSync(ballast, Math.max(0, fs.statSync(ballast).size - (8 * 1024 * 1024 - free)));
console.error('OSError: [Errno 28] No space left on device: ' + err.code);
try { emit({ type: 'error', kind: 'other', message: 'OSError: [Errno 28] No space left on device (' + err.code + ')' }); } catch {}
process.exit(1);
`);
      writeConfig(ws.config, (c) => {
        (c['trainer'] as Record<string, unknown>)['command'] = [process.execPath, trainer];
        c['disk'] = { minFreeGiB: 6 / 1024, resumeFreeGiB: 10 / 1024, minFreeInodes: 0, recheckSeconds: 1 };
      });
      daemons.push(startDaemon(ws));
      drop(ws, 'big.jsonl', GOOD('tmpfs'));
      const st = await waitFor('the disk_full pause', () => {
        const s = state(ws) as ReturnType<typeof state> & { pauseReason: string | null };
        return s.history[0]?.kind === 'disk_full' && !s.current && s.paused ? s : undefined;
      }, 60_000, daemons[0]!.output);
      assert.match(st.pauseReason!, /^waiting for resources: (the disk filled up during run|free space .* below disk\.resumeFreeGiB)/);
      assert.deepEqual(datasets(ws, 'queue'), ['big.jsonl'], 'the dataset goes back to the queue, not to failed/');
      assert.equal(readJson<{ attempts: number }>(join(ws.root, 'queue', 'big.jsonl.meta.json')).attempts, 0, 'no attempt used');
      // Free space is now between the thresholds: a re-check (forced by a config reload) keeps it paused.
      const reloads = (): number => (daemons[0]!.output().match(/configuration reloaded/g) ?? []).length;
      const before = reloads();
      writeConfig(ws.config, (c) => { c['logs'] = { keepDays: 30 }; });
      await waitFor('the config reload', () => reloads() > before, 30_000, daemons[0]!.output);
      const still = state(ws) as ReturnType<typeof state> & { pauseReason: string | null };
      assert.equal(still.paused, true, `hysteresis: above minFreeGiB but below resumeFreeGiB stays paused (${still.pauseReason})`);
      assert.match(still.pauseReason!, /below disk\.resumeFreeGiB = 0\.009765625 GiB/);
      // Space back: it resumes by itself and trains the dataset.
      rmSync(join(ws.root, 'ballast.bin'));
      await waitFor('the dataset to train after space came back', () => datasets(ws, 'done').includes('big.jsonl') && !state(ws).current, 60_000, daemons[0]!.output);
      assert.deepEqual(state(ws).history.map((h) => h.kind), ['disk_full', 'success']);
      assert.deepEqual(readLedger(join(ws.root, 'ledger.jsonl')).records.map((r) => r.outcome), ['disk_full', 'success']);
      assert.match(logText(ws.root), /resources are back/);
    } finally {
      await cleanup(ws, daemons);
      spawnSync('umount', ['-l', ws.root]);
    }
  });
  it('a disk filled by another process while the trainer runs (trainer dies silent, no exit.json): disk_full, no attempt, paused, resumes by itself; no tick error', { timeout: 120_000 }, async (t) => {
    const ws = makeWorkspace({ disk: { recheckSeconds: 1 }, env: { TRAINER_DOUBLE_MODE: 'slow', TRAINER_DOUBLE_SLOW_MS: '30', TRAINER_DOUBLE_STEPS: '6', TRAINER_DOUBLE_HOLD_AT: '3' } });
    mkdirSync(ws.root, { recursive: true });
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=30m', 'tmpfs', ws.root], { encoding: 'utf8' });
    if (m.status !== 0) {
      t.skip(`cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): ${(m.stderr || m.error?.message || '').trim()}`);
      return;
    }
    const daemons: Daemon[] = [];
    const ballast = join(ws.root, 'ballast.bin');
    try {
      const d = startDaemon(ws);
      daemons.push(d);
      drop(ws, 'x.jsonl', GOOD('full'));
      const runId = await waitFor('the run', () => readdirSync(join(ws.root, 'runs'))[0], 30_000, d.output);
      await waitFor('step 3', () => readFileSync(join(ws.root, 'runs', runId, 'events.jsonl'), 'utf8').includes('"held_at":3'), 30_000, d.output);
      // Another process fills the disk: the double's next heartbeat fails with ENOSPC and it dies
      // with nothing in trainer.log; the exit recorder cannot write exit.json either.
      const fd = openSync(ballast, 'w');
      try { for (;;) writeSync(fd, Buffer.alloc(1024 * 1024, 1)); } catch { /* full */ }
      try { for (;;) writeSync(fd, Buffer.alloc(4096, 1)); } catch { /* full to the last page */ }
      closeSync(fd);
      await waitFor('the engine to pause for the disk', () => /the queue is paused until writes succeed again/.test(d.output()), 30_000, d.output);
      const sr = await lq(ws, ["status", "--format", "json"]);
      const st = JSON.parse(sr.stdout || "{}") as { rootProblem: string | null };
      assert.equal(sr.code, 0, sr.stderr);
      assert.match(st.rootProblem ?? '', /filesystem is full/, 'status says why even though state.json cannot be written');
      assert.equal(existsSync(join(ws.root, 'runs', runId, 'exit.json')), false, 'no exit record on the full disk');
      assert.deepEqual(datasets(ws, 'failed'), []);
      rmSync(ballast);
      // The second run holds at step 3 like the first (the same environment): released here.
      const second = await waitFor('the second run', () => readdirSync(join(ws.root, 'runs')).sort()[1], 30_000, d.output);
      writeFileSync(join(ws.root, 'runs', second, 'release'), '');
      await waitFor('the dataset to train after space came back', () => datasets(ws, 'done').includes('x.jsonl') && !state(ws).current, 60_000, d.output);
      assert.deepEqual(state(ws).history.map((h) => h.kind), ['disk_full', 'success']);
      assert.equal(readJson<{ attempts: number }>(join(ws.root, 'done', 'x.jsonl.meta.json')).attempts, 0, 'no attempt used');
      assert.match(d.output(), /resources are back/);
      assert.doesNotMatch(d.output(), /tick: /, 'every write path handles ENOSPC');
    } finally {
      await cleanup(ws, daemons);
      spawnSync('umount', ['-l', ws.root]);
    }
  });
});
