/**
 * The language features over the open datasets: quick fixes, hover, the CodeLens totals, and the
 * dataset-statistics and loss-mask-preview requests. Each is a function of the open datasets and
 * the request's params, answering what the client shows; server.ts registers them.
 */
import { fileURLToPath } from 'node:url';
import { CodeAction, CodeActionKind, DiagnosticSeverity, type CodeActionParams, type CodeLens, type CodeLensParams, type Diagnostic, type Hover, type HoverParams, type TextEdit } from 'vscode-languageserver';
import { DIAGNOSTIC_SOURCE, SHOW_DATASET_STATS_COMMAND, type DatasetStatsRequest, type DiagnosticFixData, type LossMaskPreviewRequest } from '../../../common/protocol';
import type { FileDiagnostic } from '../dataset/file';
import { OWN_TEMPLATE, renderingNote, renderingSummary } from '../tokens/describe';
import type { TokenService, TokenSetup } from './tokenService';
import { lineTextOf, type OpenDatasets } from './openDatasets';

const fmt = (n: number): string => n.toLocaleString('en-US');

export const SEVERITY = { error: DiagnosticSeverity.Error, warning: DiagnosticSeverity.Warning, info: DiagnosticSeverity.Information } as const;

export function toLspDiagnostic(d: FileDiagnostic): Diagnostic {
  const out: Diagnostic = {
    range: { start: { line: d.line, character: d.startCol }, end: { line: d.endLine, character: d.endCol } },
    severity: SEVERITY[d.severity],
    code: d.code,
    source: DIAGNOSTIC_SOURCE,
    message: d.message,
  };
  if (d.fix) out.data = d.fix satisfies DiagnosticFixData;
  return out;
}

/** The quick fixes carried by our diagnostics (`Diagnostic.data`), so nothing is revalidated here. */
export function codeActions(docs: OpenDatasets, { textDocument, context }: CodeActionParams): CodeAction[] {
  const d = docs.get(textDocument.uri);
  if (!d) return [];
  const actions: CodeAction[] = [];
  for (const diag of context.diagnostics) {
    if (diag.source !== DIAGNOSTIC_SOURCE || !diag.data) continue;
    const fix = diag.data as DiagnosticFixData;
    const line = diag.range.start.line;
    let edits: TextEdit[];
    if ('deleteLine' in fix) {
      const next = line + (fix.lines ?? 1);
      const start = { line, character: 0 };
      const end = next < d.text.lineCount ? { line: next, character: 0 } : d.text.end();
      // The last line has no line break after it: take the one before it instead.
      const from = next < d.text.lineCount || line === 0 ? start : { line: line - 1, character: d.text.line(line - 1).length };
      edits = [{ range: { start: from, end }, newText: '' }];
    } else {
      // An edit names its editor lines where the CLI's line spans several (lone CRs).
      edits = fix.edits.map((e) => ({ range: { start: { line: e.line ?? line, character: e.startCol }, end: { line: e.endLine ?? e.line ?? line, character: e.endCol } }, newText: e.newText }));
    }
    const action = CodeAction.create(fix.title, { changes: { [textDocument.uri]: edits } }, CodeActionKind.QuickFix);
    action.diagnostics = [diag];
    action.isPreferred = true;
    actions.push(action);
  }
  return actions;
}

/** The template the setup's worker renders with (the model's own until the worker says otherwise). */
function templateOriginOf(tokenService: TokenService, setup: TokenSetup): string {
  const w = tokenService.worker(setup);
  return 'failed' in w ? OWN_TEMPLATE : w.templateOrigin;
}

