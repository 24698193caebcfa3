// End to end in a real VS Code with the REAL reference trainer (Python, PyTorch, PEFT) on the tiny
// local model, on the CPU: enqueue from the palette, watch the status bar follow the run step by
// step, the loss chart gain points, the Queue view go processing → done, and find the verified
// snapshot it made.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { e2eAvailable, startVsCode, until, ROOT } from './harness.mjs';

const OUT = join(ROOT, 'out', 'e2e-screenshots', 'real-trainer');
const PYTHON = join(ROOT, '.venv', 'bin', 'python');
const MODEL = join(ROOT, '.cache', 'tiny-model');
const missing = !e2eAvailable() ? 'e2e tools missing: run bash scripts/setup-e2e.sh'
  : !existsSync(PYTHON) ? 'no .venv: run bash scripts/setup-python.sh'
  : !existsSync(join(MODEL, 'model.safetensors')) ? 'no tiny model: run .venv/bin/python scripts/make_tiny_model.py .cache/tiny-model'
  : false;

describe('the real trainer in a real VS Code', { skip: missing }, () => {
  let vscode;
  let ws;
  before(async () => {
    ws = mkdtempSync(join(tmpdir(), 'lq-real-'));
    const lines = [];
    for (let i = 0; i < 24; i++) lines.push(JSON.stringify({ messages: [{ role: 'user', content: `What is ${i} plus ${i}?` }, { role: 'assistant', content: `${i} plus ${i} is ${2 * i}.` }] }));
    writeFileSync(join(ws, 'sums.jsonl'), lines.join('\n') + '\n');
    writeFileSync(join(ws, 'lora-queue.json'), JSON.stringify({
      baseModel: MODEL, maxSeqLength: 64,
      trainer: { command: [PYTHON, '-m', 'lora_queue_trainer'], hangTimeoutSeconds: 300 },
      queue: { maxAttempts: 1, intakeStableSeconds: 0 },
      lora: { rank: 4, alpha: 8, dropout: 0 },
      // 16 epochs (384 steps): the run must still be training when the chart opens, so that it can be seen to gain points.
      training: { epochs: 16, batchSize: 1, gradientAccumulation: 1, learningRate: 0.002, warmupSteps: 0, checkpointEverySteps: 16, bf16: false },
      disk: { minFreeGiB: 0.5, resumeFreeGiB: 1, minFreeInodes: 1000 },
    }, null, 2));
    rmSync(OUT, { recursive: true, force: true });
    vscode = await startVsCode({ workspace: ws, vsix: join(ROOT, 'dist', 'lora-queue.vsix'), outDir: OUT });
  });
  after(async () => {
    await vscode?.stop();
    // The engine inside the closed window leaves nothing running: the run has ended.
    if (ws) rmSync(ws, { recursive: true, force: true });
  });

  const chart = () => vscode.page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
  const points = async () => Number(/^(\d+) points/.exec(await chart().locator('#points').innerText({ timeout: 2000 }))?.[1] ?? NaN);

  it('trains an enqueued dataset: step by step in the status bar and the loss chart, done in the Queue view, a verified snapshot', async () => {
    const { page } = vscode;
    // The extension's own item (its id is <extension id>.<item id>): idle it says "LoRA Queue: idle";
    // training, the dataset's name, step and loss.
    const status = page.locator('[id="lora-queue.lora-queue.loraQueue.status"]');
    await until(async () => /LoRA Queue: idle/.test(await status.innerText()), 'the status bar item (engine owner, idle)', 90_000);
    await vscode.openFile('sums.jsonl');
    await vscode.command('LoRA Queue: Enqueue Current File');
    const root = join(ws, '.lora-queue');
    // The status bar shows the run's step and loss as the real trainer reports them.
    const training = await until(async () => {
      const t = await status.innerText();
      const m = /sums\.jsonl.*?(\d+)\/(\d+)/.exec(t);
      return m && Number(m[1]) > 0 ? { text: t, step: Number(m[1]), total: Number(m[2]) } : undefined;
    }, 'the status bar to show training progress', 180_000, 200);
    assert.equal(training.total, 384, training.text);
    // The loss chart (a click on the status bar) gains points as the real trainer reports steps.
    await status.click();
    await page.locator('.tab', { hasText: 'Loss' }).first().waitFor({ timeout: 30_000 });
    const first = await until(async () => (await points()) > 0 && (await points()), 'the training run\'s first points in the chart', 60_000);
    const later = await until(async () => (await points()) > first && (await points()), 'more points as the run trains', 120_000, 200);
    assert.ok(later > first);
    await vscode.screenshot('chart-live');
    await vscode.command('LoRA Queue: Focus on Queue View');
    const rows = page.locator('.pane-body .monaco-list-row');
    await until(async () => (await rows.allInnerTexts()).some((t) => /Processing/.test(t)) || existsSync(join(root, 'done', 'sums.jsonl')), 'Processing in the Queue view');
    await vscode.screenshot('training');
    await until(() => existsSync(join(root, 'done', 'sums.jsonl')), 'sums.jsonl in done/', 300_000, 500);
    await until(async () => (await rows.allInnerTexts()).some((t) => /Done \(1\)/.test(t)), 'Done (1) in the Queue view');
    await until(async () => /LoRA Queue: idle/.test(await status.innerText()), 'the status bar back to idle');
    // The run's events came from the real trainer: loss per step, falling; then a verified snapshot.
    const runs = JSON.parse(readFileSync(join(root, 'state.json'), 'utf8')).history;
    assert.equal(runs.length, 1);
    assert.equal(runs[0].kind, 'success');
    const events = readFileSync(join(root, 'runs', runs[0].runId, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const steps = events.filter((e) => e.type === 'step');
    assert.equal(steps.at(-1).step, 384);
    await until(async () => (await points()) === steps.length, `all ${steps.length} steps in the chart`, 30_000);
    assert.ok(steps.at(-1).loss < steps[0].loss, `loss fell: ${steps[0].loss} → ${steps.at(-1).loss}`);
    const current = JSON.parse(readFileSync(join(root, 'current.json'), 'utf8'));
    assert.ok(current.snapshot, 'a snapshot is current');
    const manifest = JSON.parse(readFileSync(join(root, 'snapshots', current.snapshot, 'manifest.json'), 'utf8'));
    assert.equal(manifest.dataset, 'sums.jsonl');
    assert.ok(manifest.files['adapter_model.safetensors'], 'the adapter weights are in the manifest');
    await vscode.screenshot('done');
  });
});
