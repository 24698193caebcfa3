/** Where the CLI writes: stdout for results, stderr for problems. Buffered so a million lines stay fast. */
export interface Output {
  line(s: string): void;
  err(s: string): void;
  flush(): Promise<void>;
}

export function processOutput(): Output {
  let buf: string[] = [];
  let size = 0;
  let pending: Promise<void> = Promise.resolve();
  const drain = (): void => {
    if (!buf.length) return;
    const chunk = buf.join('\n') + '\n';
    buf = [];
    size = 0;
    pending = pending.then(() => new Promise<void>((res) => { if (process.stdout.write(chunk)) res(); else process.stdout.once('drain', res); }));
  };
  return {
    line(s) {
      buf.push(s);
      size += s.length;
      if (size > 1 << 16) drain();
    },
    err(s) {
      drain();
      pending = pending.then(() => { process.stderr.write(s + '\n'); });
    },
    async flush() {
      drain();
      await pending;
    },
  };
}
