/**
 * Every command of the extension, in one table (as rust-analyzer's commands.ts): the key is the
 * command's id after `loraQueue.`, the value makes its handler from the context. A command that
 * changes the queue goes to the server as one `loraQueue/command`; whether the engine runs is the
 * server's to say (its refusal shows as a warning), so no command here checks it first. The ids
 * are `COMMAND_NAMES` (commandNames.ts), which the tests compare with package.json's commands.
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { CONFIG_FILE, DatasetStatsRequest, QueueCommandRequest, type QueueCommand, type QueueStateNotification } from '../../common/protocol';
import { commandId, type CommandName } from './commandNames';
import { showLossChart } from './lossChart';
import { showLossMaskPreview } from './maskPreview';
import type { QueueNode } from './queueTreeModel';
import type { RunsTreeProvider } from './runsTree';
import type { RunNode } from './runsTreeModel';
import type { SnapshotsTreeProvider } from './snapshotsTree';
import type { SnapshotNode } from './snapshotsTreeModel';

/** What the commands work with: the extension, the server, the log, and the views' last state. */
export interface Ctx {
  readonly context: vscode.ExtensionContext;
  readonly client: LanguageClient;
  readonly log: vscode.LogOutputChannel;
  readonly runs: RunsTreeProvider;
  readonly snapshots: SnapshotsTreeProvider;
  /** The last `loraQueue/state` push (for the palette's picks), undefined before the first. */
  readonly last: () => QueueStateNotification.Params | undefined;
}

// Arguments come from VS Code untyped (a tree node, a URI, nothing from the palette): each handler declares what it takes.
type Handler = (...args: any[]) => unknown;

const COMMANDS = {
  showLogs: (ctx) => () => ctx.log.show(),
  showLossChart: (ctx) => () => showLossChart(ctx.context, ctx.client),
  previewLossMask: (ctx) => () => showLossMaskPreview(ctx.context, ctx.client),
  // From the server's CodeLens with the dataset's URI (SHOW_DATASET_STATS_COMMAND), or the editor title.
  showDatasetStats: (ctx) => (uri?: string) => showDatasetStats(ctx.client, uri),
  openConfig: (ctx) => () => openConfig(ctx.context),

  enqueueCurrentFile: (ctx) => async (uri?: vscode.Uri) => {
    // From a webview or the panel there is no active editor: take the one visible dataset.
    const visible = vscode.window.visibleTextEditors.filter((e) => e.document.uri.fsPath.endsWith('.jsonl'));
    const target = uri ?? vscode.window.activeTextEditor?.document.uri ?? (visible.length === 1 ? visible[0]!.document.uri : undefined);
    if (!target || !target.fsPath.endsWith('.jsonl')) {
      void vscode.window.showInformationMessage('Open or select a .jsonl dataset to enqueue it.');
      return;
    }
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === target.toString());
    if (doc?.isDirty) await doc.save();
    await send(ctx, { type: 'enqueue', path: target.fsPath });
  },
  pause: (ctx) => () => send(ctx, { type: 'pause' }),
  resume: (ctx) => () => send(ctx, { type: 'resume' }),

  // Stop: the palette's pick of a mode, and one command per mode for the running run's menu.
  stop: (ctx) => async () => {
    const pick = await vscode.window.showQuickPick(
      [
        { label: 'After this step', description: 'checkpoint, then stop; resumes from the checkpoint', mode: 'afterStep' as const },
        { label: 'After this job', description: 'finish the current dataset, then stop', mode: 'afterJob' as const },
        { label: 'Now', description: 'SIGTERM, then SIGKILL after the grace period', mode: 'now' as const },
      ],
      { title: 'Stop training' },
    );
    if (pick) await send(ctx, { type: 'stop', mode: pick.mode });
  },
  stopAfterStep: (ctx) => () => send(ctx, { type: 'stop', mode: 'afterStep' }),
  stopAfterJob: (ctx) => () => send(ctx, { type: 'stop', mode: 'afterJob' }),
  stopNow: (ctx) => () => send(ctx, { type: 'stop', mode: 'now' }),

  // From a tree item the dataset is the item; from the palette, picked from the last state pushed.
  retry: (ctx) => async (n?: QueueNode) => {
    const name = n?.name ?? (await pickDataset(ctx.last(), 'Retry which dataset?', ['failed', 'queue']))?.name;
    if (name) await send(ctx, { type: 'retry', name });
  },
  remove: (ctx) => async (n?: QueueNode) => {
    const name = n?.name ?? (await pickDataset(ctx.last(), 'Remove which dataset?', ['queue', 'failed']))?.name;
    if (name) await send(ctx, { type: 'remove', name });
  },
  priorityUp: (ctx) => async (n?: QueueNode) => {
    const d = n?.name ? { name: n.name, priority: n.priority ?? 0 } : await pickDataset(ctx.last(), 'Raise the priority of which dataset?', ['queue']);
    if (d) await send(ctx, { type: 'priority', name: d.name, priority: d.priority + 1 });
  },
  priorityDown: (ctx) => async (n?: QueueNode) => {
    const d = n?.name ? { name: n.name, priority: n.priority ?? 0 } : await pickDataset(ctx.last(), 'Lower the priority of which dataset?', ['queue']);
    if (d) await send(ctx, { type: 'priority', name: d.name, priority: d.priority - 1 });
  },

  rollback: (ctx) => async (n?: SnapshotNode) => {
    const target = n?.snapshot ? n : await pickSnapshot(ctx);
    if (!target?.snapshot) return;
    const yes = 'Roll Back';
    const answer = await vscode.window.showWarningMessage(
      `Roll back to snapshot ${target.snapshot}?`,
      { modal: true, detail: `${target.description ?? ''}\n\nThe next run continues from this adapter instead of the current one. No snapshot is deleted: you can roll forward again from the Snapshots view.` },
      yes,
    );
    if (answer === yes) await send(ctx, { type: 'rollback', snapshot: target.snapshot });
  },
  consolidate: (ctx) => async (n?: SnapshotNode) => {
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
    if (answer === yes) await send(ctx, target ? { type: 'consolidate', snapshot: target } : { type: 'consolidate' });
  },

  openRunLog: (ctx) => async (n?: RunNode) => {
    const file = (n ?? (await pickRun(ctx)))?.logPath;
    if (!file) return;
    try {
      await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: true });
    } catch (e) {
      void vscode.window.showWarningMessage(`LoRA Queue: cannot open ${file}: ${(e as Error).message}`);
    }
  },
  revealInExplorer: () => async (n?: { path?: string }) => {
    // revealInExplorer rather than revealFileInOS: it works over Remote-SSH, where the files are on the GPU box.
    if (n?.path) await vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(n.path));
  },
} satisfies Record<CommandName, (ctx: Ctx) => Handler>;

