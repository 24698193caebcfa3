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
 *
 * With trainer.resident the trainer is already running (resident.ts), and the recorder is its
 * client for one run instead of its parent:
 *
 *   node exitRecorder.js <exit.json> --resident <socket> <pid> <start time> --job <job.json>
 *
 * It connects to the resident trainer's socket (relative to the queue root, its cwd), hands it the
 * job, forwards the engine's stop signals as messages, and exits with the job's exit code, so the
 * engine sees one process per run exactly as for a cold run (adoption, stop, exit.json). When the
 * resident trainer ends before it answers (a crash, a kill -9, a command without resident support),
 * the run ends with an error event that says so.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import type { ExitRecord } from './exitRecord';
import { writeExitRecord } from './exitRecord';
import { isProcessAlive } from './proc';

/** The signals the engine or a user sends to stop or nudge a run; each goes on to the trainer. */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGQUIT'];

export function main(args: readonly string[]): void {
  const [exitFile, command, ...rest] = args;
  if (!exitFile || !command) {
    process.stderr.write('usage: exitRecorder.js <exit.json> <command> [args…]\n');
    process.exit(2);
  }
  if (command === '--resident') return residentClient(exitFile, rest);
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

/** The resident trainer's greeting (trainer/lora_queue_trainer/resident.py). */
export const RESIDENT_HELLO = 'lora-queue-resident';

function residentClient(exitFile: string, args: readonly string[]): void {
  const [socket, pidText, startTime, flag, jobPath] = args;
  const pid = Number(pidText);
  if (!socket || !Number.isInteger(pid) || !startTime || flag !== '--job' || !jobPath) {
    process.stderr.write('usage: exitRecorder.js <exit.json> --resident <socket> <pid> <start time> --job <job.json>\n');
    process.exit(2);
  }
  const runDir = dirname(jobPath);
  const pending: string[] = [];
  let conn: ReturnType<typeof connect> | undefined;
  let greeted = false;
  let ended = false;
  const send = (msg: object): void => {
    const line = `${JSON.stringify(msg)}\n`;
    if (conn && greeted) conn.write(line);
    else pending.push(line);
  };
  for (const sig of FORWARDED) process.on(sig, () => send({ signal: sig === 'SIGUSR1' ? 'SIGUSR1' : 'SIGTERM' }));
  const finish = (code: number, why?: string, kind: 'config' | 'other' = 'other'): void => {
    if (ended) return;
    ended = true;
    if (why) {
      process.stderr.write(`lora-queue: ${why}\n`);
      // The run's own record of it, as a trainer's error event (the stream may end in a torn line).
      const events = eventsPathOf(jobPath);
      let sep = '';
      try {
        const text = readFileSync(events, 'utf8');
        if (text.length && !text.endsWith('\n')) sep = '\n';
      } catch { /* none yet */ }
      try {
        appendFileSync(events, `${sep}${JSON.stringify({ type: 'error', time: Date.now() / 1000, kind, message: why })}\n`);
      } catch { /* the exit record still tells */ }
    }
    try {
      writeExitRecord(exitFile, { code, signal: null, pid, endedAt: new Date().toISOString() });
    } catch (e) {
      process.stderr.write(`lora-queue: could not write the exit record ${exitFile}: ${(e as Error).message}\n`);
    }
    process.exit(code);
  };
  const gone = (): string => `the resident trainer (pid ${pid}) ended before it finished the job; its own log is resident/trainer.log in the queue root`;
  const attempt = (): void => {
    if (!isProcessAlive(pid, startTime)) {
      // Never greeted: most likely a trainer command without resident support (a user's own script).
      finish(2, `the resident trainer (pid ${pid}) exited before it took the job: trainer.command does not support trainer.resident (the reference trainer does: python -m lora_queue_trainer), or it failed to start; its output is in resident/trainer.log in the queue root. Set trainer.resident to false for this command.`, 'config');
      return;
    }
    const c = connect(socket);
    let buf = '';
    let retried = false;
    const again = (): void => {
      if (retried || ended) return;
      retried = true;
      c.destroy();
      setTimeout(attempt, 100);
    };
    c.setEncoding('utf8');
    conn = c;
    c.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg: { hello?: unknown; protocol?: unknown; pid?: unknown; exit?: unknown };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          finish(greeted ? 1 : 2, `the process on ${socket} (pid ${pid}) does not speak the resident trainer's protocol (it sent ${JSON.stringify(line.slice(0, 100))})${greeted ? '' : ': trainer.command does not support trainer.resident'}`, greeted ? 'other' : 'config');
          return;
        }
        if (!greeted) {
          if (msg.hello !== RESIDENT_HELLO || msg.protocol !== 1) {
            finish(2, `the process on ${socket} (pid ${pid}) is not a resident trainer of protocol 1 (hello ${JSON.stringify(msg).slice(0, 200)}): trainer.command does not support trainer.resident`, 'config');
            return;
          }
          if (msg.pid !== pid) {
            finish(1, `${socket} is served by pid ${String(msg.pid)}, not by the resident trainer the engine started (pid ${pid})`);
            return;
          }
          greeted = true;
          c.write(`${JSON.stringify({ job: jobPath, log: join(runDir, 'trainer.log') })}\n`);
          for (const l of pending.splice(0)) c.write(l);
        } else if (typeof msg.exit === 'number') {
          finish(msg.exit);
          return;
        }
      }
    });
    c.on('error', (e: NodeJS.ErrnoException) => {
      // Not listening yet (the trainer still imports): try again while it lives.
      if (!greeted) again();
      else finish(1, `${gone()} (${e.code ?? e.message})`);
    });
    c.on('close', () => {
      if (greeted) finish(1, gone());
      else again();
    });
  };
  attempt();
}

/** events.jsonl of a run: job.json's `events`, or beside it. */
function eventsPathOf(jobPath: string): string {
  try {
    const job = JSON.parse(readFileSync(jobPath, 'utf8')) as { events?: unknown };
    if (typeof job.events === 'string') return job.events;
  } catch { /* beside it */ }
  return join(dirname(jobPath), 'events.jsonl');
}

if (require.main === module) main(process.argv.slice(2));
