/**
 * The status bar item and the queue commands, driven by the server's `loraQueue/state` pushes
 * (never polled). Pure formatting is separate so it can be tested without VS Code.
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { QueueCommandRequest, QueueStateNotification, type QueueCommand } from '../../common/protocol';
import { QueueTreeProvider } from './queueTree';
import type { QueueNode } from './queueTreeModel';
import { statusText } from './statusText';

/** The priority shown in a queued node's description ("priority N · …"). */
function priorityOf(n: QueueNode): number {
  return Number(/priority (-?\d+)/.exec(n.description ?? '')?.[1] ?? 0);
}

/** A dataset of the queue or of failed/, picked from the last state pushed (for the palette). */
async function pickDataset(p: QueueStateNotification.Params | undefined, title: string, from: readonly ('queue' | 'failed')[]): Promise<{ name: string; priority: number } | undefined> {
  const s = p?.status;
  const items = from.flatMap((f) =>
    f === 'queue'
      ? (s?.queue ?? []).map((q) => ({ label: q.name, description: `queued · priority ${q.priority}${q.attempts ? ` · ${q.attempts} failed attempts` : ''}`, name: q.name, priority: q.priority }))
      : (s?.failed ?? []).map((x) => ({ label: x.name, description: `failed · ${x.kind}: ${x.message}`, name: x.name, priority: 0 })),
  );
  if (!items.length) {
    void vscode.window.showInformationMessage(`LoRA Queue: no dataset ${from.map((f) => (f === 'queue' ? 'queued' : 'failed')).join(' or ')}.`);
    return undefined;
  }
  return vscode.window.showQuickPick(items, { title });
}

/** Sends one queue command; the result goes to the log and the status bar, a refusal to a warning. */
export async function sendQueueCommand(client: LanguageClient, log: vscode.LogOutputChannel, c: QueueCommand): Promise<void> {
  const r = await client.sendRequest(QueueCommandRequest.type, c);
  log.info(`${c.type}: ${r.message}`);
  if (r.ok) void vscode.window.setStatusBarMessage(`LoRA Queue: ${r.message}`, 4000);
  else void vscode.window.showWarningMessage(`LoRA Queue: ${r.message}`, 'Show Logs').then((a) => a && log.show());
}

/** `onState` gets every push after the Queue view and the status bar (the Runs and Snapshots views, notifications). */
export function registerQueue(context: vscode.ExtensionContext, client: LanguageClient, log: vscode.LogOutputChannel, onState: (p: QueueStateNotification.Params) => void = () => {}): void {
  const item = vscode.window.createStatusBarItem('loraQueue.status', vscode.StatusBarAlignment.Left, 50);
  item.name = 'LoRA Queue';
  item.command = 'loraQueue.showLossChart';
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

  const send = (c: QueueCommand): Promise<void> => sendQueueCommand(client, log, c);

  context.subscriptions.push(
    vscode.commands.registerCommand('loraQueue.enqueueCurrentFile', async (uri?: vscode.Uri) => {
      // From a webview or the panel there is no active editor: take the one visible dataset.
      const visible = vscode.window.visibleTextEditors.filter((e) => e.document.uri.fsPath.endsWith('.jsonl'));
      const target = uri ?? vscode.window.activeTextEditor?.document.uri ?? (visible.length === 1 ? visible[0]!.document.uri : undefined);
      if (!target || !target.fsPath.endsWith('.jsonl')) {
        void vscode.window.showInformationMessage('Open or select a .jsonl dataset to enqueue it.');
        return;
      }
      const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === target.toString());
      if (doc?.isDirty) await doc.save();
      await send({ type: 'enqueue', path: target.fsPath });
    }),
    vscode.commands.registerCommand('loraQueue.stop', async () => {
      const pick = await vscode.window.showQuickPick(
        [
          { label: 'After this step', description: 'checkpoint, then stop; resumes from the checkpoint', mode: 'afterStep' as const },
          { label: 'After this job', description: 'finish the current dataset, then stop', mode: 'afterJob' as const },
          { label: 'Now', description: 'SIGTERM, then SIGKILL after the grace period', mode: 'now' as const },
        ],
        { title: 'Stop training' },
      );
      if (pick) await send({ type: 'stop', mode: pick.mode });
    }),
    vscode.commands.registerCommand('loraQueue.pause', () => send({ type: 'pause' })),
    // From a tree item the dataset is the item; from the palette, picked from the last state pushed.
    vscode.commands.registerCommand('loraQueue.retry', async (n?: QueueNode) => {
      const name = n?.name ?? (await pickDataset(last, 'Retry which dataset?', ['failed', 'queue']))?.name;
      if (name) await send({ type: 'retry', name });
    }),
    vscode.commands.registerCommand('loraQueue.remove', async (n?: QueueNode) => {
      const name = n?.name ?? (await pickDataset(last, 'Remove which dataset?', ['queue', 'failed']))?.name;
      if (name) await send({ type: 'remove', name });
    }),
    vscode.commands.registerCommand('loraQueue.priorityUp', async (n?: QueueNode) => {
      const d = n?.name ? { name: n.name, priority: priorityOf(n) } : await pickDataset(last, 'Raise the priority of which dataset?', ['queue']);
      if (d) await send({ type: 'priority', name: d.name, priority: d.priority + 1 });
    }),
    vscode.commands.registerCommand('loraQueue.priorityDown', async (n?: QueueNode) => {
      const d = n?.name ? { name: n.name, priority: priorityOf(n) } : await pickDataset(last, 'Lower the priority of which dataset?', ['queue']);
      if (d) await send({ type: 'priority', name: d.name, priority: d.priority - 1 });
    }),
    vscode.commands.registerCommand('loraQueue.resume', () => send({ type: 'resume' })),
  );
}
