/**
 * The VS Code side: starts the language server over IPC and stays thin. Everything the user
 * sees about datasets comes from the server.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { DidChangeConfigurationNotification, LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import { CONFIG_FILE, SETTINGS_SECTION, type ClientSettings } from '../../common/protocol';
import { registerCommands } from './commands';
import { registerLossChart } from './lossChart';
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
    const sidebar = registerSidebar(context, log);
    const last = registerQueue(context, client, sidebar.onState);
    registerLossChart(context, client);
    registerCommands({ context, client, log, runs: sidebar.runs, snapshots: sidebar.snapshots, last });
    context.subscriptions.push(
      vscode.workspace.onDidGrantWorkspaceTrust(() => void client?.sendNotification(DidChangeConfigurationNotification.type, { settings: { [SETTINGS_SECTION]: settings() } })),
    );
  } catch (e) {
    // VS Code says nothing when activation fails; say it ourselves.
    log.error(`activation failed: ${(e as Error).stack ?? String(e)}`);
    void vscode.window.showErrorMessage(`LoRA Queue could not start: ${(e as Error).message}`, 'Show Logs').then((a) => a && log.show());
  }
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
