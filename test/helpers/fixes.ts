/** Applies a quick fix to a line's text the way an editor would. */
import type { LineFix } from '../../server/src/dataset/line';

export function applyLineFix(lines: string[], index: number, fix: LineFix): string[] {
  if ('deleteLine' in fix) return [...lines.slice(0, index), ...lines.slice(index + 1)];
  let text = lines[index]!;
  const edits = [...fix.edits].sort((a, b) => b.startCol - a.startCol);
  for (const e of edits) text = text.slice(0, e.startCol) + e.newText + text.slice(e.endCol);
  return [...lines.slice(0, index), text, ...lines.slice(index + 1)];
}
