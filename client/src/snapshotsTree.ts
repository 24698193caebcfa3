/** The Snapshots view: a tree over the last `loraQueue/state` push, refreshed on each push. */
import * as vscode from 'vscode';
import type { QueueStateNotification } from '../../common/protocol';
import { snapshotsTree, type SnapshotNode } from './snapshotsTreeModel';

export class SnapshotsTreeProvider implements vscode.TreeDataProvider<SnapshotNode> {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private roots: SnapshotNode[] = [];

  update(p: QueueStateNotification.Params): void {
    this.roots = snapshotsTree(p);
    this.changed.fire();
  }

  /** The snapshots of the last push, for the palette's pick. */
  get nodes(): readonly SnapshotNode[] {
    return this.roots.filter((n) => n.snapshot);
  }

  getChildren(node?: SnapshotNode): SnapshotNode[] {
    return node ? [] : this.roots;
  }

  getTreeItem(node: SnapshotNode): vscode.TreeItem {
    const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.None);
    item.id = node.id;
    item.description = node.description;
    item.tooltip = node.tooltip ?? node.description;
    item.contextValue = node.kind;
    item.iconPath = new vscode.ThemeIcon(node.icon);
    return item;
  }
}
