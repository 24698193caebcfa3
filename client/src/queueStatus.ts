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

export function registerQueue(context: vscode.ExtensionContext, client: LanguageClient, log: vscode.LogOutputChannel): void {
  const item = vscode.window.createStatusBarItem('loraQueue.status', vscode.StatusBarAlignment.Left, 50);
  item.name = 'LoRA Queue';
  item.command = 'loraQueue.showLogs';
  context.subscriptions.push(item);
  const tree = new QueueTreeProvider();
  context.subscriptions.push(vscode.window.registerTreeDataProvider('loraQueue.queue', tree));
  let lastFailed = new Set<string>();
  let lastPause: string | null = null;

  context.subscriptions.push(
    client.onNotification(QueueStateNotification.method, (p: QueueStateNotification.Params) => {
      tree.update(p);
      const s = statusText(p);
      item.text = s.text;
      item.tooltip = s.tooltip;
      item.backgroundColor = s.level === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground') : s.level === 'warning' ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
      item.show();
      const failed = new Set((p.status?.failed ?? []).map((f) => f.name));
      for (const f of p.status?.failed ?? []) {
        if (!lastFailed.has(f.name) && lastFailed.size + failed.size > 0 && p.engine === 'owner') {
          void vscode.window.showWarningMessage(`LoRA Queue: ${f.name} failed (${f.kind}): ${f.message}`, 'Show Details').then((a) => a && log.show());
        }
      }
      lastFailed = failed;
      const pause = p.status?.paused ? p.status.pauseReason : null;
      if (pause && pause !== lastPause && /disk|space|inode/i.test(pause)) void vscode.window.showWarningMessage(`LoRA Queue paused: ${pause}`);
      lastPause = pause;
    }),
  );

  const send = async (c: QueueCommand): Promise<void> => {
    const r = (await client.sendRequest(QueueCommandRequest.method, c)) as QueueCommandRequest.Result;
    log.info(`${c.type}: ${r.message}`);
    if (r.ok) void vscode.window.setStatusBarMessage(`LoRA Queue: ${r.message}`, 4000);
    else void vscode.window.showWarningMessage(`LoRA Queue: ${r.message}`, 'Show Logs').then((a) => a && log.show());
  };

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
    vscode.commands.registerCommand('loraQueue.retry', (n?: QueueNode) => n?.name && send({ type: 'retry', name: n.name })),
    vscode.commands.registerCommand('loraQueue.remove', (n?: QueueNode) => n?.name && send({ type: 'remove', name: n.name })),
    vscode.commands.registerCommand('loraQueue.priorityUp', (n?: QueueNode) => n?.name && send({ type: 'priority', name: n.name, priority: priorityOf(n) + 1 })),
    vscode.commands.registerCommand('loraQueue.priorityDown', (n?: QueueNode) => n?.name && send({ type: 'priority', name: n.name, priority: priorityOf(n) - 1 })),
    vscode.commands.registerCommand('loraQueue.resume', () => send({ type: 'resume' })),
  );
}
