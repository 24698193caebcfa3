/** The Queue view: a tree over the last `loraQueue/state` push, refreshed on each push. */
import * as vscode from 'vscode';
import type { QueueStateNotification } from '../../common/protocol';
import { queueTree, type QueueNode } from './queueTreeModel';

export class QueueTreeProvider implements vscode.TreeDataProvider<QueueNode> {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private roots: QueueNode[] = queueTree('off', 'starting…', null);

  update(p: QueueStateNotification.Params): void {
    this.roots = queueTree(p.engine, p.why, p.status);
    this.changed.fire();
  }

  getChildren(node?: QueueNode): QueueNode[] {
    return node ? [...(node.children ?? [])] : this.roots;
  }

  getTreeItem(node: QueueNode): vscode.TreeItem {
    const collapsible = node.kind === 'group' && node.children?.length ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None;
    const item = new vscode.TreeItem(node.label, collapsible);
    item.id = node.id;
    item.description = node.description;
    item.tooltip = node.tooltip ?? node.description;
    item.contextValue = node.kind;
    item.iconPath = new vscode.ThemeIcon(
      { group: 'folder', processing: 'sync~spin', queued: 'clock', inbox: 'inbox', failed: 'error', info: 'info' }[node.kind],
    );
    return item;
  }
}
