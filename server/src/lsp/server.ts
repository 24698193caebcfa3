/**
 * The language server: live diagnostics and quick fixes for chat-JSONL datasets.
 * Started by the VS Code client over IPC, or by `lora-queue lsp --stdio` for any LSP editor.
 */
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';
import {
  CodeAction,
  CodeActionKind,
  type Connection,
  type Diagnostic,
  DiagnosticSeverity,
  type InitializeResult,
  TextDocumentSyncKind,
  type TextEdit,
} from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { DatasetStatsRequest, DIAGNOSTIC_SOURCE, LossMaskPreviewRequest, SETTINGS_SECTION, type ClientSettings, type DiagnosticFixData } from '../../../common/protocol';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { checkConfigText } from '../config/diagnostics';
import { ConfigStore, findConfig, validateOptionsFrom } from '../config/load';
import { CONFIG_FILE } from '../config/schema';
import type { FileDiagnostic, ValidateOptions } from '../dataset/file';
import { hashingReady } from '../dataset/hash';
import { DatasetDocument } from './datasetDocument';
import { diskByteDiagnostics } from './diskBytes';
import { EngineHost } from './engineHost';
import { LineText } from './lineText';
import { TokenService, tokenSetup, type TokenSetup } from './tokenService';

interface OpenDataset {
  text: LineText;
  model: DatasetDocument;
  timer: NodeJS.Timeout | undefined;
  /** Where token counts come from, or why there are none. */
  tokens: TokenSetup | { readonly why: string };
  pumping: boolean;
  /** Resolvers waiting for every line to be counted (datasetStats). */
  idle: (() => void)[];
}

/** Lines per request to the token worker: small enough that edits interleave, large enough to batch. */
const TOKEN_BATCH = 128;

/** Coalesces bursts of edits (paste, multi-cursor, macros); single keystrokes are far apart. */
const PUBLISH_DELAY_MS = 15;