/** An example's tokens after the chat template, its trainable share and roles, and the rendering when it is not the model's own template's prefix rule. */
export function hover(docs: OpenDatasets, tokenService: TokenService, { textDocument, position }: HoverParams): Hover | null {
  const d = docs.get(textDocument.uri);
  if (!d) return null;
  const t = d.model.tokensAt(position.line);
  let value: string;
  if (!('modelDir' in d.tokens)) value = `Token counts: ${d.tokens.why}.`;
  else if (!t) return d.model.lineCount > position.line ? { contents: { kind: 'markdown', value: 'Counting tokens…' } } : null;
  else if ('skipped' in t) return null;
  else if ('error' in t) value = `The chat template cannot render this example: ${t.error}`;
  else {
    const share = t.trainable === null ? `trainable tokens unknown (${t.maskError ?? 'template not prefix-stable'})` : `**${fmt(t.trainable)} trainable** (${t.tokens ? Math.round((100 * t.trainable) / t.tokens) : 0}%)`;
    const roles = Object.entries(t.roles ?? {}).map(([r, n]) => `${r} ${n}`).join(', ');
    const longest = t.longest ?? t.tokens;
    const over = longest > d.tokens.maxSeqLength ? ` — **${fmt(longest - d.tokens.maxSeqLength)} over** maxSeqLength ${fmt(d.tokens.maxSeqLength)}${longest !== t.tokens ? ' (longest sequence)' : ''}` : ` of maxSeqLength ${fmt(d.tokens.maxSeqLength)}`;
    const note = renderingNote(t, templateOriginOf(tokenService, d.tokens));
    value = `**${fmt(t.tokens)} tokens** after the chat template${over} · ${share}${roles ? ` · messages: ${roles}` : ''}${note ? `\n\n_Rendering: ${note}._` : ''}`;
  }
  return { contents: { kind: 'markdown', value } };
}

/** The file's totals on its first line; a click shows the statistics (a client command). */
export function codeLenses(docs: OpenDatasets, tokenService: TokenService, { textDocument }: CodeLensParams): CodeLens[] {
  const d = docs.get(textDocument.uri);
  if (!d || !('modelDir' in d.tokens)) return [];
  const t = d.model.tokenTotals();
  const counting = t.counted < t.examples ? ` · counting ${fmt(t.counted)}/${fmt(t.examples)}…` : '';
  const rendering = renderingSummary(t.rules, templateOriginOf(tokenService, d.tokens));
  const title = `${fmt(t.examples)} examples · ${fmt(t.tokens)} tokens · ${fmt(t.trainable)} trainable${t.overLength ? ` · ${fmt(t.overLength)} over ${fmt(d.tokens.maxSeqLength)}` : ''}${rendering ? ` · rendering: ${rendering}` : ''}${counting}`;
  return [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, command: { title, command: SHOW_DATASET_STATS_COMMAND, arguments: [textDocument.uri] } }];
}

/** The statistics of an open dataset, once every line is counted. */
export async function datasetStats(docs: OpenDatasets, { uri }: DatasetStatsRequest.Params): Promise<DatasetStatsRequest.Result> {
  const d = docs.get(uri);
  if (!d) return { error: 'the dataset is not open' };
  if (!('modelDir' in d.tokens)) return { error: d.tokens.why };
  await docs.whenCounted(uri);
  const t = d.model.tokenTotals();
  const sorted = t.lengths.slice().sort((a, b) => a - b);
  const pct = (p: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : 0);
  return {
    stats: {
      file: uri.startsWith('file:') ? fileURLToPath(uri) : uri,
      examples: t.examples,
      tokens: t.tokens,
      trainableTokens: t.trainable,
      minTokens: sorted[0] ?? 0,
      p50Tokens: pct(50),
      p95Tokens: pct(95),
      maxTokens: sorted[sorted.length - 1] ?? 0,
      overLength: t.overLength,
      maxSeqLength: d.tokens.maxSeqLength,
      roles: t.roles,
      duplicates: t.duplicates,
    },
  };
}

/** An example as the model sees it after the chat template, with its loss mask. */
export async function lossMaskPreview(docs: OpenDatasets, tokenService: TokenService, { uri, line }: LossMaskPreviewRequest.Params): Promise<LossMaskPreviewRequest.Result> {
  const d = docs.get(uri);
  if (!d) return { error: 'the dataset is not open' };
  if (!('modelDir' in d.tokens)) return { error: d.tokens.why };
  const w = tokenService.worker(d.tokens);
  if ('failed' in w) return { error: `the tokenizer could not be loaded: ${w.failed}` };
  const text = lineTextOf(d.text)(line).replace(/^\ufeff/, '');
  try {
    const [count] = await w.count([text], { maxSeqLength: d.tokens.maxSeqLength });
    if (!count || !('tokens' in count)) return { error: count && 'error' in count ? count.error : `line ${line + 1} is not an example` };
    const segments = await w.preview(text);
    const note = renderingNote(count, w.templateOrigin);
    return { segments, tokens: count.tokens, trainable: count.trainable, model: d.tokens.modelDir, ...(note ? { rendering: note } : {}) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}
