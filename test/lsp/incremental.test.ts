/** Property: after any sequence of edits, the incremental model says exactly what a fresh validation says. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { hashingReady } from '../../server/src/dataset/hash';
import fc from 'fast-check';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { DEFAULT_OPTIONS, type FileDiagnostic } from '../../server/src/dataset/file';
import { DatasetDocument } from '../../server/src/lsp/datasetDocument';
import { LineText } from '../../server/src/lsp/lineText';

const opts = { ...DEFAULT_OPTIONS, maxDiagnostics: 10_000 };

function lineText(doc: TextDocument): (line: number) => string {
  return (line) => doc.getText({ start: { line, character: 0 }, end: { line: line + 1, character: 0 } }).replace(/(\r\n|\r|\n)$/, '');
}

/** The break after each line, as LSP sees it ('\r' for a lone CR). */
function eolAt(doc: TextDocument): (line: number) => string {
  return (line) => {
    const text = doc.getText({ start: { line, character: 0 }, end: { line: line + 1, character: 0 } });
    return /\r\n$/.test(text) ? '\r\n' : /[\r\n]$/.test(text) ? text.slice(-1) : '';
  };
}

function fresh(doc: TextDocument): string {
  const m = new DatasetDocument(opts, doc.lineCount);
  return JSON.stringify(m.diagnostics(lineText(doc), eolAt(doc)));
}

const pieces = ['{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}', '\n', '\r\n', '\r', '{', '}', '"', 'asistant', ',', 'x', '', '\n\n', '{"messages": 1}'];

// The duplicate hash runs on WebAssembly, which starts asynchronously.
before(() => hashingReady());

describe('incremental document model', () => {
  it('matches a fresh validation after random edits', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...pieces), { maxLength: 12 }).map((a) => a.join('')),
        fc.array(fc.tuple(fc.nat(), fc.nat(8), fc.array(fc.constantFrom(...pieces), { maxLength: 3 }).map((a) => a.join(''))), { maxLength: 8 }),
        (initial, edits) => {
          let doc = TextDocument.create('file:///x.jsonl', 'jsonl', 1, initial);
          // As the server does: LineText says which lines a change replaced (a \n typed after a
          // lone \r joins them into one break); TextDocument is the reference.
          const lines = new LineText(initial, 1);
          const model = new DatasetDocument(opts, doc.lineCount);
          const publish = (): FileDiagnostic[] => model.diagnostics((i) => lines.line(i), (i) => lines.eol(i));
          publish();
          let v = 1;
          for (const [at, len, text] of edits) {
            const len0 = doc.getText().length;
            const start = doc.positionAt(len0 ? at % (len0 + 1) : 0);
            const end = doc.positionAt(doc.offsetAt(start) + len);
            model.applyChange(lines.apply({ start, end }, text));
            doc = TextDocument.update(doc, [{ range: { start, end }, text }], ++v);
            assert.equal(model.lineCount, doc.lineCount);
            // Sometimes publish between edits, sometimes not: both must end the same.
            if (at % 2) publish();
          }
          assert.equal(JSON.stringify(publish()), fresh(doc));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
