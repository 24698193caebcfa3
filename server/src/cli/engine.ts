/**
 * The engine's CLI commands:
 *
 *   lora-queue daemon  [--config FILE]                                   the engine in the foreground until SIGTERM/SIGINT
 *   lora-queue status  [--config FILE] [--format text|json]
 *   lora-queue enqueue [--config FILE] [--priority N] FILE...
 *   lora-queue stop    [--config FILE] [--now|--after-step|--after-job]  (default --after-step)
 *   lora-queue pause | resume [--config FILE]
 *   lora-queue retry | remove [--config FILE] NAME...
 *   lora-queue priority [--config FILE] NAME N
 *   lora-queue usage    [--config FILE] [--format text|json]            the usage ledger summed by day and model (reads ledger.jsonl only)
 *
 * A command that changes the queue works whether an engine runs or not. When one runs (a live
 * holder of engine.lock), the command is written into control/ and the CLI waits (--wait, 15 s by
 * default) for the engine's answer. When none runs, the CLI takes the lock itself for the moment it
 * needs, applies the command with the same code the engine uses, and releases it.
 *
 * Exit status: 0 done, 1 refused (no such dataset, a rejected dataset…), 2 usage, config or I/O
 * failure, 3 sent to a running engine that has not answered within --wait.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { findConfig, loadConfig } from '../config/load';
import { sendCommand, isPending } from '../engine/control';
import { Engine, queueRootOf } from '../engine/engine';
import { holderAlive, readLock } from '../engine/lock';
import { ensureLayout, rootPaths, type RootPaths } from '../engine/paths';
import { peekState } from '../engine/state';
import { formatStatus, readStatus } from '../engine/status';
import { formatUsage, ledgerPath, summarizeUsage } from '../engine/ledger';
import type { Command } from '../engine/types';
import { runInspect } from '../engine/inspect';
import { formatSnapshots, listSnapshots } from '../engine/snapshots';
import type { Output } from './output';
import { randomUUID } from 'node:crypto';

export const ENGINE_COMMANDS = ['daemon', 'status', 'enqueue', 'stop', 'pause', 'resume', 'retry', 'remove', 'priority', 'usage', 'rollback', 'snapshots', 'inspect'] as const;

export const ENGINE_USAGE = `  daemon [--config FILE]                                    run the training engine in the foreground until SIGTERM/SIGINT
  status [--config FILE] [--format text|json]               the queue, the current run (step, loss, ETA), the engine
  enqueue [--config FILE] [--priority N] FILE...            validate FILE and add it to the queue
  stop [--config FILE] [--now|--after-step|--after-job]     stop training (default --after-step); the queue stays paused until resume
  pause | resume [--config FILE]                            hold or release the queue (a run in progress continues)
  retry | remove [--config FILE] NAME...                    put a failed dataset back in the queue; take one out (kept in failed/)
  priority [--config FILE] NAME N                           change a queued dataset's priority (higher runs first)
  usage [--config FILE] [--format text|json]                the usage ledger (ledger.jsonl) summed by day (UTC) and model
  snapshots [--config FILE] [--format text|json]            the verified adapter snapshots (* = current): step, loss, dataset, created
  rollback [--config FILE] SNAPSHOT                         make SNAPSHOT the current adapter; the next run continues from it
  inspect [--base DIR] [--config FILE] [--format text|json] ADAPTER...   check adapter folders against the base model (exit 0 ok, 1 problems)`;

const common = {
  config: { type: 'string' },
  format: { type: 'string', default: 'text' },
  wait: { type: 'string', default: '15' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function runEngineCommand(command: string, argv: readonly string[], out: Output): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv as string[],
      options: { ...common, priority: { type: 'string' }, now: { type: 'boolean' }, 'after-step': { type: 'boolean' }, 'after-job': { type: 'boolean' }, base: { type: 'string' } },
      allowPositionals: true,
    });
  } catch (e) {
    return usage(out, (e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out.line(`usage: lora-queue <command> [options]\n\n${ENGINE_USAGE}`);
    return 0;
  }
  if (values.format !== 'text' && values.format !== 'json') return usage(out, `--format must be text or json, not ${values.format}`);
  const waitSeconds = Number(values.wait);
  if (!Number.isFinite(waitSeconds) || waitSeconds < 0) return usage(out, `--wait must be a number of seconds, not ${values.wait}`);
  if (command === 'inspect') return runInspect({ config: values.config, base: values.base, adapters: positionals, json: values.format === 'json' }, out);
  const configFile = values.config ?? findConfig(process.cwd());
  if (!configFile) {
    out.err(`lora-queue: no lora-queue.json in ${process.cwd()} or above: pass --config FILE`);
    return 2;
  }
  const json = values.format === 'json';

  if (command === 'daemon') return daemon(configFile, out);

  let paths: RootPaths;
  try {
    paths = rootPaths(queueRootOf(configFile, loadConfig(configFile, { filesystem: false })));
  } catch (e) {
    out.err(`lora-queue: ${(e as Error).message}`);
    return 2;
  }

  const commands: Command[] = [];
  switch (command) {
    case 'usage': {
      // Read from ledger.jsonl only: works with or without an engine; bad lines are skipped with a warning.
      if (positionals.length) return usage(out, 'usage takes no operands');
      const u = summarizeUsage(ledgerPath(paths.root));
      for (const w of u.warnings) out.err(`lora-queue: warning: ${w}`);
      if (json) out.line(JSON.stringify(u, null, 2));
      else for (const l of formatUsage(u)) out.line(l);
      return 0;
    }
    case 'snapshots': {
      if (positionals.length) return usage(out, 'snapshots takes no operands');
      const list = listSnapshots(paths);
      if (json) out.line(JSON.stringify(list, null, 2));
      else for (const l of formatSnapshots(list)) out.line(l);
      return 0;
    }
    case 'rollback':
      if (positionals.length !== 1) return usage(out, 'rollback needs one SNAPSHOT id (see lora-queue snapshots)');
      commands.push({ type: 'rollback', snapshot: positionals[0]! });
      break;
    case 'status': {
      const s = readStatus(paths);
      if (json) out.line(JSON.stringify(s, null, 2));
      else for (const l of formatStatus(s)) out.line(l);
      return 0;
    }
    case 'enqueue': {
      if (!positionals.length) return usage(out, 'enqueue needs at least one FILE');
      let priority = 0;
      if (values.priority !== undefined) {
        priority = Number(values.priority);
        if (!Number.isInteger(priority)) return usage(out, `--priority must be an integer, not ${values.priority}`);
      }
      for (const f of positionals) commands.push({ type: 'enqueue', path: resolve(f), priority });
      break;
    }
    case 'stop': {
      const modes = [values.now && 'now', values['after-step'] && 'afterStep', values['after-job'] && 'afterJob'].filter(Boolean) as ('now' | 'afterStep' | 'afterJob')[];
      if (modes.length > 1) return usage(out, 'stop takes one of --now, --after-step, --after-job');
      if (positionals.length) return usage(out, 'stop takes no operands');
      commands.push({ type: 'stop', mode: modes[0] ?? 'afterStep' });
      break;
    }
    case 'pause':
    case 'resume':
      if (positionals.length) return usage(out, `${command} takes no operands`);
      commands.push({ type: command });
      break;
    case 'retry':
    case 'remove':
      if (!positionals.length) return usage(out, `${command} needs a dataset NAME`);
      for (const name of positionals) commands.push({ type: command, name });
      break;
    case 'priority': {
      const [name, n] = positionals;
      const priority = Number(n);
      if (!name || n === undefined || positionals.length !== 2 || !Number.isInteger(priority)) return usage(out, 'priority needs NAME and an integer N');
      commands.push({ type: 'priority', name, priority });
      break;
    }
    default:
      return usage(out, `unknown command ${JSON.stringify(command)}`);
  }

  ensureLayout(paths);
  let results = await applyDirectly(configFile, commands, out);
  if (results === 'error') return 2;
  if (results === 'locked') results = await sendAndWait(configFile, paths, commands, waitSeconds);

  if (json) out.line(JSON.stringify(results, null, 2));
  else {
    for (const r of results) {
      const what = r.command.type === 'enqueue' ? `enqueue ${r.command.path}` : r.command.type === 'retry' || r.command.type === 'remove' ? `${r.command.type} ${r.command.name}` : r.command.type;
      const line = `${what}: ${r.ok === false ? 'refused: ' : ''}${r.message}${r.via === 'direct' ? ' (no engine running: applied directly)' : ''}`;
      if (r.ok === false) out.err(line);
      else out.line(line);
    }
  }
  if (results.some((r) => r.ok === false)) return 1;
  if (results.some((r) => r.ok === null)) return 3;
  return 0;
}

type Result = { command: Command; id: string; ok: boolean | null; message: string; via: 'engine' | 'direct' };

/** No engine runs: take the lock for a moment and apply the commands with the engine's own code. */
async function applyDirectly(configFile: string, commands: readonly Command[], out: Output): Promise<Result[] | 'locked' | 'error'> {
  const holder = readLock(rootPathsOf(configFile).lock);
  if (holder && holderAlive(holder)) return 'locked';
  let engine: Engine;
  try {
    engine = new Engine({ configFile });
  } catch (e) {
    out.err(`lora-queue: ${(e as Error).message}`);
    return 'error';
  }
  // Another engine or CLI may have taken the lock since: then the commands go through control/.
  if (!engine.ownOnce()) return 'locked';
  const results: Result[] = [];
  try {
    // Commands left in control/ by an earlier CLI come first.
    await engine.drainControl();
    for (const c of commands) {
      const id = randomUUID();
      const r = await engine.command(id, c);
      results.push({ command: c, id, ok: r.ok, message: r.message, via: 'direct' });
    }
  } finally {
    await engine.close();
  }
  return results;
}

