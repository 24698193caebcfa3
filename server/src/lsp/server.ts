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
import { DIAGNOSTIC_SOURCE, SETTINGS_SECTION, type ClientSettings, type DiagnosticFixData } from '../../../common/protocol';
import { basename } from 'node:path';
import { checkConfigText } from '../config/diagnostics';
import { ConfigStore, findConfig, validateOptionsFrom } from '../config/load';
import { CONFIG_FILE } from '../config/schema';
import type { FileDiagnostic, ValidateOptions } from '../dataset/file';
import { DatasetDocument } from './datasetDocument';

interface OpenDataset {
  text: TextDocument;
  model: DatasetDocument;
  timer: NodeJS.Timeout | undefined;
}

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

  /** Dataset options from the configuration in force (the last good one), never from a broken edit. */
  const optionsFor = (uri: string): ValidateOptions => {
    const start = uri.startsWith('file:') ? dirname(fileURLToPath(uri)) : workspaceRoot;
    const file = start ? findConfig(start) : undefined;
    const inForce = file ? configs.refresh(file) : undefined;
    if (file && !inForce) log(`${file} has errors and no earlier valid version: datasets are checked with default settings`);
    const base = validateOptionsFrom(inForce?.config);
    return settings.maxDiagnosticsPerFile ? { ...base, maxDiagnostics: settings.maxDiagnosticsPerFile } : base;
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
      d.model.setOptions(optionsFor(uri));
      schedule(uri);
    }
  };

  const publish = (uri: string): void => {
    const d = docs.get(uri);
    if (!d) return;
    d.timer = undefined;
    const text = d.text.getText();
    const doc = d.text;
    const lineText = (line: number): string => {
      const start = doc.offsetAt({ line, character: 0 });
      let end = line + 1 < doc.lineCount ? doc.offsetAt({ line: line + 1, character: 0 }) : text.length;
      if (end > start && text.charCodeAt(end - 1) === 10) end--;
      if (end > start && text.charCodeAt(end - 1) === 13) end--;
      return text.slice(start, end);
    };
    const diagnostics = d.model.diagnostics(lineText).map(toLspDiagnostic);
    void connection.sendDiagnostics({ uri, version: doc.version, diagnostics });
  };

  const schedule = (uri: string): void => {
    const d = docs.get(uri);
    if (!d) return;
    if (d.timer) clearTimeout(d.timer);
    d.timer = setTimeout(() => publish(uri), PUBLISH_DELAY_MS);
  };

  connection.onInitialize((params): InitializeResult => {
    const init = params.initializationOptions as Partial<ClientSettings> | undefined;
    if (init) settings = init;
    const folder = params.workspaceFolders?.[0]?.uri ?? params.rootUri ?? undefined;
    workspaceRoot = folder?.startsWith('file:') ? fileURLToPath(folder) : undefined;
    hasConfigurationCapability = !!params.capabilities.workspace?.configuration;
    return {
      capabilities: {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental, save: { includeText: false } },
        codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix] },
      },
      serverInfo: { name: 'lora-queue', version: '0.1.0' },
    };
  });

  connection.onDidChangeConfiguration(async (change) => {
    const fromPush = (change.settings as Record<string, unknown> | undefined)?.[SETTINGS_SECTION] as Partial<ClientSettings> | undefined;
    if (fromPush) settings = { ...settings, ...fromPush };
    else if (hasConfigurationCapability) {
      const pulled = (await connection.workspace.getConfiguration(SETTINGS_SECTION)) as Partial<ClientSettings> | undefined;
      if (pulled) settings = { ...settings, ...pulled };
    }
    revalidateAll();
  });

  connection.onDidOpenTextDocument(({ textDocument: t }) => {
    if (isConfig(t.uri)) {
      const doc = TextDocument.create(t.uri, t.languageId, t.version, t.text);
      configDocs.set(t.uri, doc);
      publishConfig(doc);
      return;
    }
    if (!isDataset(t)) return;
    const text = TextDocument.create(t.uri, t.languageId, t.version, t.text);
    docs.set(t.uri, { text, model: new DatasetDocument(optionsFor(t.uri), text.lineCount), timer: undefined });
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
        let newLines = 0;
        for (let i = change.text.indexOf('\n'); i !== -1; i = change.text.indexOf('\n', i + 1)) newLines++;
        d.model.applyChange({ startLine: change.range.start.line, endLine: Math.min(change.range.end.line, d.model.lineCount - 1), newLineCount: newLines + 1 });
        d.text = TextDocument.update(d.text, [change], textDocument.version);
      } else {
        d.text = TextDocument.update(d.text, [change], textDocument.version);
        d.model.reset(d.text.lineCount);
      }
    }
    if (d.model.lineCount !== d.text.lineCount) {
      // Never trust bookkeeping that disagrees with the text: start over rather than mislabel lines.
      log(`line bookkeeping out of step for ${textDocument.uri} (${d.model.lineCount} vs ${d.text.lineCount}); revalidating all`);
      d.model.reset(d.text.lineCount);
    }
    schedule(textDocument.uri);
  });

  connection.onDidChangeWatchedFiles(() => revalidateAll());

  connection.onDidSaveTextDocument(({ textDocument }) => {
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
        const start = { line, character: 0 };
        const end = line + 1 < d.text.lineCount ? { line: line + 1, character: 0 } : d.text.positionAt(d.text.getText().length);
        // The last line has no line break after it: take the one before it instead.
        const from = line + 1 < d.text.lineCount || line === 0 ? start : d.text.positionAt(d.text.offsetAt(start) - 1);
        edits = [{ range: { start: from, end }, newText: '' }];
      } else {
        edits = fix.edits.map((e) => ({ range: { start: { line, character: e.startCol }, end: { line, character: e.endCol } }, newText: e.newText }));
      }
      const action = CodeAction.create(fix.title, { changes: { [textDocument.uri]: edits } }, CodeActionKind.QuickFix);
      action.diagnostics = [diag];
      action.isPreferred = true;
      actions.push(action);
    }
    return actions;
  });

  connection.listen();
}

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
