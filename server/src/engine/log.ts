/** The engine's log: logs/engine-YYYYMMDD.log (UTC days), one line per decision, kept logs.keepDays. */
import { appendFileSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

export type LogLevel = 'info' | 'warn' | 'error';
export type LogSink = (level: LogLevel, message: string) => void;

export class EngineLog {
  constructor(private readonly dir: string, private readonly echo?: (line: string) => void) {}

  write(level: LogLevel, message: string, now: Date = new Date()): void {
    const line = `${now.toISOString()} ${level.padEnd(5)} [${process.pid}] ${message}`;
    const day = now.toISOString().slice(0, 10).replace(/-/g, '');
    try {
      appendFileSync(join(this.dir, `engine-${day}.log`), line + '\n');
    } catch {
      // A full disk must not stop the engine; the echo (if any) still shows it.
    }
    this.echo?.(line);
  }

  info(m: string): void { this.write('info', m); }
  warn(m: string): void { this.write('warn', m); }
  error(m: string): void { this.write('error', m); }

  /** Deletes engine logs older than `keepDays`. */
  prune(keepDays: number, now: number = Date.now()): void {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return;
    }
    for (const n of names) {
      if (!/^engine-\d{8}\.log$/.test(n)) continue;
      try {
        if (now - statSync(join(this.dir, n)).mtimeMs > keepDays * 86_400_000) unlinkSync(join(this.dir, n));
      } catch {
        // gone
      }
    }
  }
}
