/** The Runs view: a tree over the last `loraQueue/state` push, refreshed on each push. */
import * as vscode from 'vscode';
import type { QueueStateNotification } from '../../common/protocol';
import { commandId } from './commandNames';
import { runsTree, type RunNode } from './runsTreeModel';

export class RunsTreeProvider implements vscode.TreeDataProvider<RunNode> {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private roots: RunNode[] = [];

  update(p: QueueStateNotification.Params): void {
    this.roots = runsTree(p, new Date());
    this.changed.fire();
  }

  /** The runs of the last push, for the palette's pick. */
  get nodes(): readonly RunNode[] {
    return this.roots.filter((n) => n.logPath);
  }

  getChildren(node?: RunNode): RunNode[] {
    return node ? [...(node.children ?? [])] : this.roots;
  }

  getTreeItem(node: RunNode): vscode.TreeItem {
    const collapsible = node.children?.length
      ? node.kind === 'runRunning' ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed
      : vscode.TreeItemCollapsibleState.None;
    const item = new vscode.TreeItem(node.label, collapsible);
    item.id = node.id;
    item.description = node.description;
    item.tooltip = node.tooltip ?? node.description;
    item.contextValue = node.kind;
    item.iconPath = new vscode.ThemeIcon(node.icon);
    if (node.kind === 'runLog') item.command = { command: commandId('openRunLog'), title: 'Open Run Log', arguments: [node] };
    return item;
  }
}
