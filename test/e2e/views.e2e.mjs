// End to end in a real VS Code: the Runs and Snapshots views follow the queue; a run is stopped
// after a step from its context menu and resumed from its checkpoint; a rollback is made from a
// snapshot's context menu. The trainer is the engine tests' TEST DOUBLE (protocol v1, trains
// nothing); TRAINER_DOUBLE_HOLD_AT holds each run at step 5, so the UI acts at a known step.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { e2eAvailable, startVsCode, until, ROOT, writeTokenizerModel } from './harness.mjs';

const OUT = join(ROOT, 'out', 'e2e-screenshots', 'views');
const DOCS = join(ROOT, 'docs', 'images');
const ex = (n) => JSON.stringify({ messages: [{ role: 'user', content: `Question ${n}?` }, { role: 'assistant', content: `Answer ${n}.` }] });
const readJson = (f) => JSON.parse(readFileSync(f, 'utf8'));

describe('Runs and Snapshots views in a real VS Code', { skip: !e2eAvailable() && 'e2e tools missing: run bash scripts/setup-e2e.sh' }, () => {
  let vscode;
  let ws;
  let q;
  before(async () => {
    rmSync(OUT, { recursive: true, force: true });
    ws = mkdtempSync(join(tmpdir(), 'lq-views-ws-'));
    q = join(ws, '.lora-queue');
    writeFileSync(join(ws, 'first.jsonl'), [ex(1), ex(2), ex(3)].join('\n') + '\n');
    writeFileSync(join(ws, 'second.jsonl'), [ex(4), ex(5)].join('\n') + '\n');
    writeTokenizerModel(join(ws, 'model'));
    const double = join(ROOT, 'test', 'engine', 'fixtures', 'trainer-double.mjs');
    writeFileSync(join(ws, 'lora-queue.json'), JSON.stringify({
      baseModel: 'model', maxSeqLength: 512,
      trainer: { command: [process.execPath, double], env: { TRAINER_DOUBLE_HOLD_AT: '5' }, stopGraceSeconds: 10 },
      queue: { intakeStableSeconds: 0 },
    }, null, 2));
    vscode = await startVsCode({ workspace: ws, vsix: join(ROOT, 'dist', 'lora-queue.vsix'), outDir: OUT });
    // A wider side bar, so that the screenshots show the views' descriptions whole.
    const { page } = vscode;
    const bar = await page.locator('.part.sidebar').boundingBox();
    await page.mouse.move(bar.x + bar.width + 1, bar.y + bar.height / 2);
    await page.mouse.down();
    await page.mouse.move(bar.x + bar.width + 260, bar.y + bar.height / 2, { steps: 5 });
    await page.mouse.up();
    await page.mouse.move(bar.x + bar.width + 700, bar.y + 10); // off the sash, which stays highlighted under the mouse
  });
  after(async () => {
    await vscode?.stop();
  });

  /** The rows of one view of the LoRA Queue container, as text. */
  const rows = (view) => vscode.page.locator(`.pane:has(.pane-header[aria-label^="${view}"]) .pane-body .monaco-list-row`);
  const rowTexts = (view) => rows(view).allInnerTexts();
  const state = () => readJson(join(q, 'state.json'));
  /** Waits for a row of `view` that passes `test`; a timeout says what the rows were. */
  async function waitRow(view, test, what, timeoutMs = 60_000) {
    let seen = [];
    try {
      return await until(async () => (seen = await rowTexts(view)).find(test), what, timeoutMs);
    } catch (e) {
      await vscode.screenshot('timeout');
      throw new Error(`${e.message}; rows of ${view}: ${JSON.stringify(seen)}`);
    }
  }
  /**
   * Right-clicks the row of `view` whose text matches `match`, picks `item` from its context menu,
   * and waits for `effect`; the whole gesture is retried until the effect shows.
   */
  async function contextMenu(view, match, item, effect) {
    const { page } = vscode;
    await until(async () => {
      await page.keyboard.press('Escape');
      await rows(view).filter({ hasText: match }).first().click({ button: 'right', timeout: 5000 });
      // Hover focuses the item and Enter runs it: a mouse click right after the menu opened is often ignored.
      await page.getByRole('menuitem', { name: item }).first().hover({ timeout: 5000 });
      await page.keyboard.press('Enter');
      return await until(effect, `the effect of ${item}`, 10_000).catch(() => false);
    }, `"${item}" in the context menu of ${match} in ${view}`, 90_000, 500);
  }

  it('enqueues from the palette and shows the run with step/total in the Runs view', async () => {
    const { page } = vscode;
    const status = page.locator('.statusbar-item', { hasText: 'LoRA Queue' }).first();
    await until(async () => /LoRA Queue: idle/.test(await status.innerText()), 'the status bar item (engine owner, idle)', 90_000);
    await vscode.openFile('first.jsonl');
    await vscode.command('LoRA Queue: Enqueue Current File');
    await vscode.command('LoRA Queue: Focus on Runs View');
    await waitRow('Runs', (t) => /first\.jsonl/.test(t) && /running · step 5\/20 · loss \d\.\d{4}/.test(t), 'the run at step 5/20 in the Runs view', 90_000);
    copyFileSync(await vscode.screenshot('runs-view-running'), join(DOCS, 'runs-view.png'));
  });

  it('stops after the step from the run\'s context menu: the queue pauses with the dataset at its head', async () => {
    await contextMenu('Runs', /running/, 'Stop Training After This Step', async () => (await rowTexts('Runs')).some((t) => /stopping|stopped/.test(t)));
    await waitRow('Runs', (t) => /first\.jsonl/.test(t) && /stopped · step 5\/20/.test(t), 'the run stopped at step 5 in the Runs view', 60_000);
    const s = state();
    assert.equal(s.paused, true, 'the queue is paused');
    assert.equal(s.current, null);
    const queued = readdirSync(join(q, 'queue')).filter((f) => f.endsWith('.jsonl'));
    assert.deepEqual(queued, ['first.jsonl'], 'the dataset is back in the queue');
    const meta = readJson(join(q, 'queue', 'first.jsonl.meta.json'));
    assert.match(meta.resumeFrom, /checkpoints[/\\]step-5$/, 'it resumes from the step-5 checkpoint');
    await vscode.command('LoRA Queue: Focus on Queue View');
    await waitRow('Queue', (t) => /^Paused/.test(t), 'Paused in the Queue view');
    await vscode.screenshot('stopped-after-step');
  });

  it('resumes: the run continues from the checkpoint and finishes; the snapshot is current', async () => {
    const stoppedRun = state().history.at(-1).runId;
    await vscode.command('LoRA Queue: Resume Queue');
    // The run's end is in state.json a moment after the dataset reaches done/, and the snapshot after that.
    const resumed = await until(() => state().history.find((h) => h.dataset === 'first.jsonl' && h.outcome === 'done'), 'the resumed run to end', 90_000);
    assert.equal(resumed.kind, 'success');
    assert.ok(existsSync(join(q, 'done', 'first.jsonl')));
    await until(() => existsSync(join(q, 'current.json')) && readJson(join(q, 'current.json')).snapshot, 'the first snapshot');
    const job = readJson(join(q, 'runs', resumed.runId, 'job.json'));
    assert.equal(job.resume_from, join(q, 'runs', stoppedRun, 'checkpoints', 'step-5'));
    const start = readFileSync(join(q, 'runs', resumed.runId, 'events.jsonl'), 'utf8').split('\n').map((l) => l && JSON.parse(l)).find((e) => e?.type === 'start');
    assert.equal(start.resumed_from_step, 5);
    await vscode.command('LoRA Queue: Focus on Runs View');
    await waitRow('Runs', (t) => /first\.jsonl/.test(t) && /success · step 20\/20/.test(t), 'the finished run in the Runs view');
    await vscode.command('LoRA Queue: Focus on Snapshots View');
    await waitRow('Snapshots', (t) => t.includes(resumed.runId) && /^first\.jsonl/.test(t) && /current · verified · step 20 · loss \d\.\d{4}/.test(t), 'the snapshot marked current');
  });

  it('rolls back to the older snapshot from its context menu, after a confirmation', async () => {
    const { page } = vscode;
    const older = readJson(join(q, 'current.json')).snapshot;
    await vscode.openFile('second.jsonl');
    await vscode.command('LoRA Queue: Enqueue Current File');
    // This run holds at step 5 too: let it go on (the double's release file).
    const run = await until(() => state().current?.runId, 'the second run to start', 60_000);
    writeFileSync(join(q, 'runs', run, 'release'), '');
    await until(() => existsSync(join(q, 'done', 'second.jsonl')), 'second.jsonl in done/', 90_000);
    await until(() => readJson(join(q, 'current.json')).snapshot !== older, 'the second snapshot to become current');
    const newer = readJson(join(q, 'current.json')).snapshot;
    await vscode.command('LoRA Queue: Focus on Snapshots View');
    await waitRow('Snapshots', (t) => t.includes(newer) && /current/.test(t), 'two snapshots, the newer current');

    const dialog = page.locator('.monaco-dialog-box');
    await contextMenu('Snapshots', older, 'Roll Back to This Snapshot', () => dialog.isVisible());
    assert.match(await dialog.innerText(), new RegExp(`Roll back to snapshot ${older}\\?`));
    await vscode.screenshot('rollback-confirm');
    await dialog.locator('.monaco-button', { hasText: 'Roll Back' }).click();
    await waitRow('Snapshots', (t) => t.includes(older) && /current · verified/.test(t), 'the older snapshot marked current', 30_000);
    assert.ok((await rowTexts('Snapshots')).some((t) => t.includes(newer) && !/current/.test(t)), 'the newer one is no longer current');
    assert.equal(readJson(join(q, 'current.json')).snapshot, older, 'current.json agrees');
    const cli = JSON.parse(execFileSync(process.execPath, [join(ROOT, 'bin', 'lora-queue.js'), 'snapshots', '--format', 'json', '--config', join(ws, 'lora-queue.json')], { encoding: 'utf8' }));
    assert.deepEqual(cli.filter((s) => s.current).map((s) => s.id), [older], '`lora-queue snapshots` agrees');
    copyFileSync(await vscode.screenshot('snapshots-view'), join(DOCS, 'snapshots-view.png'));
  });

  it('tells once when a dataset fails, and "Show Details" opens its reason', async () => {
    const { page } = vscode;
    // The double's `data` mode: the trainer rejects the data, so the dataset goes to failed/.
    writeFileSync(join(ws, 'broken__data.jsonl'), ex(6) + '\n');
    await vscode.openFile('broken__data.jsonl');
    await vscode.command('LoRA Queue: Enqueue Current File');
    const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'Dataset broken__data.jsonl failed' });
    await toast.first().waitFor({ timeout: 90_000 });
    assert.match(await toast.first().innerText(), /Dataset broken__data\.jsonl failed: data: /);
    await vscode.screenshot('dataset-failed');
    await toast.first().locator('.monaco-button', { hasText: 'Show Details' }).click();
    await page.locator('.tab[aria-label^="broken__data.jsonl.reason.json"]').waitFor({ timeout: 30_000 });
    await waitRow('Runs', (t) => /broken__data\.jsonl/.test(t) && t.includes('data · '), 'the failed run in the Runs view');
    assert.equal(await toast.count(), 0, 'the notification is not repeated');
  });

  it('opens a run\'s log, reveals a checkpoint in the Explorer, and opens the config', async () => {
    const { page } = vscode;
    await vscode.command('View: Close All Editors');
    await vscode.command('LoRA Queue: Focus on Runs View');
    await rows('Runs').filter({ hasText: /^second\.jsonl/ }).first().click(); // a finished run shows collapsed: expand it
    await rows('Runs').filter({ hasText: 'trainer.log' }).first().click();
    await page.locator('.tab[aria-label^="trainer.log"]').waitFor({ timeout: 30_000 });
    const selected = page.locator('.explorer-folders-view .monaco-list-row.selected');
    await contextMenu('Runs', 'checkpoint step 20', 'Reveal in Explorer View', async () => /step-20/.test(await selected.first().innerText({ timeout: 1000 })));
    await vscode.command('LoRA Queue: Open Config');
    await page.locator('.tab[aria-label^="lora-queue.json"]').waitFor({ timeout: 30_000 });
  });

  it('has a walkthrough: config, first dataset, enqueue, the chart', async () => {
    const { page } = vscode;
    await vscode.command('Welcome: Open Walkthrough...');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Train LoRA adapters from a queue' }).first().click({ timeout: 30_000 });
    const steps = page.locator('.getting-started-step .step-title');
    await until(async () => (await steps.allInnerTexts()).length === 4, 'the walkthrough steps', 30_000);
    assert.deepEqual(await steps.allInnerTexts(), ['Configure the queue', 'Write your first dataset', 'Enqueue it', 'Watch the loss chart']);
    await vscode.screenshot('walkthrough');
  });
});
