/**
 * The status bar item and the Queue view, driven by the server's `loraQueue/state` pushes (never
 * polled); every push then goes on to the other views. Pure formatting is separate so it can be
 * tested without VS Code. The commands are in commands.ts.
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { QueueStateNotification } from '../../common/protocol';
import { commandId } from './commandNames';
import { QueueTreeProvider } from './queueTree';
import { statusText } from './statusText';

/**
 * `onState` gets every push after the Queue view and the status bar (the Runs and Snapshots
 * views, notifications). Returns the last push, for the commands' picks.
 */
export function registerQueue(context: vscode.ExtensionContext, client: LanguageClient, onState: (p: QueueStateNotification.Params) => void): () => QueueStateNotification.Params | undefined {
  const item = vscode.window.createStatusBarItem('loraQueue.status', vscode.StatusBarAlignment.Left, 50);
  item.name = 'LoRA Queue';
  item.command = commandId('showLossChart');
  context.subscriptions.push(item);
  const tree = new QueueTreeProvider();
  context.subscriptions.push(vscode.window.registerTreeDataProvider('loraQueue.queue', tree));

  let last: QueueStateNotification.Params | undefined;
  context.subscriptions.push(
    client.onNotification(QueueStateNotification.type, (p) => {
      last = p;
      tree.update(p);
      const s = statusText(p);
      item.text = s.text;
      item.tooltip = `${s.tooltip}\n\nClick to open the loss chart.`;
      item.backgroundColor = s.level === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground') : s.level === 'warning' ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
      item.show();
      onState(p);
    }),
  );
  return () => last;
}
