/** Token features in the language server, with a real tokenizer: too-long, hover, CodeLens, stats, loss-mask preview. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { CodeLens, Hover, MarkupContent } from 'vscode-languageserver-protocol';
import { DatasetStatsRequest, LossMaskPreviewRequest } from '../../common/protocol';
import { modelFolder } from '../tokens/fixtures';
import { LspClient } from './client';

const short = '{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"}]}';
const long = JSON.stringify({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Tell me a story. '.repeat(20) }, { role: 'assistant', content: 'Once upon a time there was a queue. '.repeat(20), weight: 1 }] });

describe('token counts in the language server', () => {
  let lsp: LspClient;
  let uri: string;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lq-lsptok-'));
    writeFileSync(join(dir, 'lora-queue.json'), JSON.stringify({ baseModel: modelFolder('llama3'), maxSeqLength: 128, trainer: { command: [process.execPath] } }));
    lsp = new LspClient(dir);
    await lsp.initialize(pathToFileURL(dir).href);
    uri = pathToFileURL(join(dir, 'data.jsonl')).href;
    await lsp.open(uri, [short, long, short.replace('Hi', 'Hey')].join('\n') + '\n');
  });
  after(async () => {
    await lsp.shutdown();
  });

  it('publishes syntax diagnostics at once, then too-long when the counts arrive', async () => {
    const p = await lsp.diagnostics(uri, (x) => x.diagnostics.some((d) => d.code === 'too-long'), 60_000);
    const d = p.diagnostics.find((x) => x.code === 'too-long')!;
    assert.equal(d.range.start.line, 1);
    assert.equal(d.severity, 2);
    assert.match(String(d.message), /^example is [\d,]+ tokens after the chat template, [\d,]+ over maxSeqLength 128; truncation \(right side\) drops [\d,]+ of its [\d,]+ trainable tokens/);
  });

  it('hover shows the count, the trainable share and the roles', async () => {
    const h = (await lsp.conn.sendRequest('textDocument/hover', { textDocument: { uri }, position: { line: 0, character: 5 } })) as Hover;
    const v = (h.contents as MarkupContent).value;
    assert.match(v, /^\*\*\d+ tokens\*\* after the chat template of maxSeqLength 128 · \*\*\d+ trainable\*\* \(\d+%\) · messages: user 1, assistant 1$/);
  });

  it('a CodeLens gives the file totals', async () => {
    const lenses = (await lsp.conn.sendRequest('textDocument/codeLens', { textDocument: { uri } })) as CodeLens[];
    assert.equal(lenses.length, 1);
    assert.match(lenses[0]!.command!.title, /^3 examples · [\d,]+ tokens · [\d,]+ trainable · 1 over 128$/);
  });

  it('datasetStats agrees with the lines', async () => {
    const r = await lsp.conn.sendRequest(DatasetStatsRequest.type, { uri });
    assert.ok('stats' in r, JSON.stringify(r));
    const s = r.stats;
    assert.equal(s.examples, 3);
    assert.equal(s.overLength, 1);
    assert.ok(s.maxTokens > 128 && s.minTokens < 40 && s.tokens > s.trainableTokens && s.trainableTokens > 0);
    assert.deepEqual(s.roles, { user: 3, assistant: 3, system: 1 });
  });

  it('the loss-mask preview marks the assistant text as trainable and the rest as masked', async () => {
    const r = await lsp.conn.sendRequest(LossMaskPreviewRequest.type, { uri, line: 0 });
    assert.ok('segments' in r, JSON.stringify(r));
    const trained = r.segments.filter((s) => s.trainable).map((s) => s.text).join('');
    const masked = r.segments.filter((s) => !s.trainable).map((s) => s.text).join('');
    assert.match(trained, /^Hello!/);
    assert.match(masked, /Hi/);
    assert.doesNotMatch(trained, /Hi/);
  });

  it('an edit recounts the line it touched', async () => {
    await lsp.change(uri, 2, [{ range: { start: { line: 1, character: 0 }, end: { line: 1, character: long.length } }, text: short.replace('Hi', 'Yo') }]);
    await lsp.diagnostics(uri, (x) => x.version === 2 && !x.diagnostics.some((d) => d.code === 'too-long'), 60_000);
    // The new line is counted after the syntax diagnostics: poll the totals until counting is done.
    const deadline = Date.now() + 60_000;
    let title = '';
    for (;;) {
      const lenses = (await lsp.conn.sendRequest('textDocument/codeLens', { textDocument: { uri } })) as CodeLens[];
      title = lenses[0]!.command!.title;
      if (!title.includes('counting') || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(title, /^3 examples · [\d,]+ tokens · [\d,]+ trainable$/);
  });
});
