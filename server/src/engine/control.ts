/**
 * control/: commands from followers and the CLI to the owner. Each is one file,
 * `<time>-<uuid>.json`, written under a temporary dotfile name and renamed, so the owner never
 * reads half a command. The owner applies them in name (= time) order, records each id in
 * state.json before deleting the file, and skips an id it has recorded: a command written before
 * an owner crash is applied after the restart, and none is applied twice.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { readdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDir, writeFileAtomic } from './atomic';
import type { Command, CommandFile } from './types';

export function commandFileName(id: string, now: Date): string {
  return `${now.toISOString().replace(/[-:.]/g, '').replace('T', '-')}-${id}.json`;
}

/** Writes a command for the owner; returns its id. */
export function sendCommand(controlDir: string, command: Command, now: Date = new Date()): CommandFile {
  const file: CommandFile = { id: randomUUID(), written: now.toISOString(), from: { pid: process.pid, host: hostname() }, command };
  const tmp = join(controlDir, `.${file.id}.tmp`);
  writeFileAtomic(tmp, JSON.stringify(file) + '\n');
  renameSync(tmp, join(controlDir, commandFileName(file.id, now)));
  fsyncDir(controlDir);
  return file;
}

export interface PendingCommand {
  readonly file: string;
  readonly parsed: CommandFile | undefined;
  readonly error?: string;
}

/** The commands waiting, oldest first; an unreadable one comes back with its error. */
export function pendingCommands(controlDir: string): PendingCommand[] {
  let names: string[];
  try {
    names = readdirSync(controlDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => !n.startsWith('.') && n.endsWith('.json'))
    .sort()
    .map((n) => {
      const file = join(controlDir, n);
      try {
        const parsed = JSON.parse(readFileSync(file, 'utf8')) as CommandFile;
        if (typeof parsed.id !== 'string' || !parsed.command || typeof parsed.command.type !== 'string') return { file, parsed: undefined, error: 'not a command' };
        return { file, parsed };
      } catch (e) {
        return { file, parsed: undefined, error: (e as Error).message };
      }
    });
}

export function removeCommandFile(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

/** Whether the command file with this id is still waiting. */
export function isPending(controlDir: string, id: string): boolean {
  try {
    return readdirSync(controlDir).some((n) => n.endsWith(`-${id}.json`));
  } catch {
    return false;
  }
}

/** Checks a command read from a file (or built by the CLI). */
export function checkCommand(c: unknown): string | undefined {
  if (!c || typeof c !== 'object') return 'not an object';
  const x = c as Record<string, unknown>;
  switch (x['type']) {
    case 'enqueue':
      if (typeof x['path'] !== 'string' || !x['path']) return 'enqueue needs a path';
      if (x['priority'] !== undefined && !Number.isInteger(x['priority'])) return 'priority must be an integer';
      return undefined;
    case 'stop':
      return ['now', 'afterStep', 'afterJob'].includes(x['mode'] as string) ? undefined : 'stop mode must be now, afterStep or afterJob';
    case 'pause':
    case 'resume':
      return undefined;
    case 'retry':
    case 'remove':
      return typeof x['name'] === 'string' && x['name'] ? undefined : `${x['type']} needs a name`;
    case 'rollback':
      return typeof x['snapshot'] === 'string' && x['snapshot'] ? undefined : 'rollback needs a snapshot id';
    case 'consolidate':
      return x['snapshot'] === undefined || (typeof x['snapshot'] === 'string' && x['snapshot']) ? undefined : 'consolidate takes a snapshot id or none';
    case 'priority':
      if (typeof x['name'] !== 'string' || !x['name']) return 'priority needs a name';
      return Number.isInteger(x['priority']) ? undefined : 'priority must be an integer';
    default:
      return `unknown command type ${JSON.stringify(x['type'])}`;
  }
}
