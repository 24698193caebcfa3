/** The engine's log: logs/engine-YYYYMMDD.log (UTC days), one line per decision, kept logs.keepDays. */
import { appendFileSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

export type LogLevel = 'info' | 'warn' | 'error';
export type LogSink = (level: LogLevel, message: string) => void;

export class EngineLog {
  /** The last failure to append to the log file (a full or read-only disk), with its wall-clock time. */
  lastWriteError: { code: string; message: string; at: number } | undefined;

  constructor(private readonly dir: string, private readonly echo?: (line: string) => void) {}

  write(level: LogLevel, message: string, now: Date = new Date()): void {
    const line = `${now.toISOString()} ${level.padEnd(5)} [${process.pid}] ${message}`;
    const day = now.toISOString().slice(0, 10).replace(/-/g, '');
    try {
      appendFileSync(join(this.dir, `engine-${day}.log`), line + '\n');
    } catch (e) {
      // A full disk must not stop the engine; the echo (if any) still shows it, and the engine
      // takes the failure as evidence of a full disk (engine.ts).
      this.lastWriteError = { code: (e as NodeJS.ErrnoException).code ?? 'EIO', message: (e as Error).message, at: now.getTime() };
    }
    this.echo?.(line);
  }

  info(m: string): void { this.write('info', m); }
  warn(m: string): void { this.write('warn', m); }
  error(m: string): void { this.write('error', m); }

  /**
   * Deletes engine logs (only files named engine-YYYYMMDD.log) whose day is more than `keepDays`
   * UTC days before today: by the day in the name, which a late write (mtime) cannot move. Returns
   * the names deleted.
   */
  prune(keepDays: number, now: number = Date.now()): string[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const today = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), new Date(now).getUTCDate());
    const deleted: string[] = [];
    for (const n of names) {
      const m = /^engine-(\d{4})(\d{2})(\d{2})\.log$/.exec(n);
      if (!m) continue;
      const day = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
      if (!Number.isFinite(day) || today - day <= keepDays * 86_400_000) continue;
      try {
        if (!statSync(join(this.dir, n)).isFile()) continue;
        unlinkSync(join(this.dir, n));
        deleted.push(n);
      } catch {
        // gone
      }
    }
    if (deleted.length) this.info(`deleted ${deleted.length} engine log(s) older than logs.keepDays = ${keepDays}: ${deleted.join(', ')}`);
    return deleted;
  }
}
