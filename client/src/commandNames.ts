/**
 * The ids of the extension's commands (after `loraQueue.`), the keys of the table in commands.ts
 * (which must have exactly these). Without vscode, so the tests compare them with package.json's
 * contributed commands.
 */
export const COMMAND_PREFIX = 'loraQueue.';

export const COMMAND_NAMES = [
  'showLogs',
  'showLossChart',
  'previewLossMask',
  'showDatasetStats',
  'openConfig',
  'enqueueCurrentFile',
  'pause',
  'resume',
  'stop',
  'stopAfterStep',
  'stopAfterJob',
  'stopNow',
  'retry',
  'remove',
  'priorityUp',
  'priorityDown',
  'rollback',
  'consolidate',
  'openRunLog',
  'revealInExplorer',
] as const;

export type CommandName = (typeof COMMAND_NAMES)[number];

/** A command's full id, as package.json and VS Code name it. */
export function commandId(name: CommandName): string {
  return `${COMMAND_PREFIX}${name}`;
}
