// End to end in a real VS Code: in an untrusted workspace (Restricted Mode) the extension still
// validates datasets, but starts no engine and no trainer, and says why.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { e2eAvailable, startVsCode, until, ROOT } from './harness.mjs';

const OUT = join(ROOT, 'out', 'e2e-screenshots', 'trust');

describe('an untrusted workspace in a real VS Code', { skip: !e2eAvailable() && 'e2e tools missing: run bash scripts/setup-e2e.sh' }, () => {
  let vscode;
  let ws;
  before(async () => {
    ws = mkdtempSync(join(tmpdir(), 'lq-trust-ws-'));
    writeFileSync(join(ws, 'bad.jsonl'), '{"messages":[{"role":"user","content":"Hi"},{"role":"asistant","content":"Hello"}]}\n');
    mkdirSync(join(ws, 'model'));
    writeFileSync(join(ws, 'model', 'config.json'), '{}');
    writeFileSync(join(ws, 'model', 'tokenizer.json'), '{}');
    // A trainer that would leave a mark if it ever ran.
    writeFileSync(join(ws, 'lora-queue.json'), JSON.stringify({ baseModel: 'model', trainer: { command: [process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(join(ws, 'TRAINER-RAN'))}, '')`] }, queue: { intakeStableSeconds: 0 } }));
    // A dataset already in the inbox: an engine would take it in at once.
    mkdirSync(join(ws, '.lora-queue', 'inbox'), { recursive: true });
    writeFileSync(join(ws, '.lora-queue', 'inbox', 'waiting.jsonl'), '{"messages":[{"role":"user","content":"Q"},{"role":"assistant","content":"A"}]}\n');
    vscode = await startVsCode({ workspace: ws, vsix: join(ROOT, 'dist', 'lora-queue.vsix'), trusted: false, outDir: OUT });
  });
  after(async () => {
    await vscode?.stop();
  });

  it('opens in Restricted Mode, validates the dataset, and starts no engine', async () => {
    const { page } = vscode;
    // code-server 4.139 opens an untrusted folder in Restricted Mode with a banner (no modal prompt).
    await until(async () => /Restricted Mode/i.test(await page.locator('.statusbar').innerText()), 'the Restricted Mode badge in the status bar', 60_000);
    await vscode.openFile('bad.jsonl');
    await vscode.command('View: Focus Problems');
    await until(async () => (await vscode.problems()).some((t) => t.includes('unknown-role')), 'the dataset diagnostics in the Problems panel', 90_000);
    const status = page.locator('.statusbar-item', { hasText: 'LoRA Queue' }).first();
    await until(async () => /LoRA Queue: off/.test(await status.innerText()), 'the status bar item saying the engine is off');
    await vscode.command('LoRA Queue: Focus on Queue View');
    const rows = page.locator('.pane:has(.pane-header[aria-label^="Queue"]) .pane-body .monaco-list-row');
    await until(async () => (await rows.allInnerTexts()).some((t) => /The engine is not running/.test(t) && /the workspace is not trusted/.test(t)), 'the Queue view saying why');
    await vscode.screenshot('untrusted');
    assert.equal(existsSync(join(ws, '.lora-queue', 'engine.lock')), false, 'no engine took the queue root');
    assert.deepEqual(readdirSync(join(ws, '.lora-queue')), ['inbox'], 'nothing was written to the queue root');
    assert.deepEqual(readdirSync(join(ws, '.lora-queue', 'inbox')), ['waiting.jsonl'], 'the inbox was not taken in');
    assert.equal(existsSync(join(ws, 'TRAINER-RAN')), false, 'no trainer ran');
  });

  it('refuses queue commands, and says why', async () => {
    const { page } = vscode;
    // Enqueue is hidden from the palette in Restricted Mode; any queue command is refused by the server.
    await vscode.command('LoRA Queue: Resume Queue');
    const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'not trusted' }).first();
    await toast.waitFor({ timeout: 30_000 });
    assert.match(await toast.innerText(), /the workspace is not trusted: datasets are validated, but no engine or trainer runs here/);
    assert.equal(existsSync(join(ws, '.lora-queue', 'engine.lock')), false);
  });
});
