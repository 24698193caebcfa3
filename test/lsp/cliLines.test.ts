/**
 * The editor reports the CLI's lines. LSP and VS Code end a line at a lone \r too; JSON Lines, the
 * CLI and the validator only at \n. The same files, validated both ways, must give the same
 * diagnostics at the same places in the file (compared as offsets into the text).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { DEFAULT_OPTIONS, type FileDiagnostic } from '../../server/src/dataset/file';
import { hashingReady } from '../../server/src/dataset/hash';
import { validateText } from '../../server/src/dataset/stream';
import { DatasetDocument } from '../../server/src/lsp/datasetDocument';
import { LineText } from '../../server/src/lsp/lineText';

const opts = { ...DEFAULT_OPTIONS, maxDiagnostics: 10_000 };

before(() => hashingReady());

interface Placed {
  code: string;
  message: string;
  start: number;
  end: number;
}

/** The CLI's report, placed by offsets: its lines end only at \n. */
async function cli(text: string): Promise<Placed[]> {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  const at = (line: number, col: number): number => starts[line]! + col;
  return (await validateText(text, opts)).diagnostics.map((d) => ({ code: d.code, message: d.message, start: at(d.line, d.startCol), end: at(d.endLine, d.endCol) }));
}

/** The language server's view of the same text, placed by offsets through TextDocument (LSP's lines). */
function editor(text: string): { placed: Placed[]; raw: FileDiagnostic[] } {
  const lines = new LineText(text, 1);
  const doc = TextDocument.create('file:///x.jsonl', 'jsonl', 1, text);
  const raw = new DatasetDocument(opts, lines.lineCount).diagnostics((i) => lines.line(i), (i) => lines.eol(i));
  const placed = raw.map((d) => ({ code: d.code, message: d.message, start: doc.offsetAt({ line: d.line, character: d.startCol }), end: doc.offsetAt({ line: d.endLine, character: d.endCol }) }));
  return { placed, raw };
}

const byPlace = (a: Placed, b: Placed): number => a.start - b.start || a.end - b.end || a.code.localeCompare(b.code) || a.message.localeCompare(b.message);

const U = '{"role":"user","content":"q"}';
const A = '{"role":"assistant","content":"a"}';
const GOOD = `{"messages":[${U},${A}]}`;

describe('the editor reports the CLI\'s lines (lone CRs)', () => {
  it('a file with a lone CR: the error on the CR, later lines where the CLI puts them', async () => {
    // Line 2 of the CLI holds a lone CR between two messages; line 3 repeats line 1 and has a bad role.
    const text = `${GOOD}\n{"messages":[{"role":"user","content":"q2"},\r${A}]}\n{"messages":[${U},{"role":"asistant","content":"a"}]}\n${GOOD}\n`;
    const fromCli = await validateText(text, opts);
    assert.deepEqual(fromCli.diagnostics.map((d) => [d.code, d.line + 1]), [['lone-cr', 2], ['unknown-role', 3], ['duplicate-example', 4]]);
    const { raw } = editor(text);
    // In the editor the CR ends editor line 2, so the CLI's line 3 is editor line 4.
    const cr = raw.find((d) => d.code === 'lone-cr')!;
    assert.deepEqual([cr.line, cr.startCol, cr.endLine, cr.endCol], [1, '{"messages":[{"role":"user","content":"q2"},'.length, 2, 0]);
    assert.equal(raw.find((d) => d.code === 'unknown-role')!.line, 3);
    const dup = raw.find((d) => d.code === 'duplicate-example')!;
    assert.equal(dup.line, 4);
    assert.match(dup.message, /the same as line 1$/);
    assert.deepEqual(editor(text).placed.sort(byPlace), (await cli(text)).sort(byPlace));
  });

  it('a diagnostic after a lone CR is mapped onto the editor line it is on, and so is its fix', () => {
    const text = `{"messages":[${U},\r{"role":"asistant","content":"a"}]}\n`;
    const role = editor(text).raw.find((d) => d.code === 'unknown-role')!;
    assert.deepEqual([role.line, role.startCol, role.endLine, role.endCol], [1, '{"role":'.length, 1, '{"role":"asistant"'.length]);
    assert.ok(role.fix && 'edits' in role.fix);
    assert.deepEqual(role.fix.edits, [{ line: 1, startCol: '{"role":'.length, endLine: 1, endCol: '{"role":"asistant"'.length, newText: '"assistant"' }]);
  });

  it('gives the same diagnostics at the same offsets both ways, on any mix of lines and breaks (property)', async () => {
    const piece = fc.constantFrom(
      GOOD, `{"messages":[${U},`, `${A}]}`, '{"messages": 1}', '{"messages":[{"role":"asistant","content":"x"}]}', '{"prompt":"p","completion":"c"}',
      `{"messages":[{"role":"user","content":"\\ud800"},${A}]}`, `{"messages":[${U},${A}],"messages":[]}`, '\ufeff', ' ', '{', '"', ',', 'x',
    );
    const brk = fc.constantFrom('\n', '\r\n', '\r', '\r\r', '\n\r', '');
    const file = fc.array(fc.tuple(piece, brk), { maxLength: 10 }).map((ps) => ps.map(([p, b]) => p + b).join(''))
      // A BOM at the very start is hidden by editors and stripped by the CLI before columns count; not this test's subject.
      .filter((t) => !t.startsWith('\ufeff'));
    let withCr = 0;
    await fc.assert(
      fc.asyncProperty(file, async (text) => {
        if (/\r(?!\n)/.test(text)) withCr++;
        assert.deepEqual(editor(text).placed.sort(byPlace), (await cli(text)).sort(byPlace), JSON.stringify(text));
      }),
      { numRuns: 1500, seed: 19 },
    );
    assert.ok(withCr > 500, `only ${withCr} files had a lone CR`);
  });
});
