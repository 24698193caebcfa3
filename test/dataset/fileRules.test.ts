/**
 * The file-level rules say the same thing everywhere: the CLI (bytes from a file or a pipe), the
 * engine's intake (the same file validator) and the editor (the open document's text). Before
 * fileRules.ts the byte order mark had three wordings and empty-file and duplicate-example were built
 * in two places each; this pins them together.
 */
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_OPTIONS, type FileDiagnostic } from '../../server/src/dataset/file';
import { bomDiagnostic } from '../../server/src/dataset/fileRules';
import { hashingReady } from '../../server/src/dataset/hash';
import { validateFile, validateText } from '../../server/src/dataset/stream';
import { DatasetDocument } from '../../server/src/lsp/datasetDocument';
import { LineText } from '../../server/src/lsp/lineText';

const GOOD = '{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]}';
const FILE_CODES = new Set(['bom', 'empty-file', 'duplicate-example']);
const dir = mkdtempSync(join(tmpdir(), 'lq-filerules-'));
before(() => hashingReady());
after(() => rmSync(dir, { recursive: true, force: true }));

const pick = (ds: readonly FileDiagnostic[]): [string, string][] => ds.filter((d) => FILE_CODES.has(d.code)).map((d) => [d.code, d.message]);

function editor(text: string): FileDiagnostic[] {
  const lines = new LineText(text, 1);
  return new DatasetDocument(DEFAULT_OPTIONS, lines.lineCount).diagnostics((i) => lines.line(i), (i) => lines.eol(i));
}

describe('file-level rules', () => {
  const cases: [string, string][] = [
    ['a BOM and a duplicate', `\ufeff${GOOD}\n${GOOD}\n`],
    ['an empty file', ''],
    ['only blank lines', '\n\n  \n'],
    ['a duplicate after other lines', `${GOOD}\n${GOOD.replace('Hi', 'Hey')}\n\n${GOOD}\n`],
  ];
  for (const [name, text] of cases) {
    it(`${name}: the CLI, the intake and the editor say the same`, async () => {
      const path = join(dir, `${name.replace(/\W+/g, '-')}.jsonl`);
      writeFileSync(path, text);
      const fromPipe = pick((await validateText(text, DEFAULT_OPTIONS)).diagnostics);
      const fromFile = pick((await validateFile(path, DEFAULT_OPTIONS)).diagnostics);
      const inEditor = pick(editor(text));
      assert.ok(fromPipe.length > 0, 'the case has a file-level diagnostic');
      assert.deepEqual(fromFile, fromPipe);
      assert.deepEqual(inEditor, fromPipe);
    });
  }
  it('only the remedy differs: a quick fix in the editor\'s text, re-saving where the editor hides the BOM', () => {
    const [bytes, text, hidden] = [bomDiagnostic('bytes'), bomDiagnostic('text'), bomDiagnostic('hiddenByEditor')];
    assert.equal(text.message, bytes.message);
    assert.equal(bytes.fix, undefined);
    assert.equal(text.fix?.title, 'Remove the byte order mark');
    assert.ok(hidden.message.startsWith(bytes.message.split(' — ')[0]!));
    assert.match(hidden.message, /Save with Encoding/);
  });
});
