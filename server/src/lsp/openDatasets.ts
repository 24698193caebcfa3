/**
 * The datasets open in the editor: each one's text (by lines), its incremental validation model,
 * its publishing timer and its token counting. No connection here: what it shows goes out
 * through its host (server.ts wires it to LSP; the unit test to plain arrays), so it is tested
 * without a client.
 */
import { fileURLToPath } from 'node:url';
import type { TextDocumentContentChangeEvent } from 'vscode-languageserver';
import type { FileDiagnostic, ValidateOptions } from '../dataset/file';
import type { TokenWorker } from '../tokens/client';
import { DatasetDocument } from './datasetDocument';
import { diskByteDiagnostics } from './diskBytes';
import { LineText } from './lineText';
import type { TokenSetup } from './tokenService';

/** Where an open dataset's token counts come from, or why there are none. */
export type DatasetTokens = TokenSetup | { readonly why: string };

/** What the open datasets need from the server around them. */
export interface OpenDatasetsHost {
  /** Dataset options and token setup from the configuration in force (the last good one), never from a broken edit. */
  settingsFor(uri: string): { readonly opts: ValidateOptions; readonly tokens: DatasetTokens };
  /** The token worker of a model folder, or why it could not start. */
  tokenWorker(setup: TokenSetup): Pick<TokenWorker, 'count'> | { readonly failed: string };
  /** A dataset's diagnostics for this version of its text (no version: it was closed). */
  publish(uri: string, version: number | undefined, diagnostics: readonly FileDiagnostic[]): void;
  /** Token figures changed (the CodeLens totals are stale). */
  tokensChanged(): void;
  log(message: string): void;
}

/** One open dataset, as the feature handlers read it. */
export interface OpenDataset {
  readonly text: LineText;
  readonly model: DatasetDocument;
  readonly tokens: DatasetTokens;
}

interface Entry extends OpenDataset {
  tokens: DatasetTokens;
  timer: NodeJS.Timeout | undefined;
  pumping: boolean;
  /** Resolvers waiting for every line to be counted (datasetStats). */
  idle: (() => void)[];
}

/** Lines per request to the token worker: small enough that edits interleave, large enough to batch. */
const TOKEN_BATCH = 128;

/** Coalesces bursts of edits (paste, multi-cursor, macros); single keystrokes are far apart. */
export const PUBLISH_DELAY_MS = 15;

export function isDataset(doc: { uri: string; languageId: string }): boolean {
  return doc.languageId === 'jsonl' || doc.uri.endsWith('.jsonl');
}

export class OpenDatasets {
  private readonly docs = new Map<string, Entry>();

  constructor(private readonly host: OpenDatasetsHost) {}

  get(uri: string): OpenDataset | undefined {
    return this.docs.get(uri);
  }

  /** A dataset opened: validated and published at once, its tokens counted after. */
  open(uri: string, version: number, content: string): void {
    const text = new LineText(content, version);
    const { opts } = this.host.settingsFor(uri);
    const d: Entry = { text, model: new DatasetDocument(opts, text.lineCount), timer: undefined, tokens: { why: 'not loaded' }, pumping: false, idle: [] };
    this.applySettings(uri, d);
    if (uri.startsWith('file:')) d.model.setDiskDiagnostics(diskByteDiagnostics(fileURLToPath(uri), opts.maxLineBytes));
    this.docs.set(uri, d);
    this.publish(uri);
  }

  /** Edits to an open dataset; false when it is not one. */
  change(uri: string, version: number, changes: readonly TextDocumentContentChangeEvent[]): boolean {
    const d = this.docs.get(uri);
    if (!d) return false;
    for (const change of changes) {
      if ('range' in change) {
        d.model.applyChange(d.text.apply(change.range, change.text));
      } else {
        d.text.setText(change.text);
        d.model.reset(d.text.lineCount);
      }
    }
    d.text.version = version;
    if (d.model.lineCount !== d.text.lineCount) {
      // Never trust bookkeeping that disagrees with the text: start over rather than mislabel lines.
      this.host.log(`line bookkeeping out of step for ${uri} (${d.model.lineCount} vs ${d.text.lineCount}); revalidating all`);
      d.model.reset(d.text.lineCount);
    }
    this.schedule(uri);
    return true;
  }

