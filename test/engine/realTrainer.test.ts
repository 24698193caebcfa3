/**
 * The engine with the REAL reference trainer (Python, PyTorch, PEFT) on the tiny local model, on
 * the CPU, as subprocesses: a dataset dropped in the inbox trains, is stopped after a step with a
 * real checkpoint (which the engine's checkpoint check accepts), resumes from it, ends in done/
 * with a verified snapshot whose adapter fits the model, and a ledger line with its tokens.
 * Skipped, with the reason, where .venv or the tiny model is missing (bash scripts/test.sh makes both).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkAdapter } from '../../server/src/engine/adapterCheck';
import { verifyCheckpoint } from '../../server/src/engine/checkpoints';
import { assertInventory, cleanup, datasets, drop, events, lastStep, lq, readJson, removeTempDirs, runDirs, sha, startDaemon, state, tempDir, waitFor, type Workspace, MODEL, PYTHON, realTrainerMissing } from './helpers';

const missing = realTrainerMissing;
after(removeTempDirs);

function workspace(command: string[] = [PYTHON, '-m', 'lora_queue_trainer'], env: Record<string, string> = {}, epochs = 2): Workspace {
  const dir = tempDir('lq-real-');
  const config = {
    baseModel: MODEL, maxSeqLength: 64,
    trainer: { command, hangTimeoutSeconds: 300, stopGraceSeconds: 60, env },
    queue: { maxAttempts: 1, intakeStableSeconds: 0 },
    lora: { rank: 4, alpha: 8, dropout: 0 },
    training: { epochs, batchSize: 1, gradientAccumulation: 1, learningRate: 0.002, warmupSteps: 0, checkpointEverySteps: 4, bf16: false },
    disk: { minFreeGiB: 0, resumeFreeGiB: 0, minFreeInodes: 0 },
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'lora-queue.json'), JSON.stringify(config, null, 2) + '\n');
  return { dir, config: join(dir, 'lora-queue.json'), root: join(dir, '.lora-queue'), inputs: new Map() };
}

describe('the engine with the real trainer on the tiny model', { skip: missing }, () => {
  it('trains, stops after a step with a real checkpoint, resumes from it, and snapshots a fitting adapter', { timeout: 600_000 }, async () => {
    const ws = workspace();
    const d = startDaemon(ws);
    try {
      const lines = Array.from({ length: 12 }, (_, i) => JSON.stringify({ messages: [{ role: 'user', content: `What is ${i} times 3?` }, { role: 'assistant', content: `${i} times 3 is ${3 * i}.` }] }));
      const content = lines.join('\n') + '\n';
      drop(ws, 'times.jsonl', content);
      const first = await waitFor('the run to start', () => runDirs(ws)[0], 60_000, d.output);
      await waitFor('step 6', () => lastStep(ws, first) >= 6, 240_000, d.output);
      const r = await lq(ws, ['stop', '--after-step']);
      assert.equal(r.code, 0, r.stderr);
      await waitFor('the run to end stopped', () => state(ws).history[0]?.kind === 'stopped' && !state(ws).current, 120_000, d.output);
      const ck = events(ws, first).filter((e) => e.type === 'checkpoint').pop()!;
      const ckPath = ck['path'] as string;
      // The trainer's real checkpoint: a PEFT adapter and torch.save state (a zip), which the check reads whole.
      assert.deepEqual(readFileSync(join(ckPath, 'trainer_state.pt')).subarray(0, 4), Buffer.from('PK\x03\x04', 'latin1'));
      assert.deepEqual(verifyCheckpoint(ckPath), []);
      assert.equal((await lq(ws, ['resume'])).code, 0);
      await waitFor('the second run to be settled', () => state(ws).history.length === 2 && !state(ws).current, 300_000, d.output);
      const second = runDirs(ws).find((x) => x !== first)!;
      assert.equal(readJson<{ resume_from: string }>(join(ws.root, 'runs', second, 'job.json')).resume_from, ckPath);
      const steps = events(ws, second).filter((e) => e.type === 'step');
      assert.equal(steps[0]!['step'], (ck['step'] as number) + 1, 'resumed after the checkpoint');
      assert.equal(steps.at(-1)!['step'], 24);
      assert.deepEqual(datasets(ws, 'done'), ['times.jsonl']);
      assert.equal(sha(readFileSync(join(ws.root, 'done', 'times.jsonl'))), sha(content));
      // A verified snapshot whose adapter fits the model it was trained on.
      const current = readJson<{ snapshot: string }>(join(ws.root, 'current.json'));
      assert.equal(current.snapshot, second);
      const report = checkAdapter(join(ws.root, 'snapshots', second), MODEL);
      assert.ok(report.ok, JSON.stringify(report.problems));
      assert.ok(report.tensors > 0 && report.rank === 4);
      // The ledger: one line per run, with the real trainer's token counts.
      const ledger = readFileSync(join(ws.root, 'ledger.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { outcome: string; tokens: number | null; examples: number | null });
      assert.equal(ledger.length, 2);
      assert.ok(ledger.every((l) => typeof l.tokens === 'number' && l.tokens > 0), JSON.stringify(ledger));
      const usage = JSON.parse((await lq(ws, ['usage', '--format', 'json'])).stdout) as { total: { runs: number; tokens: number } };
      assert.equal(usage.total.runs, 2);
      assert.equal(usage.total.tokens, ledger.reduce((s, l) => s + (l.tokens ?? 0), 0));
      assertInventory(ws);
    } finally {
      await cleanup(ws, [d]);
    }
  });

  it('under torchrun with 2 processes: stop --now checkpoints every rank at one step, resume on 2 ends in done/ with a snapshot, no process left', { timeout: 600_000 }, async () => {
    // The launcher as trainer.command, as docs/trainer.md shows it; one thread per process on this 2-core machine.
    // 8 epochs: the 2-process run must still be training when the stop (a CLI process) arrives; 2 epochs of
    // these steps could end first on a quiet machine.
    const ws = workspace([PYTHON, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', '-m', 'lora_queue_trainer'], { OMP_NUM_THREADS: '1' }, 8);
    const d = startDaemon(ws);
    try {
      const lines = Array.from({ length: 12 }, (_, i) => JSON.stringify({ messages: [{ role: 'user', content: `What is ${i} plus 4?` }, { role: 'assistant', content: `${i} plus 4 is ${i + 4}.` }] }));
      const content = lines.join('\n') + '\n';
      drop(ws, 'plus.jsonl', content);
      const first = await waitFor('the run to start', () => runDirs(ws)[0], 60_000, d.output);
      await waitFor('step 2', () => lastStep(ws, first) >= 2, 240_000, d.output);
      assert.equal((await lq(ws, ['stop', '--now'])).code, 0);
      await waitFor('the run to end stopped', () => state(ws).history[0]?.kind === 'stopped' && !state(ws).current, 120_000, d.output);
      const ev = events(ws, first);
      const start = ev.filter((e) => e.type === 'start');
      assert.equal(start.length, 1);
      assert.equal(start[0]!['world_size'], 2);
      // 12 examples, batch 1 on each of 2 processes, 8 epochs: 48 optimizer steps.
      assert.equal(start[0]!['total_steps'], 48);
      const done = ev.filter((e) => e.type === 'done');
      assert.equal(done.length, 1);
      assert.equal(done[0]!['stopped'], true);
      // One checkpoint per step (rank 0 writes it; checkpointEverySteps 4 may add a periodic one), the last at the stop.
      const ckAll = ev.filter((e) => e.type === 'checkpoint');
      assert.equal(new Set(ckAll.map((e) => e['step'])).size, ckAll.length, 'no checkpoint written twice');
      const ck = [ckAll.at(-1)!];
      assert.equal(ck[0]!['step'], done[0]!['step']);
      assert.equal(noneOf(first), true, 'no process of the stopped run is left');
      assert.equal((await lq(ws, ['resume'])).code, 0);
      await waitFor('the second run to be settled', () => state(ws).history.length === 2 && !state(ws).current, 300_000, d.output);
      const second = runDirs(ws).find((x) => x !== first)!;
      const steps = events(ws, second).filter((e) => e.type === 'step').map((e) => e['step'] as number);
      assert.deepEqual(steps, Array.from({ length: 48 - (ck[0]!['step'] as number) }, (_, i) => (ck[0]!['step'] as number) + 1 + i));
      assert.equal(state(ws).history[1]!.kind, 'success');
      assert.deepEqual(datasets(ws, 'done'), ['plus.jsonl']);
      const report = checkAdapter(join(ws.root, 'snapshots', second), MODEL);
      assert.ok(report.ok, JSON.stringify(report.problems));
      assert.equal(noneOf(second), true, 'no process of the finished run is left');
      assertInventory(ws);
    } finally {
      await cleanup(ws, [d]);
    }

    function noneOf(runId: string): boolean {
      const job = join(ws.root, 'runs', runId, 'job.json');
      return !readdirSync('/proc').some((e) => {
        if (!/^\d+$/.test(e)) return false;
        try {
          return readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(job) && !/^\d+ \(.*\) [ZX] /.test(readFileSync(`/proc/${e}/stat`, 'utf8'));
        } catch {
          return false;
        }
      });
    }
  });
});
