/**
 * The engine with the REAL reference trainer (Python, PyTorch, PEFT) on the tiny local model, on
 * the CPU, as subprocesses: a dataset dropped in the inbox trains, is stopped after a step with a
 * real checkpoint (which the engine's checkpoint check accepts), resumes from it, ends in done/
 * with a verified snapshot whose adapter fits the model, and a ledger line with its tokens.
 * Skipped, with the reason, where .venv or the tiny model is missing (bash scripts/test.sh makes both).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkAdapter } from '../../server/src/engine/adapterCheck';
import { verifyCheckpoint } from '../../server/src/engine/checkpoints';
import { assertInventory, cleanup, datasets, drop, events, lastStep, lq, readJson, REPO, removeTempDirs, runDirs, sha, startDaemon, state, tempDir, waitFor, type Workspace } from './helpers';

const PYTHON = join(REPO, '.venv', 'bin', 'python');
const MODEL = join(REPO, '.cache', 'tiny-model');
const missing = !existsSync(PYTHON) ? 'no .venv: run bash scripts/setup-python.sh'
  : !existsSync(join(MODEL, 'model.safetensors')) ? 'no tiny model: run .venv/bin/python scripts/make_tiny_model.py .cache/tiny-model'
  : false;
after(removeTempDirs);

function workspace(): Workspace {
  const dir = tempDir('lq-real-');
  const config = {
    baseModel: MODEL, maxSeqLength: 64,
    trainer: { command: [PYTHON, '-m', 'lora_queue_trainer'], hangTimeoutSeconds: 300, stopGraceSeconds: 60 },
    queue: { maxAttempts: 1, intakeStableSeconds: 0 },
    lora: { rank: 4, alpha: 8, dropout: 0 },
    training: { epochs: 2, batchSize: 1, gradientAccumulation: 1, learningRate: 0.002, warmupSteps: 0, checkpointEverySteps: 4, bf16: false },
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
});