  /** Saved: the bytes on disk may now hold what the editor's text cannot show (a BOM, invalid UTF-8). */
  saved(uri: string): void {
    const d = this.docs.get(uri);
    if (!d || !uri.startsWith('file:')) return;
    d.model.setDiskDiagnostics(diskByteDiagnostics(fileURLToPath(uri), this.host.settingsFor(uri).opts.maxLineBytes));
    this.schedule(uri);
  }

  /** Closed: forgotten, and its diagnostics cleared. */
  close(uri: string): void {
    const d = this.docs.get(uri);
    if (d?.timer) clearTimeout(d.timer);
    if (d) this.settle(d);
    this.docs.delete(uri);
    this.host.publish(uri, undefined, []);
  }

  /** A config or settings change: every open dataset takes the configuration in force again. */
  revalidateAll(): void {
    for (const [uri, d] of this.docs) {
      this.applySettings(uri, d);
      this.schedule(uri);
    }
  }

  /** Resolves once every example of the dataset has its token count (at once when it cannot have one). */
  async whenCounted(uri: string): Promise<void> {
    const d = this.docs.get(uri);
    if (!d) return;
    await new Promise<void>((res) => {
      d.idle.push(res);
      void this.pumpTokens(uri);
    });
  }

  private applySettings(uri: string, d: Entry): void {
    const { opts, tokens } = this.host.settingsFor(uri);
    d.model.setOptions(opts);
    const before = 'modelDir' in d.tokens ? d.tokens.key : undefined;
    if (!('modelDir' in tokens) || tokens.key !== before) d.model.clearTokens();
    d.model.setTokenLimit('modelDir' in tokens ? tokens.maxSeqLength : undefined);
    d.tokens = tokens;
  }

  private publish(uri: string): void {
    const d = this.docs.get(uri);
    if (!d) return;
    d.timer = undefined;
    this.host.publish(uri, d.text.version, d.model.diagnostics(lineTextOf(d.text), (line: number): string => d.text.eol(line)));
    // Tokens come after, never before, the syntax diagnostics.
    void this.pumpTokens(uri);
  }

  private schedule(uri: string): void {
    const d = this.docs.get(uri);
    if (!d) return;
    if (d.timer) clearTimeout(d.timer);
    d.timer = setTimeout(() => this.publish(uri), PUBLISH_DELAY_MS);
  }

  /** Counts the lines that have no count yet, a batch at a time, then republishes (too-long, CodeLens). */
  private async pumpTokens(uri: string): Promise<void> {
    const d = this.docs.get(uri);
    if (!d || d.pumping) return;
    if (!('modelDir' in d.tokens)) return this.settle(d);
    const w = this.host.tokenWorker(d.tokens);
    if ('failed' in w) return this.settle(d);
    d.pumping = true;
    let counted = 0;
    let shownAt = performance.now();
    try {
      for (;;) {
        if (this.docs.get(uri) !== d || !('modelDir' in d.tokens)) return;
        const pending = d.model.pendingTokens(lineTextOf(d.text), TOKEN_BATCH);
        if (pending.length === 0) break;
        const results = await w.count(pending.map((p) => p.text), { maxSeqLength: d.tokens.maxSeqLength, stats: true });
        pending.forEach((p, i) => d.model.setTokens(p.key, results[i]!));
        counted += pending.length;
        // A large file's figures stream in: republish about once a second while counting.
        if (performance.now() - shownAt > 1000) {
          shownAt = performance.now();
          this.schedule(uri);
          this.host.tokensChanged();
        }
      }
    } catch (e) {
      this.host.log(`token counting stopped for ${uri}: ${(e as Error).message}`);
    } finally {
      d.pumping = false;
    }
    if (counted > 0) {
      this.schedule(uri);
      this.host.tokensChanged();
    }
    this.settle(d);
  }

  private settle(d: Entry): void {
    const waiting = d.idle;
    d.idle = [];
    for (const f of waiting) f();
  }
}

export function lineTextOf(doc: LineText): (line: number) => string {
  return (line: number): string => doc.line(line);
}
