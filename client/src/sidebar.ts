/**
 * The Runs and Snapshots views, the notifications a state push calls for, and the context keys
 * the menus use. Driven by the server's `loraQueue/state` pushes, never polled. The commands of
 * their menus are in commands.ts.
 */
import * as vscode from 'vscode';
import type { QueueStateNotification } from '../../common/protocol';
import { stateNotices } from './notify';
import { RunsTreeProvider } from './runsTree';
import { SnapshotsTreeProvider } from './snapshotsTree';

export interface Sidebar {
  readonly runs: RunsTreeProvider;
  readonly snapshots: SnapshotsTreeProvider;
  /** The handler for each state push. */
  readonly onState: (p: QueueStateNotification.Params) => void;
}

export function registerSidebar(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): Sidebar {
  const runs = new RunsTreeProvider();
  const snapshots = new SnapshotsTreeProvider();
  let last: QueueStateNotification.Params | undefined;
  context.subscriptions.push(
    vscode.window.registerTreeDataProvider('loraQueue.runs', runs),
    vscode.window.registerTreeDataProvider('loraQueue.snapshots', snapshots),
  );
  const onState = (p: QueueStateNotification.Params): void => {
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
  return { runs, snapshots, onState };
}
