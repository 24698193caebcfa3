/** The language server over stdio, driven by a real JSON-RPC client: open, change, code actions, close. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CodeAction, Diagnostic, TextEdit } from 'vscode-languageserver-protocol';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { LspClient } from './client';

const URI = 'file:///tmp/lsp-test/data.jsonl';
const ex = (n: number, role = 'assistant'): string => `{"messages":[{"role":"user","content":"Q${n}"},{"role":"${role}","content":"A${n}"}]}`;

const summary = (ds: Diagnostic[]): string[] => ds.map((d) => `${d.range.start.line + 1}:${d.range.start.character + 1} ${String(d.code)}`);

function applyAction(text: string, action: CodeAction, uri: string): string {
  const edits = action.edit!.changes![uri] as TextEdit[];
  return TextDocument.applyEdits(TextDocument.create(uri, 'jsonl', 0, text), edits);
}

describe('language server over stdio', () => {
  let lsp: LspClient;
  before(async () => {
    lsp = new LspClient();
    const init = (await lsp.initialize()) as { capabilities: { textDocumentSync: { change: number } } };
    assert.equal(init.capabilities.textDocumentSync.change, 2, 'incremental sync');
  });
  after(async () => {
    await lsp.shutdown();
  });

  it('publishes diagnostics on open, with ranges and codes', async () => {
    await lsp.open(URI, [ex(1), ex(2, 'asistant'), '', ex(1)].join('\n') + '\n');
    const p = await lsp.diagnostics(URI);
    assert.deepEqual(summary(p.diagnostics), ['2:53 unknown-role', '3:1 blank-line', '4:1 duplicate-example']);
    assert.equal(p.diagnostics[2]!.message, 'duplicate example: the same as line 1');
    assert.equal(p.diagnostics[0]!.source, 'lora-queue');
  });

  it('an incremental change revalidates the touched line and keeps duplicates right', async () => {
    // Line 1 becomes different: line 4 is no longer a duplicate of it.
    await lsp.change(URI, 2, [{ range: { start: { line: 0, character: 39 }, end: { line: 0, character: 41 } }, text: 'Q9' }]);
    let p = await lsp.diagnostics(URI, (x) => x.version === 2);
    assert.deepEqual(summary(p.diagnostics), ['2:53 unknown-role', '3:1 blank-line']);
    // Delete the blank line: line numbers shift up.
    await lsp.change(URI, 3, [{ range: { start: { line: 2, character: 0 }, end: { line: 3, character: 0 } }, text: '' }]);
    p = await lsp.diagnostics(URI, (x) => x.version === 3);
    assert.deepEqual(summary(p.diagnostics), ['2:53 unknown-role']);
    // Insert two lines at the top, one of them a duplicate of (old) line 3.
    await lsp.change(URI, 4, [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: `${ex(1)}\n{"messages": 5}\n` }]);
    p = await lsp.diagnostics(URI, (x) => x.version === 4);
    assert.deepEqual(summary(p.diagnostics), ['2:14 messages-not-array', '4:53 unknown-role', '5:1 duplicate-example']);
    assert.equal(p.diagnostics[2]!.message, 'duplicate example: the same as line 1');
  });

  it('a burst of edits publishes once for the last version', async () => {
    const uri = 'file:///tmp/lsp-test/burst.jsonl';
    await lsp.open(uri, ex(1) + '\n');
    await lsp.diagnostics(uri);
    let text = ex(1);
    for (let v = 2; v <= 40; v++) {
      const ch = v % 2 ? 'a' : 'b';
      await lsp.change(uri, v, [{ range: { start: { line: 0, character: 39 }, end: { line: 0, character: 40 } }, text: ch }]);
      text = text.slice(0, 39) + ch + text.slice(40);
    }
    await lsp.change(uri, 41, [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } }, text: '[' }]);
    const p = await lsp.diagnostics(uri, (x) => x.version === 41);
    assert.deepEqual(summary(p.diagnostics), ['1:12 json-syntax']);
    await lsp.close(uri);
  });

  it('every quick fix, applied through code actions, clears its diagnostic', async () => {
    const lines = [
      ex(1, 'asistant'),
      '{"conversations":[{"from":"human","value":"hi"},{"from":"gpt","value":"yo"}]}',
      '{"prompt":"p","completion":"c"}',
      ex(4).replace(']}', ',]}'),
      '',
      `{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b","wieght":0}]}`,
    ];
    const uri = 'file:///tmp/lsp-test/fixes.jsonl';
    let text = '\ufeff' + lines.join('\n') + '\n';
    let version = 1;
    await lsp.open(uri, text, version);
    let p = await lsp.diagnostics(uri, (x) => x.version === version);
    assert.deepEqual(summary(p.diagnostics), ['1:1 bom', '1:54 unknown-role', '2:2 missing-messages', '3:2 missing-messages', '4:80 json-syntax', '5:1 blank-line', '6:78 unknown-key']);
    // Fix from the bottom up, one action at a time, revalidating after each.
    for (let k = p.diagnostics.length - 1; k >= 0; k--) {
      const d = p.diagnostics[k]!;
      const actions = await lsp.codeActions(uri, [d]);
      assert.equal(actions.length, 1, `one fix for ${String(d.code)}`);
      text = applyAction(text, actions[0]!, uri);
      version++;
      await lsp.change(uri, version, [{ text }]);
      p = await lsp.diagnostics(uri, (x) => x.version === version);
      assert.ok(!p.diagnostics.some((x) => x.code === d.code && x.range.start.line === d.range.start.line), `${String(d.code)} fixed: ${JSON.stringify(p.diagnostics)}`);
    }
    assert.deepEqual(p.diagnostics, []);
    assert.equal(text.split('\n').length, 6, 'the blank line was deleted');
  });

  it('a lone CR: the CLI\'s lines, the error on the CR, and its fix and the Alpaca fix through code actions', async () => {
    const uri = 'file:///tmp/lsp-test/cr.jsonl';
    const head = '{"messages":[{"role":"user","content":"q"},';
    let text = `${head}\r{"role":"assistant","content":"a"}]}\n{"instruction":"Say hi","output":"hi"}\n${ex(3, 'asistant')}\n`;
    let version = 1;
    await lsp.open(uri, text, version);
    let p = await lsp.diagnostics(uri, (x) => x.version === version);
    // The CR breaks the editor's line 1 in two, so the CLI's lines 2 and 3 are the editor's 3 and 4.
    assert.deepEqual(summary(p.diagnostics), [`1:${head.length + 1} lone-cr`, '3:2 missing-messages', '4:53 unknown-role']);
    assert.deepEqual(p.diagnostics[0]!.range, { start: { line: 0, character: head.length }, end: { line: 1, character: 0 } });
    for (const code of ['missing-messages', 'lone-cr']) {
      const d = p.diagnostics.find((x) => x.code === code)!;
      const actions = await lsp.codeActions(uri, [d]);
      assert.equal(actions.length, 1, `one fix for ${code}`);
      text = applyAction(text, actions[0]!, uri);
      version++;
      await lsp.change(uri, version, [{ text }]);
      p = await lsp.diagnostics(uri, (x) => x.version === version);
    }
    assert.deepEqual(summary(p.diagnostics), ['3:53 unknown-role']);
    assert.equal(text.split('\n')[1], '{"messages":[{"role":"user","content":"Say hi"},{"role":"assistant","content":"hi"}]}');
  });

  it('closing a document clears its diagnostics', async () => {
    await lsp.close(URI);
    await lsp.diagnostics(URI, (x) => x.diagnostics.length === 0 && x.version === undefined);
  });
});
