// End to end in a real VS Code: the packaged extension shows dataset diagnostics in the Problems
// panel, updates them as the user types, and applies a quick fix.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { e2eAvailable, startVsCode, until, ROOT } from './harness.mjs';

const OUT = join(ROOT, 'out', 'e2e-screenshots');

describe('diagnostics in a real VS Code', { skip: !e2eAvailable() && 'e2e tools missing: run bash scripts/setup-e2e.sh' }, () => {
  let vscode;
  before(async () => {
    const ws = mkdtempSync(join(tmpdir(), 'lq-ws-'));
    writeFileSync(join(ws, 'bad.jsonl'), [
      '{"messages":[{"role":"user","content":"Hi"},{"role":"asistant","content":"Hello"}]}',
      '{"messages":[{"role":"user","content":"Bye"},{"role":"assistant","content":"See you"},]}',
      '{"messages":[{"role":"user","content":"Why?"},{"role":"assistant","content":"Because."}]}',
    ].join('\n') + '\n');
    copyFileSync(join(ROOT, 'examples', 'datasets', 'bad-mixed.jsonl'), join(ws, 'mixed.jsonl'));
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

  it('shows the mixed example file with every kind of mistake', async () => {
    await vscode.openFile('mixed.jsonl');
    await vscode.command('View: Focus Problems');
    await until(async () => (await vscode.problems()).some((t) => t.includes('unmatched-tool-call-id')), 'mixed.jsonl diagnostics');
    await vscode.screenshot('mixed-problems');
  });
});
