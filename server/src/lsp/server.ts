/**
 * The language server's wiring: live diagnostics and quick fixes for chat-JSONL datasets and the
 * config, token features, and the engine. Started by the VS Code client over IPC, or by
 * `lora-queue lsp --stdio` for any LSP editor. What it serves lives beside it: the open datasets
 * (openDatasets.ts) and configs (openConfigs.ts), the features over them (features.ts), the engine
 * and its messages (engineHost.ts). Here: settings, and which LSP event goes where.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CodeActionKind, CodeLensRefreshRequest, TextDocumentSyncKind, type Connection, type InitializeResult } from 'vscode-languageserver';
import { CONFIG_FILE, DatasetStatsRequest, LossMaskPreviewRequest, SETTINGS_SECTION, type ClientSettings } from '../../../common/protocol';
import { ConfigStore, findConfig, validateOptionsFrom } from '../config/load';
import type { ValidateOptions } from '../dataset/file';
import { hashingReady } from '../dataset/hash';
import { EngineHost } from './engineHost';
import { codeActions, codeLenses, datasetStats, hover, lossMaskPreview, toLspDiagnostic } from './features';
import { isConfig, OpenConfigs } from './openConfigs';
import { isDataset, OpenDatasets, type DatasetTokens } from './openDatasets';
import { TokenService, tokenSetup } from './tokenService';

export function startServer(connection: Connection): void {
  let settings: Partial<ClientSettings> = {};
  let workspaceRoot: string | undefined;
  let hasConfigurationCapability = false;

  const log = (msg: string): void => connection.console.log(msg);
  const configs = new ConfigStore();
  const tokenService = new TokenService(log);
  const engineHost = new EngineHost(connection, log);

  const startEngine = (): void => {
    const file = workspaceRoot ? join(workspaceRoot, CONFIG_FILE) : undefined;
    engineHost.start(file && existsSync(file) ? file : undefined, settings.trusted === true);
  };

  /** Dataset options and token setup from the configuration in force (the last good one), never from a broken edit. */
  const settingsFor = (uri: string): { opts: ValidateOptions; tokens: DatasetTokens } => {
    const start = uri.startsWith('file:') ? dirname(fileURLToPath(uri)) : workspaceRoot;
    const file = start ? findConfig(start) : undefined;
    const inForce = file ? configs.refresh(file) : undefined;
    if (file && !inForce) log(`${file} has errors and no earlier valid version: datasets are checked with default settings`);
    const base = validateOptionsFrom(inForce?.config);
    const opts = settings.maxDiagnosticsPerFile ? { ...base, maxDiagnostics: settings.maxDiagnosticsPerFile } : base;
    return { opts, tokens: tokenSetup(inForce?.config, file) };
  };

  const datasets = new OpenDatasets({
    settingsFor,
    tokenWorker: (setup) => tokenService.worker(setup),
    publish: (uri, version, diagnostics) => void connection.sendDiagnostics({ uri, version, diagnostics: diagnostics.map(toLspDiagnostic) }),
    tokensChanged: () => void connection.sendRequest(CodeLensRefreshRequest.type).catch(() => undefined),
    log,
  });
  const openConfigs = new OpenConfigs(configs, (uri, version, diagnostics) => void connection.sendDiagnostics({ uri, version, diagnostics }));

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
    // The settings come untyped from LSP: pushed under our section, or pulled when the client can.
    const fromPush = (change.settings as Record<string, unknown> | undefined)?.[SETTINGS_SECTION] as Partial<ClientSettings> | undefined;
    if (fromPush) settings = { ...settings, ...fromPush };
    else if (hasConfigurationCapability) {
      const pulled = (await connection.workspace.getConfiguration(SETTINGS_SECTION)) as Partial<ClientSettings> | undefined;
      if (pulled) settings = { ...settings, ...pulled };
    }
    datasets.revalidateAll();
    startEngine(); // trust may have been granted
  });

  // ---- documents: a config or a dataset ----
  connection.onDidOpenTextDocument(({ textDocument: t }) => {
    if (isConfig(t.uri)) openConfigs.open(t);
    else if (isDataset(t)) datasets.open(t.uri, t.version, t.text);
  });

  connection.onDidChangeTextDocument(({ textDocument, contentChanges }) => {
    if (!openConfigs.change(textDocument.uri, textDocument.version, contentChanges)) datasets.change(textDocument.uri, textDocument.version, contentChanges);
  });

  // A config changed on disk or was saved: it applies to every open dataset.
  connection.onDidChangeWatchedFiles(() => datasets.revalidateAll());

  connection.onDidSaveTextDocument(({ textDocument }) => {
    datasets.saved(textDocument.uri);
    if (openConfigs.saved(textDocument.uri)) datasets.revalidateAll();
  });

  connection.onDidCloseTextDocument(({ textDocument }) => {
    if (!openConfigs.close(textDocument.uri)) datasets.close(textDocument.uri);
  });

  // ---- features ----
  connection.onCodeAction((p) => codeActions(datasets, p));
  connection.onHover((p) => hover(datasets, tokenService, p));
  connection.onCodeLens((p) => codeLenses(datasets, tokenService, p));
  connection.onRequest(DatasetStatsRequest.type, (p) => datasetStats(datasets, p));
  connection.onRequest(LossMaskPreviewRequest.type, (p) => lossMaskPreview(datasets, tokenService, p));

  connection.onShutdown(async () => {
    // The engine releases its lock; a running trainer keeps training and is adopted later.
    await engineHost.close();
    await tokenService.close();
  });

  connection.listen();
}
