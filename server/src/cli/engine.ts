/**
 * The engine's CLI commands:
 *
 *   lora-queue daemon  [--config FILE] [--stop-trainer]                  the engine in the foreground until SIGTERM/SIGINT
 *   lora-queue status  [--config FILE] [--format text|json]
 *   lora-queue enqueue [--config FILE] [--priority N] FILE...
 *   lora-queue stop    [--config FILE] [--now|--after-step|--after-job]  (default --after-step)
 *   lora-queue pause | resume [--config FILE]
 *   lora-queue retry | remove [--config FILE] NAME...
 *   lora-queue priority [--config FILE] NAME N
 *   lora-queue usage    [--config FILE] [--format text|json]            the usage ledger summed by day and model (reads ledger.jsonl only)
 *   lora-queue consolidate [--config FILE] [--wait S] [SNAPSHOT]        merge an adapter into its base model as models/<id>/ (waits for the merge)
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
import { modelDir, readModelManifest, type ModelManifest } from '../engine/models';
import type { Output } from './output';
import { randomUUID } from 'node:crypto';

export const ENGINE_COMMANDS = ['daemon', 'status', 'enqueue', 'stop', 'pause', 'resume', 'retry', 'remove', 'priority', 'usage', 'rollback', 'snapshots', 'inspect', 'consolidate'] as const;

export const ENGINE_USAGE = `  daemon [--config FILE] [--stop-trainer]                   run the training engine in the foreground until SIGTERM/SIGINT;
                                                            a running trainer is left to the next engine, or with
                                                            --stop-trainer stopped with a checkpoint to resume from
  status [--config FILE] [--format text|json]               the queue, the current run (step, loss, ETA), the engine
  enqueue [--config FILE] [--priority N] FILE...            validate FILE and add it to the queue
  stop [--config FILE] [--now|--after-step|--after-job]     stop training (default --after-step); the queue stays paused until resume
  pause | resume [--config FILE]                            hold or release the queue (a run in progress continues)
  retry | remove [--config FILE] NAME...                    put a failed dataset back in the queue; take one out (kept in failed/)
  priority [--config FILE] NAME N                           change a queued dataset's priority (higher runs first)
  usage [--config FILE] [--format text|json]                the usage ledger (ledger.jsonl) summed by day (UTC) and model
  snapshots [--config FILE] [--format text|json]            the verified adapter snapshots (* = current): step, loss, dataset, created
  rollback [--config FILE] SNAPSHOT                         make SNAPSHOT the current adapter; the next run continues from it
  inspect [--base DIR] [--config FILE] [--format text|json] ADAPTER...   check adapter folders against the base model (exit 0 ok, 1 problems)
  consolidate [--config FILE] [--wait S] [SNAPSHOT]         merge SNAPSHOT (default: the current adapter) into its base model as models/<id>/,
                                                            the new live base; waits for a run in progress and the merge (no --wait: to the end)`;

const common = {
  config: { type: 'string' },
  format: { type: 'string', default: 'text' },
  // Default 15 s; consolidate waits for its merge to the end unless told otherwise.
  wait: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function runEngineCommand(command: string, argv: readonly string[], out: Output): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv as string[],
      options: { ...common, priority: { type: 'string' }, now: { type: 'boolean' }, 'after-step': { type: 'boolean' }, 'after-job': { type: 'boolean' }, 'stop-trainer': { type: 'boolean' }, base: { type: 'string' } },
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
  const waitSeconds = values.wait === undefined ? (command === 'consolidate' ? Infinity : 15) : Number(values.wait);
  if (Number.isNaN(waitSeconds) || waitSeconds < 0) return usage(out, `--wait must be a number of seconds, not ${values.wait}`);
  if (command === 'inspect') return runInspect({ config: values.config, base: values.base, adapters: positionals, json: values.format === 'json' }, out);
  const configFile = values.config ?? findConfig(process.cwd());
  if (!configFile) {
    out.err(`lora-queue: no lora-queue.json in ${process.cwd()} or above: pass --config FILE`);
    return 2;
  }
  const json = values.format === 'json';

  if (command === 'daemon') return daemon(configFile, out, values['stop-trainer'] === true);

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
    case 'consolidate':
      if (positionals.length > 1) return usage(out, 'consolidate takes at most one SNAPSHOT id (default: the current adapter)');
      commands.push(positionals[0] ? { type: 'consolidate', snapshot: positionals[0] } : { type: 'consolidate' });
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
  // A consolidation accepted is followed to its end (or until --wait runs out).
  const started = Date.now();
  results = await Promise.all(results.map((r) => (r.command.type === 'consolidate' && r.ok ? followConsolidation(configFile, paths, r, started + waitSeconds * 1000) : r)));

  if (json) out.line(JSON.stringify(results, null, 2));
  else {
    for (const r of results) {
      const what = r.command.type === 'enqueue' ? `enqueue ${r.command.path}` : r.command.type === 'retry' || r.command.type === 'remove' ? `${r.command.type} ${r.command.name}` : r.command.type;
      const line = `${what}: ${r.ok === false ? 'refused: ' : ''}${r.message}${r.via === 'direct' ? ' (no engine running: applied directly)' : ''}`;
      if (r.ok === false) out.err(line);
      else out.line(line);
      if (r.model) for (const l of formatLineage(r.model)) out.line(`  ${l}`);
    }
  }
  if (results.some((r) => r.ok === false)) return 1;
  if (results.some((r) => r.ok === null)) return 3;
  return 0;
}

type Result = { command: Command; id: string; ok: boolean | null; message: string; via: 'engine' | 'direct'; model?: ModelManifest & { path: string } };

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
      // The merge runs here, under the lock, unless a trainer still running holds it back.
      if (c.type === 'consolidate' && r.ok) await engine.finishConsolidation();
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

/**
 * Waits for the end of the consolidation a command asked for (state.json's outcomes, by command
 * id). When the engine that was merging is gone, this CLI takes the lock and finishes it itself.
 */
