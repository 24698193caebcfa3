/**
 * Starting a process that must outlive the engine: the trainer (through its exit recorder) and the
 * merge of a consolidation. execa, with what such a process needs: its own process group and
 * session (`detached`), no killing it when the engine exits (`cleanup: false`), no buffering, no
 * rejection (every end is reported the same way), and stdout and stderr appended to a log file by
 * file descriptor, never through a pipe to the engine, so it keeps logging when the engine is gone.
 * An argument array: no shell ever sees it.
 */
import { closeSync, openSync } from 'node:fs';
import { execa } from 'execa';

export interface DetachedEnd {
  readonly code: number | null;
  readonly signal: string | null;
  /** Set when the process never started (the program missing, not executable…). */
  readonly notStarted?: string;
}

/**
 * Starts `file args`; `onEnd` is called once, when it ends. Returns its pid. Throws when the log
 * cannot be opened or the arguments cannot be passed (a NUL byte); a missing program is an end.
 */
export function spawnDetached(file: string, args: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv; logPath: string }, onEnd: (end: DetachedEnd) => void): number | undefined {
  const fd = openSync(opts.logPath, 'a');
  try {
    const child = execa(file, args, {
      cwd: opts.cwd, env: opts.env, extendEnv: false, detached: true, cleanup: false, reject: false, buffer: false,
      // execa accepts any descriptor; its types only list 1-9.
      stdio: ['ignore', fd, fd] as unknown as ['ignore', 1, 2],
    });
    let ended = false;
    const end = (e: DetachedEnd): void => {
      if (ended) return;
      ended = true;
      onEnd(e);
    };
    child.then(
      (r) => {
        if (r.exitCode !== undefined || r.signal) return end({ code: r.exitCode ?? null, signal: r.signal ?? null });
        const code = (r as { code?: string }).code;
        end({ code: null, signal: null, notStarted: code === 'ENOENT' ? `${file} was not found` : code === 'EACCES' ? `${file} is not executable` : r.shortMessage });
      },
      (e: Error) => end({ code: null, signal: null, notStarted: e.message }),
    );
    // The engine may exit before it: it must not keep the engine alive.
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}
