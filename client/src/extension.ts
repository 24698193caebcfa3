/**
 * The VS Code side: starts the language server over IPC and stays thin. Everything the user
 * sees about datasets comes from the server.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { DidChangeConfigurationNotification, LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import { CONFIG_FILE, DatasetStatsRequest, SETTINGS_SECTION, SHOW_DATASET_STATS_COMMAND, type ClientSettings } from '../../common/protocol';
import { registerLossChart } from './lossChart';
import { showLossMaskPreview } from './maskPreview';
import { registerQueue } from './queueStatus';
import { registerSidebar } from './sidebar';

let client: LanguageClient | undefined;

function settings(): ClientSettings {
  const cfg = vscode.workspace.getConfiguration(SETTINGS_SECTION);
  return { maxDiagnosticsPerFile: cfg.get<number | null>('maxDiagnosticsPerFile') ?? undefined, trusted: vscode.workspace.isTrusted };
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const log = vscode.window.createOutputChannel('LoRA Queue', { log: true });
  context.subscriptions.push(log);
  try {
    const serverModule = context.asAbsolutePath(path.join('dist', 'server.js'));
    const serverOptions: ServerOptions = {
      run: { module: serverModule, transport: TransportKind.ipc },
      debug: { module: serverModule, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6009'] } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ language: 'jsonl' }, { scheme: 'file', pattern: `**/${CONFIG_FILE}` }],
      initializationOptions: settings(),
      outputChannel: log,
      synchronize: { configurationSection: SETTINGS_SECTION, fileEvents: vscode.workspace.createFileSystemWatcher(`**/${CONFIG_FILE}`) },
    };
    client = new LanguageClient('loraQueue', 'LoRA Queue', serverOptions, clientOptions);
    log.info(`starting the language server: ${serverModule}`);
    await client.start();
    registerQueue(context, client, log, registerSidebar(context, client, log));
    registerLossChart(context, client);
    context.subscriptions.push(
      vscode.commands.registerCommand('loraQueue.showLogs', () => log.show()),
      vscode.commands.registerCommand('loraQueue.previewLossMask', () => showLossMaskPreview(context, client!)),
      vscode.commands.registerCommand(SHOW_DATASET_STATS_COMMAND, (uri?: string) => showDatasetStats(client!, uri)),
      vscode.workspace.onDidGrantWorkspaceTrust(() => void client?.sendNotification(DidChangeConfigurationNotification.type, { settings: { [SETTINGS_SECTION]: settings() } })),
    );
  } catch (e) {
    // VS Code says nothing when activation fails; say it ourselves.
    log.error(`activation failed: ${(e as Error).stack ?? String(e)}`);
    void vscode.window.showErrorMessage(`LoRA Queue could not start: ${(e as Error).message}`, 'Show Logs').then((a) => a && log.show());
  }
}

async function showDatasetStats(client: LanguageClient, uri?: string): Promise<void> {
  const target = uri ?? vscode.window.activeTextEditor?.document.uri.toString();
  if (!target) {
    void vscode.window.showInformationMessage('Open a .jsonl dataset to see its statistics.');
    return;
  }
  const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Counting tokens' }, () =>
    client.sendRequest(DatasetStatsRequest.type, { uri: target }));
  if ('error' in r) {
    void vscode.window.showWarningMessage(`Dataset statistics: ${r.error}`);
    return;
  }
  const s = r.stats;
  const n = (x: number): string => x.toLocaleString('en-US');
  const roles = Object.entries(s.roles).map(([k, v]) => `| ${k} | ${n(v)} |`).join('\n');
  const body = `# ${vscode.workspace.asRelativePath(vscode.Uri.parse(target))}

| | |
|---|---|
| examples | ${n(s.examples)} |
| tokens (after the chat template) | ${n(s.tokens)} |
| trainable tokens | ${n(s.trainableTokens)} (${s.tokens ? Math.round((100 * s.trainableTokens) / s.tokens) : 0}%) |
| length min / p50 / p95 / max | ${n(s.minTokens)} / ${n(s.p50Tokens)} / ${n(s.p95Tokens)} / ${n(s.maxTokens)} |
| over maxSeqLength ${n(s.maxSeqLength)} | ${n(s.overLength)} |
| duplicates | ${n(s.duplicates)} |

| role | messages |
|---|---|
${roles}
`;
  const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: body });
  await vscode.commands.executeCommand('markdown.showPreview', doc.uri);
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
