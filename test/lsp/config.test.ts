/** Config diagnostics in the language server, and datasets judged by the configuration in force. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { LspClient } from './client';

describe('lora-queue.json in the language server', () => {
  let lsp: LspClient;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lq-lspcfg-'));
    lsp = new LspClient(dir);
    await lsp.initialize(pathToFileURL(dir).href);
  });
  after(async () => {
    await lsp.shutdown();
  });

  it('publishes config errors with ranges, says which config is in force, and datasets keep the last good one', async () => {
    const cfgFile = join(dir, 'lora-queue.json');
    const cfgUri = pathToFileURL(cfgFile).href;
    const good = JSON.stringify({ roles: { allowDeveloper: true }, trainer: { command: [process.execPath] } }, null, 2);
    writeFileSync(cfgFile, good);
    const dataUri = pathToFileURL(join(dir, 'dev.jsonl')).href;
    const dev = '{"messages":[{"role":"developer","content":"x"},{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}\n';
    await lsp.open(dataUri, dev);
    assert.deepEqual((await lsp.diagnostics(dataUri)).diagnostics, [], 'developer allowed by the config');

    await lsp.open(cfgUri, good);
    const first = await lsp.diagnostics(cfgUri);
    assert.deepEqual(first.diagnostics.map((d) => d.code), ['config-base-model'], 'only the missing baseModel warning');

    // Break it on disk and in the editor: the server keeps the last good config for datasets.
    const broken = good.replace('"allowDeveloper": true', '"allowDevloper": false');
    writeFileSync(cfgFile, broken);
    await lsp.change(cfgUri, 2, [{ text: broken }]);
    const p = await lsp.diagnostics(cfgUri, (x) => x.version === 2);
    const unknown = p.diagnostics.find((d) => d.code === 'config-unknown-key')!;
    assert.equal(unknown.message, 'unknown key "allowDevloper" in roles — did you mean "allowDeveloper"?');
    assert.deepEqual(unknown.range.start, { line: 2, character: 4 });
    const status = p.diagnostics.find((d) => d.code === 'config-not-in-force')!;
    assert.match(String(status.message), /last valid one .* stays in force/);

    await lsp.conn.sendNotification('textDocument/didSave', { textDocument: { uri: cfgUri } });
    await lsp.change(dataUri, 2, [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: ' ' }]);
    const data = await lsp.diagnostics(dataUri, (x) => x.version === 2);
    assert.deepEqual(data.diagnostics, [], 'still judged by the last good config');
  });
});
