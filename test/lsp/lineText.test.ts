/**
 * LineText against vscode-languageserver-textdocument's TextDocument, the reference for how LSP
 * changes apply to the text (and a fresh TextDocument for how that text splits into lines): random texts with every kind of line break (\r\n, \n, a lone \r), random ranges
 * (also backwards, past line ends and past the last line) and random inserted text; after every
 * change both must hold the same text and the same lines.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { LineText } from '../../server/src/lsp/lineText';

const piece = fc.constantFrom('a', 'b', '{"m":1}', 'é', '😀', '\n', '\r\n', '\r', '\r\r', '\n\n', '');
const text = fc.array(piece, { maxLength: 12 }).map((a) => a.join(''));
const pos = fc.record({ line: fc.integer({ min: -1, max: 6 }), character: fc.integer({ min: -1, max: 9 }) });
const change = fc.record({ start: pos, end: pos, text });

function linesOf(doc: TextDocument): string[] {
  const out: string[] = [];
  for (let i = 0; i < doc.lineCount; i++) {
    const s = doc.getText({ start: { line: i, character: 0 }, end: { line: i, character: Number.MAX_SAFE_INTEGER } });
    out.push(s.replace(/(\r\n|\r|\n)$/, ''));
  }
  return out;
}

describe('LineText', () => {
  it('holds the same text and lines as TextDocument after any sequence of changes', () => {
    fc.assert(
      fc.property(text, fc.array(change, { maxLength: 8 }), (initial, changes) => {
        let expected = initial;
        const lt = new LineText(initial, 1);
        for (const c of changes) {
          const range = { start: { line: Math.max(0, c.start.line), character: Math.max(0, c.start.character) }, end: { line: Math.max(0, c.end.line), character: Math.max(0, c.end.character) } };
          // Each change applied to a fresh TextDocument: an updated one miscounts its lines after a
          // change whose range lies past the end (it does not clamp the range's lines), and then
          // applies later changes at the wrong offsets.
          expected = TextDocument.update(TextDocument.create('file:///t.jsonl', 'jsonl', 1, expected), [{ range, text: c.text }], 2).getText();
          const span = lt.apply(range, c.text);
          assert.ok(span.startLine >= 0 && span.startLine <= span.endLine && span.newLineCount >= 1);
          assert.equal(lt.getText(), expected);
          const fresh = TextDocument.create('file:///t.jsonl', 'jsonl', 1, expected);
          assert.equal(lt.lineCount, fresh.lineCount);
          assert.deepEqual(Array.from({ length: lt.lineCount }, (_, i) => lt.line(i)), linesOf(fresh));
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('says which lines a change replaced, merging a lone \\r with a \\n that comes to follow it', () => {
    const lt = new LineText('x\ry\nz', 1);
    assert.equal(lt.lineCount, 3);
    // Deleting "y" brings '\r' and '\n' together: one \r\n break, one line fewer.
    assert.deepEqual(lt.apply({ start: { line: 1, character: 0 }, end: { line: 1, character: 1 } }, ''), { startLine: 0, endLine: 1, newLineCount: 1 });
    assert.equal(lt.getText(), 'x\r\nz');
    assert.equal(lt.lineCount, 2);
    assert.deepEqual(lt.end(), { line: 1, character: 1 });
  });
});