/** Registers every command of the table. */
export function registerCommands(ctx: Ctx): void {
  for (const [name, make] of Object.entries(COMMANDS) as [CommandName, (ctx: Ctx) => Handler][]) {
    ctx.context.subscriptions.push(vscode.commands.registerCommand(commandId(name), make(ctx)));
  }
}

/** Sends one queue command; the result goes to the log and the status bar, a refusal to a warning. */
async function send(ctx: Ctx, c: QueueCommand): Promise<void> {
  const r = await ctx.client.sendRequest(QueueCommandRequest.type, c);
  ctx.log.info(`${c.type}: ${r.message}`);
  if (r.ok) void vscode.window.setStatusBarMessage(`LoRA Queue: ${r.message}`, 4000);
  else void vscode.window.showWarningMessage(`LoRA Queue: ${r.message}`, 'Show Logs').then((a) => a && ctx.log.show());
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

async function pickRun(ctx: Ctx): Promise<RunNode | undefined> {
  const nodes = ctx.runs.nodes;
  if (!nodes.length) return void vscode.window.showInformationMessage('LoRA Queue: no runs yet.');
  const pick = await vscode.window.showQuickPick(nodes.map((n) => ({ label: n.label, description: n.description, detail: n.id, node: n })), { title: 'Open the log of which run?' });
  return pick?.node;
}

async function pickSnapshot(ctx: Ctx): Promise<SnapshotNode | undefined> {
  const others = ctx.snapshots.nodes.filter((n) => n.kind === 'snapshot');
  if (!others.length) return void vscode.window.showInformationMessage('LoRA Queue: no other snapshot to roll back to.');
  const pick = await vscode.window.showQuickPick(others.map((n) => ({ label: n.label, description: n.description, node: n })), { title: 'Roll back to which snapshot?' });
  return pick?.node;
}

/** Opens the workspace's lora-queue.json, or offers to create one from the example. */
async function openConfig(context: vscode.ExtensionContext): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) return void vscode.window.showInformationMessage(`LoRA Queue: open a folder first; its ${CONFIG_FILE} configures the queue.`);
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

async function showDatasetStats(client: LanguageClient, uri?: string): Promise<void> {
  const target = uri ?? vscode.window.activeTextEditor?.document.uri.toString();
  if (!target) {
    void vscode.window.showInformationMessage('Open a .jsonl dataset to see its statistics.');
    return;
  }
  const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Counting tokens' }, () => client.sendRequest(DatasetStatsRequest.type, { uri: target }));
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
