/**
 * The mask rules as the editor shows them, with real tokenizers: a Qwen 3 multi-turn chat trains
 * per turn and the hover, CodeLens and preview say so; a trainingChatTemplate is named; a template
 * that raises (Gemma 3's alternation check) and an example no rule can mask get a diagnostic on
 * their line.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { CodeLens, Hover, MarkupContent } from 'vscode-languageserver-protocol';
import type { LossMaskPreviewRequest } from '../../common/protocol';
import { loadFixtures, modelFolder, REPO } from '../tokens/fixtures';
import { LspClient } from './client';

const doc = loadFixtures();
const line = (name: string): string => {
  const e = doc.examples.find((x) => x.name === name)!;
  return JSON.stringify({ messages: e.messages, ...(e.tools ? { tools: e.tools } : {}) });
};

async function workspace(config: Record<string, unknown>, lines: string[]): Promise<{ lsp: LspClient; uri: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'lq-lsprules-'));
  writeFileSync(join(dir, 'lora-queue.json'), JSON.stringify({ maxSeqLength: 4096, trainer: { command: [process.execPath] }, ...config }));
  const lsp = new LspClient(dir);
  await lsp.initialize(pathToFileURL(dir).href);
  const uri = pathToFileURL(join(dir, 'data.jsonl')).href;
  await lsp.open(uri, lines.join('\n') + '\n');
  return { lsp, uri };
}

async function lensTitle(lsp: LspClient, uri: string): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const lenses = (await lsp.conn.sendRequest('textDocument/codeLens', { textDocument: { uri } })) as CodeLens[];
    const title = lenses[0]?.command?.title ?? '';
    if ((title && !title.includes('counting')) || Date.now() > deadline) return title;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('Qwen 3 multi-turn chats in the editor', () => {
  let ws: { lsp: LspClient; uri: string };
  before(async () => {
    ws = await workspace({ baseModel: modelFolder('qwen3') }, [line('multi_turn'), line('tool_calls_null_content')]);
  });
  after(async () => ws.lsp.shutdown());

  it('the template\'s own exception is a chat-template error on its line; the multi-turn line has none', async () => {
    const p = await ws.lsp.diagnostics(ws.uri, (x) => x.diagnostics.some((d) => d.code === 'chat-template'), 60_000);
    const d = p.diagnostics.filter((x) => x.code === 'chat-template');
    assert.deepEqual(d.map((x) => x.range.start.line), [1]);
    assert.equal(d[0]!.severity, 1);
    assert.match(String(d[0]!.message), /^the chat template cannot render this example: /);
    assert.ok(!p.diagnostics.some((x) => x.range.start.line === 0 && x.severity === 1), JSON.stringify(p.diagnostics));
  });

  it('hover, CodeLens and preview say it trains per turn, with the fixture\'s figures', async () => {
    const want = doc.expected['qwen3']!['multi_turn']!;
    const title = await lensTitle(ws.lsp, ws.uri);
    assert.match(title, /· rendering: 1 per turn$/);
    const h = (await ws.lsp.conn.sendRequest('textDocument/hover', { textDocument: { uri: ws.uri }, position: { line: 0, character: 3 } })) as Hover;
    const v = (h.contents as MarkupContent).value;
    const tokens = want.sequences!.reduce((a, s) => a + s.tokens, 0);
    assert.ok(v.startsWith(`**${tokens} tokens** after the chat template`), v);
    assert.match(v, new RegExp(`\\*\\*${want.trainable} trainable\\*\\*`));
    assert.match(v, /_Rendering: the template rewrites earlier turns, so it trains as 2 sequences, one per assistant turn as inference renders it \(historyRewriting "perTurn"\)\._/);
    const r = (await ws.lsp.conn.sendRequest('loraQueue/lossMaskPreview', { uri: ws.uri, line: 0 })) as LossMaskPreviewRequest.Result;
    assert.ok('segments' in r, JSON.stringify(r));
    assert.equal(r.tokens, tokens);
    assert.match(r.rendering!, /2 sequences/);
    for (const [k, s] of want.sequences!.entries()) {
      assert.equal(r.segments.filter((x) => x.sequence === k && x.trainable).map((x) => x.text).join(''), s.trainedText);
    }
  });
});

describe('trainingChatTemplate in the editor', () => {
  let ws: { lsp: LspClient; uri: string };
  before(async () => {
    ws = await workspace({ baseModel: modelFolder('qwen3'), trainingChatTemplate: join(REPO, doc.models['qwen3_trl']!.trainingChatTemplate!) }, [line('multi_turn')]);
  });
  after(async () => ws.lsp.shutdown());

  it('counts with it and names it', async () => {
    const want = doc.expected['qwen3_trl']!['multi_turn']!;
    const title = await lensTitle(ws.lsp, ws.uri);
    assert.equal(title, `1 examples · ${want.tokens} tokens · ${want.trainable} trainable · rendering: the training chat template qwen3_training.jinja, 1 by {% generation %}`);
  });
});

describe('Gemma 3 in the editor', () => {
  let ws: { lsp: LspClient; uri: string };
  before(async () => {
    const twoUsers = JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }, { role: 'user', content: 'Still there?' }, { role: 'assistant', content: 'Yes.' }] });
    ws = await workspace({ baseModel: modelFolder('gemma3') }, [line('basic'), twoUsers]);
  });
  after(async () => ws.lsp.shutdown());

  it('roles that do not alternate: Gemma 3\'s own exception on the line', async () => {
    const p = await ws.lsp.diagnostics(ws.uri, (x) => x.diagnostics.some((d) => d.code === 'chat-template'), 60_000);
    const d = p.diagnostics.find((x) => x.code === 'chat-template')!;
    assert.equal(d.range.start.line, 1);
    assert.match(String(d.message), /Conversation roles must alternate user\/assistant\/user\/assistant/);
  });
});
