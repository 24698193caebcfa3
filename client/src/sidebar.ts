/**
 * The Runs and Snapshots views and their commands (stop, rollback, open a run's log, reveal in the
 * Explorer, open the config), the notifications a state push calls for, and the context keys the
 * menus use. Driven by the server's `loraQueue/state` pushes, never polled.
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { CONFIG_FILE, type QueueCommand, type QueueStateNotification } from '../../common/protocol';
import { stateNotices } from './notify';
import { sendQueueCommand } from './queueStatus';
import { RunsTreeProvider } from './runsTree';
import type { RunNode } from './runsTreeModel';
import { SnapshotsTreeProvider } from './snapshotsTree';
import type { SnapshotNode } from './snapshotsTreeModel';

/** Registers the views and commands; returns the handler for each state push. */
export function registerSidebar(context: vscode.ExtensionContext, client: LanguageClient, log: vscode.LogOutputChannel): (p: QueueStateNotification.Params) => void {
  const runs = new RunsTreeProvider();
  const snapshots = new SnapshotsTreeProvider();
  const send = (c: QueueCommand): Promise<void> => sendQueueCommand(client, log, c);
  let last: QueueStateNotification.Params | undefined;

  const pickRun = async (): Promise<RunNode | undefined> => {
    if (!runs.nodes.length) return void vscode.window.showInformationMessage('LoRA Queue: no runs yet.');
    const pick = await vscode.window.showQuickPick(runs.nodes.map((n) => ({ label: n.label, description: n.description, detail: n.id, node: n })), { title: 'Open the log of which run?' });
    return pick?.node;
  };
  const pickSnapshot = async (): Promise<SnapshotNode | undefined> => {
    const others = snapshots.nodes.filter((n) => n.kind === 'snapshot');
    if (!others.length) return void vscode.window.showInformationMessage('LoRA Queue: no other snapshot to roll back to.');
    const pick = await vscode.window.showQuickPick(others.map((n) => ({ label: n.label, description: n.description, node: n })), { title: 'Roll back to which snapshot?' });
    return pick?.node;
  };

  context.subscriptions.push(
    vscode.window.registerTreeDataProvider('loraQueue.runs', runs),
    vscode.window.registerTreeDataProvider('loraQueue.snapshots', snapshots),
    vscode.commands.registerCommand('loraQueue.stopNow', () => send({ type: 'stop', mode: 'now' })),
    vscode.commands.registerCommand('loraQueue.stopAfterStep', () => send({ type: 'stop', mode: 'afterStep' })),
    vscode.commands.registerCommand('loraQueue.stopAfterJob', () => send({ type: 'stop', mode: 'afterJob' })),
    vscode.commands.registerCommand('loraQueue.rollback', async (n?: SnapshotNode) => {
      const target = n?.snapshot ? n : await pickSnapshot();
      if (!target?.snapshot) return;
      const yes = 'Roll Back';
      const answer = await vscode.window.showWarningMessage(
        `Roll back to snapshot ${target.snapshot}?`,
        { modal: true, detail: `${target.description ?? ''}\n\nThe next run continues from this adapter instead of the current one. No snapshot is deleted: you can roll forward again from the Snapshots view.` },
        yes,
      );
      if (answer === yes) await send({ type: 'rollback', snapshot: target.snapshot });
    }),
    vscode.commands.registerCommand('loraQueue.consolidate', async (n?: SnapshotNode) => {
      // From a snapshot's menu, that snapshot; from the palette, the current adapter (the engine's default).
      const target = n?.snapshot;
      const yes = 'Consolidate';
      const answer = await vscode.window.showWarningMessage(
        target ? `Merge snapshot ${target} into its base model?` : 'Merge the current adapter into its base model?',
        {
          modal: true,
          detail: 'The merged model is written to models/<id>/ in the queue folder, verified against base + adapter, and becomes the base the next run trains a fresh adapter on. It waits for the run in progress; nothing trains while it merges. Rolling back to an earlier snapshot returns to its base.',
        },
        yes,
      );
      if (answer === yes) await send(target ? { type: 'consolidate', snapshot: target } : { type: 'consolidate' });
    }),
    vscode.commands.registerCommand('loraQueue.openRunLog', async (n?: RunNode) => {
      const file = (n ?? (await pickRun()))?.logPath;
      if (!file) return;
      try {
        await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: true });
      } catch (e) {
        void vscode.window.showWarningMessage(`LoRA Queue: cannot open ${file}: ${(e as Error).message}`);
      }
    }),
    vscode.commands.registerCommand('loraQueue.revealInExplorer', async (n?: { path?: string }) => {
      // revealInExplorer rather than revealFileInOS: it works over Remote-SSH, where the files are on the GPU box.
      if (n?.path) await vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(n.path));
    }),
    vscode.commands.registerCommand('loraQueue.openConfig', () => openConfig(context)),
  );

  return (p) => {
    runs.update(p);
    snapshots.update(p);
    void vscode.commands.executeCommand('setContext', 'loraQueue.engine', p.engine);
    void vscode.commands.executeCommand('setContext', 'loraQueue.paused', p.status?.paused ?? false);
    void vscode.commands.executeCommand('setContext', 'loraQueue.training', !!p.status?.current);
    for (const n of stateNotices(last, p)) {
      if (n.level === 'error') {
        void vscode.window.showErrorMessage(n.message, 'Show Details').then((a) => {
          if (a && n.details) void vscode.window.showTextDocument(vscode.Uri.file(n.details));
        });
      } else void vscode.window.showWarningMessage(n.message, 'Show Logs').then((a) => a && log.show());
    }
    last = p;
  };
}

/** Opens the workspace's lora-queue.json, or offers to create one from the example. */
async function openConfig(context: vscode.ExtensionContext): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) return void vscode.window.showInformationMessage('LoRA Queue: open a folder first; its lora-queue.json configures the queue.');
  const file = vscode.Uri.joinPath(folder.uri, CONFIG_FILE);
  try {
    await vscode.workspace.fs.stat(file);
  } catch {
    const create = 'Create from Example';
    if ((await vscode.window.showInformationMessage(`There is no ${CONFIG_FILE} in ${folder.name}.`, create)) !== create) return;
    const example = await vscode.workspace.fs.readFile(vscode.Uri.file(context.asAbsolutePath(`examples/${CONFIG_FILE}`)));
    await vscode.workspace.fs.writeFile(file, example);
  }
  await vscode.window.showTextDocument(file);
}