/** An engine (or another CLI) holds the lock: write the commands into control/ and wait for the answers. */
async function sendAndWait(configFile: string, paths: RootPaths, commands: readonly Command[], waitSeconds: number): Promise<Result[]> {
  const sent = commands.map((c) => ({ c, file: sendCommand(paths.control, c) }));
  const deadline = Date.now() + waitSeconds * 1000;
  const results: Result[] = [];
  for (const { c, file } of sent) {
    let r: { ok: boolean; message: string } | undefined;
    for (;;) {
      r = peekState(paths)?.results.find((x) => x.id === file.id);
      if (r || Date.now() >= deadline) break;
      if (isPending(paths.control, file.id)) {
        // The holder may have been another CLI applying its own command, now gone: then apply
        // what waits in control/ ourselves, in order, under the lock.
        const h = readLock(paths.lock);
        if (!h || !holderAlive(h)) await drainDirectly(configFile);
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    const holder = readLock(paths.lock);
    results.push(r
      ? { command: c, id: file.id, ok: r.ok, message: r.message, via: 'engine' }
      : { command: c, id: file.id, ok: null, message: `sent to the engine${holder ? ` (pid ${holder.pid})` : ''}, not applied yet; it will be applied in order (control/ ${file.id})`, via: 'engine' });
  }
  return results;
}

function rootPathsOf(configFile: string): RootPaths {
  return rootPaths(queueRootOf(configFile, loadConfig(configFile, { filesystem: false })));
}

async function drainDirectly(configFile: string): Promise<void> {
  try {
    const engine = new Engine({ configFile });
    if (engine.ownOnce()) await engine.drainControl();
    await engine.close();
  } catch {
    // Someone else got there first; keep waiting for the answer.
  }
}

async function daemon(configFile: string, out: Output): Promise<number> {
  let engine: Engine;
  try {
    engine = new Engine({ configFile, echo: (line) => { out.line(line); void out.flush(); } });
  } catch (e) {
    out.err(`lora-queue: ${(e as Error).message}`);
    return 2;
  }
  const stopped = new Promise<string>((res) => {
    process.once('SIGTERM', () => res('SIGTERM'));
    process.once('SIGINT', () => res('SIGINT'));
  });
  engine.start();
  const sig = await stopped;
  engine.log.info(`${sig}: engine exiting`);
  await engine.close();
  return 0;
}

function usage(out: Output, message: string): number {
  out.err(`lora-queue: ${message}\n\nusage: lora-queue <command> [options]\n${ENGINE_USAGE}`);
  return 2;
}
