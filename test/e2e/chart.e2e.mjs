// End to end in a real VS Code: the status bar opens the loss chart, which follows the training
// runs live (its point count grows while the trainer double trains), overlays two runs, and
// loads under its strict CSP without a single violation.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { e2eAvailable, startVsCode, until, ROOT, writeTokenizerModel } from './harness.mjs';

const OUT = join(ROOT, 'out', 'e2e-screenshots', 'chart');
const DOCS = join(ROOT, 'docs', 'images');
const ex = (n) => JSON.stringify({ messages: [{ role: 'user', content: `Q${n}` }, { role: 'assistant', content: `A${n}` }] });

describe('the loss chart in a real VS Code', { skip: !e2eAvailable() && 'e2e tools missing: run bash scripts/setup-e2e.sh' }, () => {
  let vscode;
  let workspace;
  const consoleErrors = [];
  before(async () => {
    const ws = mkdtempSync(join(tmpdir(), 'lq-chart-ws-'));
    writeFileSync(join(ws, 'first.jsonl'), [ex(1), ex(2)].join('\n') + '\n');
    // `__slow` in the name: the trainer double takes TRAINER_DOUBLE_SLOW_MS per step.
    writeFileSync(join(ws, 'second__slow.jsonl'), [ex(3), ex(4)].join('\n') + '\n');
    writeTokenizerModel(join(ws, 'model'));
    // The trainer is the engine tests' TEST DOUBLE (it speaks protocol v1 and trains nothing).
    const double = join(ROOT, 'test', 'engine', 'fixtures', 'trainer-double.mjs');
    writeFileSync(join(ws, 'lora-queue.json'), JSON.stringify({
      baseModel: 'model', maxSeqLength: 512,
      trainer: { command: [process.execPath, double], env: { TRAINER_DOUBLE_STEPS: '120', TRAINER_DOUBLE_SLOW_MS: '150' } },
      queue: { intakeStableSeconds: 0 },
    }, null, 2));
    workspace = ws;
    vscode = await startVsCode({ workspace: ws, vsix: join(ROOT, 'dist', 'lora-queue.vsix'), outDir: OUT });
    // Console messages of every frame, the webview's included: a CSP violation is logged there.
    vscode.page.on('console', (m) => {
      if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) consoleErrors.push(m.text());
    });
  });
  after(async () => {
    await vscode?.stop();
  });

  const chart = () => vscode.page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
  const points = async () => Number(/^(\d+) points/.exec(await chart().locator('#points').innerText({ timeout: 2000 }))?.[1] ?? NaN);
  // The extension's own item (its id is <extension id>.<item id>), not a transient status message.
  const status = () => vscode.page.locator('[id="lora-queue.lora-queue.loraQueue.status"]');

  it('opens from the status bar item and shows a finished run', async () => {
    const { page } = vscode;
    await until(async () => /LoRA Queue: idle/.test(await status().innerText()), 'the status bar item (engine owner, idle)', 90_000);
    await vscode.openFile('first.jsonl');
    await vscode.command('LoRA Queue: Enqueue Current File');
    await until(async () => /LoRA Queue: idle/.test(await status().innerText()) && /1 done/.test((await status().getAttribute('aria-label')) ?? ''), 'first.jsonl to be trained', 90_000);
    await status().click();
    await page.locator('.tab', { hasText: 'Loss' }).first().waitFor({ timeout: 30_000 });
    const n = await until(async () => (await points()) >= 120 && (await points()), 'the finished run\'s points in the chart', 30_000);
    assert.equal(n, 120, 'one point per step of the double');
    assert.match(await chart().locator('#runs').innerText(), /first\.jsonl · success/);
    assert.ok(await chart().locator('#chart canvas').count() >= 1, 'uPlot drew a canvas');
  });

  it('gains points live while a run trains, and overlays it on the finished one', async () => {
    const { page } = vscode;
    await vscode.openFile('second__slow.jsonl');
    await vscode.command('LoRA Queue: Enqueue Current File');
    await until(async () => /second__slow/.test(await status().innerText()), 'the second run to start', 60_000);
    await status().click();
    await page.locator('.tab.active', { hasText: 'Loss' }).first().waitFor({ timeout: 30_000 });
    // The followed run joins the finished one; its points arrive in batches as it trains.
    await until(async () => /second__slow\.jsonl · training/.test(await chart().locator('#runs').innerText()), 'the training run in the picker', 30_000);
    const seen = [];
    await until(async () => {
      const n = await points();
      if (Number.isFinite(n) && n !== seen.at(-1)) seen.push(n);
      return seen.length >= 4 && /second__slow/.test(await status().innerText());
    }, 'the point count to grow while the run trains', 60_000, 300);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i] > seen[i - 1], `points only grow: ${seen.join(' → ')}`);
    assert.ok(seen[0] > 120, 'both runs are drawn');
    // Mid-run, the training curve (still short) over the finished one: the telling picture.
    copyFileSync(await vscode.screenshot('loss-chart-live'), join(DOCS, 'loss-chart.png'));
    await until(async () => (await points()) >= 240 && /idle/.test(await status().innerText()), 'the second run to finish in the chart', 90_000);
    assert.equal(await points(), 240);
    assert.match(await chart().locator('#runs').innerText(), /second__slow\.jsonl · success/, 'the picker says the run ended');
    await vscode.screenshot('loss-chart-done');
  });

  it('loaded under its strict CSP without a violation', () => {
    const csp = consoleErrors.filter((t) => /Content Security Policy|Refused to/i.test(t));
    assert.deepEqual(csp, [], 'no CSP violation');
  });

  it('zooms into a range and back', async () => {
    const over = chart().locator('.u-over');
    const box = await over.boundingBox();
    await vscode.page.mouse.move(box.x + box.width * 0.2, box.y + box.height / 2);
    await vscode.page.mouse.down();
    await vscode.page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2, { steps: 5 });
    await vscode.page.mouse.up();
    await until(async () => (await points()) < 240, 'fewer points in the zoomed range', 10_000);
    await vscode.screenshot('zoomed');
    await chart().locator('#reset').click();
    await until(async () => (await points()) === 240, 'all points after reset', 10_000);
  });

  it('follows a theme change: the run colours come from the new theme', async () => {
    const swatch = () => chart().locator('#runs .swatch').first().evaluate((el) => el.style.background);
    const before = await swatch();
    // A workspace setting: VS Code applies it live, as when the user picks a theme.
    mkdirSync(join(workspace, '.vscode'), { recursive: true });
    writeFileSync(join(workspace, '.vscode', 'settings.json'), JSON.stringify({ 'workbench.colorTheme': 'Default Dark Modern' }));
    await until(async () => (await swatch()) !== before && (await swatch()), 'the swatch to take the dark theme\'s colour', 20_000);
    copyFileSync(await vscode.screenshot('loss-chart-dark'), join(DOCS, 'loss-chart-dark.png'));
  });
});