export function startServer(connection: Connection): void {
  const docs = new Map<string, OpenDataset>();
  let settings: Partial<ClientSettings> = {};
  let workspaceRoot: string | undefined;
  let hasConfigurationCapability = false;

  const configs = new ConfigStore();
  const configDocs = new Map<string, TextDocument>();

  const log = (msg: string): void => connection.console.log(msg);

  const tokenService = new TokenService(log);
  const engineHost = new EngineHost(connection, log);
  const startEngine = (): void => {
    const file = workspaceRoot ? join(workspaceRoot, CONFIG_FILE) : undefined;
    engineHost.start(file && existsSync(file) ? file : undefined, settings.trusted === true);
  };

  /** Dataset options and token setup from the configuration in force (the last good one), never from a broken edit. */
  const settingsFor = (uri: string): { opts: ValidateOptions; tokens: TokenSetup | { why: string } } => {
    const start = uri.startsWith('file:') ? dirname(fileURLToPath(uri)) : workspaceRoot;
    const file = start ? findConfig(start) : undefined;
    const inForce = file ? configs.refresh(file) : undefined;
    if (file && !inForce) log(`${file} has errors and no earlier valid version: datasets are checked with default settings`);
    const base = validateOptionsFrom(inForce?.config);
    const opts = settings.maxDiagnosticsPerFile ? { ...base, maxDiagnostics: settings.maxDiagnosticsPerFile } : base;
    return { opts, tokens: tokenSetup(inForce?.config, file) };
  };

  const applySettings = (uri: string, d: OpenDataset): void => {
    const { opts, tokens } = settingsFor(uri);
    d.model.setOptions(opts);
    const before = 'modelDir' in d.tokens ? d.tokens.modelDir : undefined;
    if (!('modelDir' in tokens) || tokens.modelDir !== before) d.model.clearTokens();
    d.model.setTokenLimit('modelDir' in tokens ? tokens.maxSeqLength : undefined);
    d.tokens = tokens;
  };

  const lineTextOf = (doc: LineText): ((line: number) => string) => (line: number): string => doc.line(line);
  const eolOf = (doc: LineText): ((line: number) => string) => (line: number): string => doc.eol(line);

  /** Counts the lines that have no count yet, a batch at a time, then republishes (too-long, CodeLens). */
  const pumpTokens = async (uri: string): Promise<void> => {
    const d = docs.get(uri);
    if (!d || d.pumping) return;
    if (!('modelDir' in d.tokens)) return settle(d);
    const w = tokenService.worker(d.tokens.modelDir);
    if ('failed' in w) return settle(d);
    d.pumping = true;
    let counted = 0;
    let shownAt = performance.now();
    try {
      for (;;) {
        if (docs.get(uri) !== d || !('modelDir' in d.tokens)) return;
        const pending = d.model.pendingTokens(lineTextOf(d.text), TOKEN_BATCH);
        if (pending.length === 0) break;
        const results = await w.count(pending.map((p) => p.text), { maxSeqLength: d.tokens.maxSeqLength, stats: true });
        pending.forEach((p, i) => d.model.setTokens(p.key, results[i]!));
        counted += pending.length;
        // A large file's figures stream in: republish about once a second while counting.
        if (performance.now() - shownAt > 1000) {
          shownAt = performance.now();
          schedule(uri);
          void connection.sendRequest('workspace/codeLens/refresh').catch(() => undefined);
        }
      }
    } catch (e) {
      log(`token counting stopped for ${uri}: ${(e as Error).message}`);
    } finally {
      d.pumping = false;
    }
    if (counted > 0) {
      schedule(uri);
      void connection.sendRequest('workspace/codeLens/refresh').catch(() => undefined);
    }
    settle(d);
  };

  const settle = (d: OpenDataset): void => {
    const waiting = d.idle;
    d.idle = [];
    for (const f of waiting) f();
  };

  const isDataset = (doc: { uri: string; languageId: string }): boolean => doc.languageId === 'jsonl' || doc.uri.endsWith('.jsonl');
  const isConfig = (uri: string): boolean => uri.startsWith('file:') && basename(fileURLToPath(uri)) === CONFIG_FILE;

  const publishConfig = (doc: TextDocument): void => {
    const file = fileURLToPath(doc.uri);
    configs.refresh(file);
    const text = doc.getText();
    const check = checkConfigText(text, file);
    const diagnostics: Diagnostic[] = check.diagnostics.map((d) => ({
      range: { start: doc.positionAt(d.start), end: doc.positionAt(d.end) },
      severity: SEVERITY[d.severity],
      code: d.code,
      source: DIAGNOSTIC_SOURCE,
      message: d.message,
    }));
    if (!check.config) {
      diagnostics.push({ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } }, severity: DiagnosticSeverity.Information, code: 'config-not-in-force', source: DIAGNOSTIC_SOURCE, message: configs.status(file) });
    }
    void connection.sendDiagnostics({ uri: doc.uri, version: doc.version, diagnostics });
  };

  /** A saved config change applies to every open dataset. */
  const revalidateAll = (): void => {
    for (const [uri, d] of docs) {
      applySettings(uri, d);
      schedule(uri);
    }
  };

  const publish = (uri: string): void => {
    const d = docs.get(uri);
    if (!d) return;
    d.timer = undefined;
    const diagnostics = d.model.diagnostics(lineTextOf(d.text), eolOf(d.text)).map(toLspDiagnostic);
    void connection.sendDiagnostics({ uri, version: d.text.version, diagnostics });
    // Tokens come after, never before, the syntax diagnostics.
    void pumpTokens(uri);
  };

  const schedule = (uri: string): void => {
    const d = docs.get(uri);
    if (!d) return;
    if (d.timer) clearTimeout(d.timer);
    d.timer = setTimeout(() => publish(uri), PUBLISH_DELAY_MS);
  };

  connection.onInitialize(async (params): Promise<InitializeResult> => {
    await hashingReady();
    const init = params.initializationOptions as Partial<ClientSettings> | undefined;
    if (init) settings = init;
    const folder = params.workspaceFolders?.[0]?.uri ?? params.rootUri ?? undefined;
    workspaceRoot = folder?.startsWith('file:') ? fileURLToPath(folder) : undefined;
    hasConfigurationCapability = !!params.capabilities.workspace?.configuration;
    return {
      capabilities: {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental, save: { includeText: false } },
        codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix] },
        hoverProvider: true,
        codeLensProvider: { resolveProvider: false },
      },
      serverInfo: { name: 'lora-queue', version: '0.1.0' },
    };
  });

  connection.onInitialized(() => startEngine());

  connection.onDidChangeConfiguration(async (change) => {
    const fromPush = (change.settings as Record<string, unknown> | undefined)?.[SETTINGS_SECTION] as Partial<ClientSettings> | undefined;
    if (fromPush) settings = { ...settings, ...fromPush };
    else if (hasConfigurationCapability) {
      const pulled = (await connection.workspace.getConfiguration(SETTINGS_SECTION)) as Partial<ClientSettings> | undefined;
      if (pulled) settings = { ...settings, ...pulled };
    }
    revalidateAll();
    startEngine(); // trust may have been granted
  });

  connection.onDidOpenTextDocument(({ textDocument: t }) => {
    if (isConfig(t.uri)) {
      const doc = TextDocument.create(t.uri, t.languageId, t.version, t.text);
      configDocs.set(t.uri, doc);
      publishConfig(doc);
      return;
    }
    if (!isDataset(t)) return;
    const text = new LineText(t.text, t.version);
    const { opts } = settingsFor(t.uri);
    const d: OpenDataset = { text, model: new DatasetDocument(opts, text.lineCount), timer: undefined, tokens: { why: 'not loaded' }, pumping: false, idle: [] };
    applySettings(t.uri, d);
    if (t.uri.startsWith('file:')) d.model.setDiskDiagnostics(diskByteDiagnostics(fileURLToPath(t.uri), opts.maxLineBytes));
    docs.set(t.uri, d);
    publish(t.uri);
  });

  connection.onDidChangeTextDocument(({ textDocument, contentChanges }) => {
    const cfg = configDocs.get(textDocument.uri);
    if (cfg) {
      const doc = TextDocument.update(cfg, contentChanges, textDocument.version);
      configDocs.set(textDocument.uri, doc);
      publishConfig(doc);
      return;
    }
    const d = docs.get(textDocument.uri);
    if (!d) return;
    for (const change of contentChanges) {
      if ('range' in change) {
        d.model.applyChange(d.text.apply(change.range, change.text));
      } else {
        d.text.setText(change.text);
        d.model.reset(d.text.lineCount);
      }
    }
    d.text.version = textDocument.version;
    if (d.model.lineCount !== d.text.lineCount) {
      // Never trust bookkeeping that disagrees with the text: start over rather than mislabel lines.
      log(`line bookkeeping out of step for ${textDocument.uri} (${d.model.lineCount} vs ${d.text.lineCount}); revalidating all`);
      d.model.reset(d.text.lineCount);
    }
    schedule(textDocument.uri);
  });

  connection.onDidChangeWatchedFiles(() => revalidateAll());

  connection.onDidSaveTextDocument(({ textDocument }) => {
    const d = docs.get(textDocument.uri);
    if (d && textDocument.uri.startsWith('file:')) {
      d.model.setDiskDiagnostics(diskByteDiagnostics(fileURLToPath(textDocument.uri), settingsFor(textDocument.uri).opts.maxLineBytes));
      schedule(textDocument.uri);
    }
    const cfg = configDocs.get(textDocument.uri);
    if (!cfg) return;
    publishConfig(cfg);
    revalidateAll();
  });

  connection.onDidCloseTextDocument(({ textDocument }) => {
    if (configDocs.delete(textDocument.uri)) {
      void connection.sendDiagnostics({ uri: textDocument.uri, diagnostics: [] });
      return;
    }
    const d = docs.get(textDocument.uri);
    if (d?.timer) clearTimeout(d.timer);
    if (d) settle(d);
    docs.delete(textDocument.uri);
    void connection.sendDiagnostics({ uri: textDocument.uri, diagnostics: [] });
  });

  connection.onCodeAction(({ textDocument, context }) => {
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
  });

  connection.onHover(({ textDocument, position }) => {
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
      const over = t.tokens > d.tokens.maxSeqLength ? ` — **${fmt(t.tokens - d.tokens.maxSeqLength)} over** maxSeqLength ${fmt(d.tokens.maxSeqLength)}` : ` of maxSeqLength ${fmt(d.tokens.maxSeqLength)}`;
      value = `**${fmt(t.tokens)} tokens** after the chat template${over} · ${share}${roles ? ` · messages: ${roles}` : ''}`;
    }
    return { contents: { kind: 'markdown', value } };
  });

  connection.onCodeLens(({ textDocument }) => {
    const d = docs.get(textDocument.uri);
    if (!d || !('modelDir' in d.tokens)) return [];
    const t = d.model.tokenTotals();
    const counting = t.counted < t.examples ? ` · counting ${fmt(t.counted)}/${fmt(t.examples)}…` : '';
    const title = `${fmt(t.examples)} examples · ${fmt(t.tokens)} tokens · ${fmt(t.trainable)} trainable${t.overLength ? ` · ${fmt(t.overLength)} over ${fmt(d.tokens.maxSeqLength)}` : ''}${counting}`;
    return [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, command: { title, command: 'loraQueue.showDatasetStats', arguments: [textDocument.uri] } }];
  });

  connection.onRequest(DatasetStatsRequest.method, async ({ uri }: DatasetStatsRequest.Params): Promise<DatasetStatsRequest.Result> => {
    const d = docs.get(uri);
    if (!d) return { error: 'the dataset is not open' };
    if (!('modelDir' in d.tokens)) return { error: d.tokens.why };
    await new Promise<void>((res) => {
      d.idle.push(res);
      void pumpTokens(uri);
    });
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
  });

  connection.onRequest(LossMaskPreviewRequest.method, async ({ uri, line }: LossMaskPreviewRequest.Params): Promise<LossMaskPreviewRequest.Result> => {
    const d = docs.get(uri);
    if (!d) return { error: 'the dataset is not open' };
    if (!('modelDir' in d.tokens)) return { error: d.tokens.why };
    const w = tokenService.worker(d.tokens.modelDir);
    if ('failed' in w) return { error: `the tokenizer could not be loaded: ${w.failed}` };
    const text = lineTextOf(d.text)(line).replace(/^\ufeff/, '');
    try {
      const [count] = await w.count([text], { maxSeqLength: d.tokens.maxSeqLength });
      if (!count || !('tokens' in count)) return { error: count && 'error' in count ? count.error : `line ${line + 1} is not an example` };
      const segments = await w.preview(text);
      return { segments, tokens: count.tokens, trainable: count.trainable, model: d.tokens.modelDir };
    } catch (e) {
      return { error: (e as Error).message };
    }
  });

  connection.onShutdown(async () => {
    // The engine releases its lock; a running trainer keeps training and is adopted later.
    await engineHost.close();
    await tokenService.close();
  });

  connection.listen();
}

const fmt = (n: number): string => n.toLocaleString('en-US');

const SEVERITY = { error: DiagnosticSeverity.Error, warning: DiagnosticSeverity.Warning, info: DiagnosticSeverity.Information } as const;

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
