/**
 * The file-level rules (a byte order mark at the start, an empty file, a duplicate example), each
 * built in one place with one wording, so the editor (lsp/datasetDocument.ts, lsp/diskBytes.ts),
 * the CLI and the engine's intake (dataset/stream.ts, dataset/part.ts) say the same thing by
 * construction. Only the remedy differs where the user's means differ: in the editor a BOM in the
 * text is removed by a quick fix; one the editor hides (it is only on disk) by saving without it.
 */
import { fileDiagnostic, type FileDiagnostic } from './file';

const BOM = 'the file starts with a UTF-8 byte order mark (U+FEFF); Python\'s json.loads rejects it on the first line';

/** Where the BOM was seen: in bytes read from disk or a pipe (CLI, intake), in the editor's text, or on disk under an editor that hides it. */
export type BomSeen = 'bytes' | 'text' | 'hiddenByEditor';

export function bomDiagnostic(seen: BomSeen): FileDiagnostic {
  if (seen === 'hiddenByEditor') {
    return fileDiagnostic('bom', 0, 0, 1, `${BOM} — the editor hides it: use "Change File Encoding" → "Save with Encoding" → UTF-8`);
  }
  const d = fileDiagnostic('bom', 0, 0, 1, `${BOM} — save as UTF-8 without BOM`);
  return seen === 'text' ? { ...d, fix: { title: 'Remove the byte order mark', edits: [{ startCol: 0, endCol: 1, newText: '' }] } } : d;
}

/** A file without one example: `blankLines` says whether it had lines at all. */
export function emptyFileDiagnostic(blankLines: boolean): FileDiagnostic {
  return fileDiagnostic('empty-file', 0, 0, 0, blankLines ? 'the file holds only blank lines: a dataset needs at least one example' : 'the file is empty: a dataset needs at least one example');
}

export function duplicateMessage(firstLine: number): string {
  return `duplicate example: the same as line ${firstLine + 1}`;
}

/** Line `line` (0-based, `length` columns) repeats the example first seen on line `firstLine`. */
export function duplicateDiagnostic(line: number, length: number, firstLine: number): FileDiagnostic {
  return fileDiagnostic('duplicate-example', line, 0, length, duplicateMessage(firstLine));
}
