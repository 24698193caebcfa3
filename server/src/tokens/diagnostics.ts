/** `too-long` for a whole document or file, through a token worker (for the language server). */
import type { TokenWorker } from './client';
import { tooLongDiagnostic } from './tooLong';

export interface LineTooLong {
  /** 0-based line index. */
  readonly line: number;
  readonly code: 'too-long';
  readonly message: string;
  readonly tokens: number;
}

/**
 * Counts every line (batches of `batch` lines, the worker does the work) and returns the lines over
 * `maxSeqLength`. Blank, non-JSON and unrenderable lines are skipped: the validator reports them.
 * `isStale` is asked between batches; when it says true the remaining lines are not counted and
 * undefined is returned (the document changed meanwhile).
 */
export async function tooLongLines(
  worker: TokenWorker,
  lines: readonly string[],
  maxSeqLength: number,
  opts: { batch?: number; isStale?: () => boolean } = {},
): Promise<LineTooLong[] | undefined> {
  const batch = opts.batch ?? 256;
  const out: LineTooLong[] = [];
  for (let start = 0; start < lines.length; start += batch) {
    if (opts.isStale?.()) return undefined;
    const results = await worker.count(lines.slice(start, start + batch), { maxSeqLength });
    results.forEach((r, i) => {
      if (!('tokens' in r)) return;
      const d = tooLongDiagnostic(r, maxSeqLength);
      if (d) out.push({ line: start + i, code: d.code, message: d.message, tokens: r.tokens });
    });
  }
  return out;
}