async function followConsolidation(configFile: string, paths: RootPaths, r: Result, deadline: number): Promise<Result> {
  for (;;) {
    const st = peekState(paths);
    const o = st?.consolidations?.find((x) => x.commandId === r.id);
    if (o) {
      const m = o.ok ? readModelManifest(paths, o.id) : undefined;
      return { ...r, ok: o.ok, message: o.message, ...(m && { model: { ...m, path: modelDir(paths, o.id) } }) };
    }
    const h = readLock(paths.lock);
    const waiting = st?.consolidation;
    if (waiting && (!h || !holderAlive(h))) {
      // A run in progress with no engine watching: nothing moves until an engine starts.
      if (st?.current) return { ...r, ok: null, message: `${r.message}; not finished yet: it runs when run ${st.current.runId} ends, seen by an engine (lora-queue daemon or the editor)` };
      try {
        const engine = new Engine({ configFile });
        if (engine.ownOnce()) await engine.finishConsolidation();
        await engine.close();
      } catch { /* another engine took it: keep waiting */ }
      continue;
    }
    if (Date.now() >= deadline || (!waiting && !o)) {
      const where = waiting ? (waiting.status === 'merging' ? `merging (pid ${waiting.pid ?? '?'}, output in models/${waiting.id}.log)` : `pending until run ${st?.current?.runId ?? '?'} ends`) : 'not found in state.json';
      return { ...r, ok: null, message: `${r.message}; not finished yet: ${where} (lora-queue status shows it)` };
    }
    await new Promise((res) => setTimeout(res, 200));
  }
}

function formatLineage(m: ModelManifest & { path: string }): string[] {
  const a = m.adapter;
  return [
    `model: ${m.path}`,
    `merged: snapshot ${a.snapshot} (run ${a.runId ?? '?'}, step ${a.step ?? '?'}, loss ${a.loss === null ? '?' : a.loss.toFixed(4)}) into ${m.base.model ? `models/${m.base.model}` : `the config's baseModel (${m.base.path})`}`,
    `lineage: generation ${m.generation}; adapters ${m.adapters.map((x) => x.snapshot).join(' → ')}; datasets ${m.datasets.map((d) => d.dataset).join(', ')}`,
  ];
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

async function daemon(configFile: string, out: Output, stopTrainer: boolean): Promise<number> {
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
  if (stopTrainer && engine.role === 'owner') {
    await stopTrainerBeforeExit(engine, graceSecondsOf(configFile));
    engine.stopResidentTrainer('daemon --stop-trainer: the engine exits and no trainer stays loaded');
  }
  await engine.close();
  return 0;
}

function graceSecondsOf(configFile: string): number {
  try {
    return loadConfig(configFile, { filesystem: false }).trainer.stopGraceSeconds;
  } catch {
    return 30; // the config broke while the engine ran: the schema's default
  }
}

/**
 * `daemon --stop-trainer`: a stop now (SIGTERM: the trainer checkpoints and exits; SIGKILL to its
 * group after trainer.stopGraceSeconds), waited for, then the stop's pause is lifted again: the
 * dataset waits at the head of the queue and the next engine resumes it from the checkpoint.
 */
async function stopTrainerBeforeExit(engine: Engine, graceSeconds: number): Promise<void> {
  if (!readStatus(engine.paths).current) return;
  const r = await engine.command(randomUUID(), { type: 'stop', mode: 'now' });
  engine.log.info(`--stop-trainer: ${r.message}`);
  const deadline = Date.now() + (graceSeconds + 10) * 1000;
  while (readStatus(engine.paths).current && Date.now() < deadline) await new Promise((res) => setTimeout(res, 200));
  const left = readStatus(engine.paths).current;
  if (left) engine.log.warn(`--stop-trainer: run ${left.runId} has not ended; it is left to the next engine`);
  await engine.command(randomUUID(), { type: 'resume' });
}

function usage(out: Output, message: string): number {
  out.err(`lora-queue: ${message}\n\nusage: lora-queue <command> [options]\n${ENGINE_USAGE}`);
  return 2;
}
