/** What VS Code hides from the server's text (a BOM, invalid UTF-8) is still reported, from the bytes on disk. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { LspClient } from './client';

const good = '{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]}';

describe('bytes on disk', () => {
  let lsp: LspClient;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lq-disk-'));
    lsp = new LspClient(dir);
    await lsp.initialize(pathToFileURL(dir).href);
  });
  after(async () => {
    await lsp.shutdown();
  });

  it('reports a BOM and an invalid byte the editor text no longer shows, and clears them once saved clean', async () => {
    const file = join(dir, 'latin1.jsonl');
    const line2 = Buffer.concat([Buffer.from('{"messages":[{"role":"user","content":"caf'), Buffer.from([0xe9]), Buffer.from('"},{"role":"assistant","content":"ok"}]}\n')]);
    writeFileSync(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(good + '\n'), line2]));
    const uri = pathToFileURL(file).href;
    // What VS Code sends: the BOM stripped, the bad byte decoded as U+FFFD.
    const editorText = good + '\n' + line2.toString('utf8');
    await lsp.open(uri, editorText);
    const p = await lsp.diagnostics(uri);
    assert.deepEqual(p.diagnostics.map((d) => `${d.range.start.line + 1}:${d.range.start.character + 1} ${String(d.code)}`), ['1:1 bom', '2:43 invalid-utf8']);
    assert.match(String(p.diagnostics[1]!.message), /byte 0xe9/);
    // The user saves it as UTF-8 without BOM: the disk is clean now.
    writeFileSync(file, editorText);
    await lsp.conn.sendNotification('textDocument/didSave', { textDocument: { uri } });
    await lsp.diagnostics(uri, (x) => x.diagnostics.length === 0);
  });
});
