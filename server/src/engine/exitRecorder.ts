/**
 * The trainer's exit record. The engine does not start the trainer command itself but this small
 * process, which starts it, forwards the signals the engine sends, and, when the trainer ends,
 * writes `runs/<id>/exit.json` ({code, signal, pid, endedAt} or {error}) before exiting the same
 * way. So an end is known exactly even when no engine was watching: a window closed during the
 * run, an engine killed with -9. A trainer killed by the OOM killer reads `signal: "SIGKILL"` here,
 * where without the record the next engine could only say "it is gone".
 *
 *   node exitRecorder.js <exit.json> <trainer command> <args…>
 *
 * It is the process group's leader (the engine spawns it detached); the trainer runs in the same
 * group, so the engine's SIGKILL to the group still reaches every process. Its own cost: one idle
 * Node process per run (about 40 MB).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { ExitRecord } from './exitRecord';
import { writeExitRecord } from './exitRecord';

/** The signals the engine or a user sends to stop or nudge a run; each goes on to the trainer. */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGQUIT'];

export function main(args: readonly string[]): void {
  const [exitFile, command, ...rest] = args;
  if (!exitFile || !command) {
    process.stderr.write('usage: exitRecorder.js <exit.json> <command> [args…]\n');
    process.exit(2);
  }
  const child = spawn(command, rest, { stdio: 'inherit' });
  const forward = (sig: NodeJS.Signals): void => {
    try {
      child.kill(sig);
    } catch { /* already gone */ }
  };
  for (const sig of FORWARDED) process.on(sig, () => forward(sig));
  const finish = (record: ExitRecord, status: number): void => {
    try {
      writeExitRecord(exitFile, record);
    } catch (e) {
      process.stderr.write(`lora-queue: could not write the exit record ${exitFile}: ${(e as Error).message}\n`);
    }
    process.exit(status);
  };
  child.once('error', (e: NodeJS.ErrnoException) => {
    const message = e.code === 'ENOENT' ? `${command} was not found` : e.code === 'EACCES' ? `${command} is not executable` : e.message;
    process.stderr.write(`lora-queue: cannot start the trainer: ${message}\n`);
    finish({ code: null, signal: null, pid: null, endedAt: new Date().toISOString(), error: message }, 127);
  });
  child.once('exit', (code, signal) => {
    const status = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
    finish({ code, signal, pid: child.pid ?? null, endedAt: new Date().toISOString() }, status);
  });
}

if (require.main === module) main(process.argv.slice(2));
