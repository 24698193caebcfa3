/**
 * Validates a file as a stream of bytes: never the whole file in memory, never a whole
 * oversized line in memory. Each line is decoded on its own (measured faster than decoding
 * whole chunks), a BOM is reported and skipped, CRLF line ends are accepted, invalid UTF-8 is
 * reported at the first bad byte.
 */
import { isUtf8 } from 'node:buffer';
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { fileDiagnostic, type FileReport, type ValidateOptions } from './file';
import { bomDiagnostic } from './fileRules';
import { fastLines, type FastLines } from './fastLine';
import { hashingReady } from './hash';
import { validateLine } from './line';
import { mergeParts, PartCollector, PartMerger, type PartResult } from './part';

/** Splits byte chunks into lines; lines longer than maxLineBytes are counted, not kept. */
export class LineSplitter {
  private parts: Buffer[] = [];
  private partBytes = 0;
  private oversize = false;
  private line = 0;
  private sawAnything = false;

  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: (buf: Buffer, start: number, end: number, line: number) => void,
    private readonly onOversize: (line: number, bytes: number) => void,
  ) {}

  push(chunk: Buffer): void {
    if (chunk.length) this.sawAnything = true;
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(10, pos);
      const end = nl === -1 ? chunk.length : nl;
      if (nl === -1) {
        this.accumulate(chunk, pos, end);
        return;
      }
      if (this.parts.length === 0 && !this.oversize) {
        if (end - pos > this.maxLineBytes) this.onOversize(this.line, end - pos);
        else this.emit(chunk, pos, end);
      } else {
        this.accumulate(chunk, pos, end);
        this.flushAccumulated();
      }
      this.line++;
      pos = nl + 1;
    }
  }

  /** Call at end of input; returns the number of lines (a final line break ends the last line). */
  end(): number {
    if (this.parts.length || this.oversize) {
      this.flushAccumulated();
      this.line++;
    }
    return this.sawAnything ? this.line : 0;
  }

  private accumulate(chunk: Buffer, start: number, end: number): void {
    this.partBytes += end - start;
    if (this.oversize) return;
    if (this.partBytes > this.maxLineBytes) {
      this.oversize = true;
      this.parts = [];
      return;
    }
    // Copy: the caller may reuse the chunk's memory.
    this.parts.push(Buffer.from(chunk.subarray(start, end)));
  }

  private flushAccumulated(): void {
    if (this.oversize) {
      this.onOversize(this.line, this.partBytes);
    } else {
      const buf = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.partBytes);
      this.emit(buf, 0, buf.length);
    }
    this.parts = [];
    this.partBytes = 0;
    this.oversize = false;
  }

  private emit(buf: Buffer, start: number, end: number): void {
    if (end > start && buf[end - 1] === 13) end--; // CRLF
    this.onLine(buf, start, end, this.line);
  }
}

/** Byte offset of the first invalid UTF-8 sequence, or -1. */
export function firstInvalidUtf8(buf: Buffer, start: number, end: number): number {
  let i = start;
  while (i < end) {
    const b = buf[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [need, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    if (i + need >= end) return i; // truncated sequence at the end of the line
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = buf[i + k]!;
      if ((c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/**
 * Feeds a LineSplitter's lines into a part collector: BOM, UTF-8 and size checks, then the line
 * rules. A line of the common clean shape is taken by the WebAssembly fast path (fastLine.ts),
 * which agrees with the rules and only declines what they must see.
 */
export function partSplitter(collector: PartCollector, opts: ValidateOptions, atFileStart: boolean, fast: FastLines | null): LineSplitter {
  let first = atFileStart;
  return new LineSplitter(
    opts.maxLineBytes,
    (buf, start, end, line) => {
      if (first) {
        first = false;
        if (end - start >= 3 && buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf) {
          collector.add(bomDiagnostic('bytes'));
          start += 3;
        }
      }
      if (fast) {
        const hash = fast.check(buf, start, end);
        if (hash >= 0) {
          collector.addCleanLine(line, hash, fast.utf16Length());
          return;
        }
      }
      const text = buf.toString('utf8', start, end);
      if (text.includes('\ufffd') && !isUtf8(buf.subarray(start, end))) {
        const bad = firstInvalidUtf8(buf, start, end);
        const col = buf.toString('utf8', start, bad).length;
        collector.add(fileDiagnostic('invalid-utf8', line, col, col + 1,
          `byte 0x${buf[bad]!.toString(16).padStart(2, '0')} at byte ${bad - start + 1} of the line is not valid UTF-8: is the file in another encoding (Latin-1, UTF-16)? Re-save it as UTF-8`));
      }
      collector.addLine(line, validateLine(text, opts), text.length);
    },
    (line, bytes) => {
      first = false;
      collector.addUnparsedLine(line);
      collector.add(fileDiagnostic('line-too-large', line, 0, 1,
        `line is ${formatBytes(bytes)}, over the ${formatBytes(opts.maxLineBytes)} limit: it was not parsed (raise validation.maxLineBytes, or split the example)`));
    },
  );
}

/**
 * How a file is validated. `fastPath: false` runs every line through the full validator: the
 * reports are the same (tests compare them), only slower; the benchmarks measure the difference.
 */
export interface ValidateRun {
  fastPath?: boolean;
}

/** Streams one input (a file, standard input) through the validator on this thread. */
export async function validateChunks(chunks: AsyncIterable<Buffer>, opts: ValidateOptions, { fastPath = true }: ValidateRun = {}): Promise<FileReport> {
  await hashingReady();
  const collector = new PartCollector(opts);
  const splitter = partSplitter(collector, opts, true, fastPath ? fastLines() : null);
  for await (const chunk of chunks) splitter.push(chunk);
  splitter.end();
  return mergeParts([collector.finish()], opts);
}

const CHUNK = 1 << 20;

/** Validates bytes [start, end) of a file synchronously: one part, line numbers local to it (await hashingReady() first). */
export function validateRangeSync(path: string, start: number, end: number, opts: ValidateOptions, { fastPath = true }: ValidateRun = {}): PartResult {
  const collector = new PartCollector(opts);
  const fast = fastPath ? fastLines() : null;
  const splitter = partSplitter(collector, opts, start === 0, fast);
  const fd = openSync(path, 'r');
  try {
    // Read into the fast path's own memory, so that it checks most lines where they lie.
    const buf = fast ? fast.chunk : Buffer.allocUnsafe(CHUNK);
    let pos = start;
    while (pos < end) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, end - pos), pos);
      if (n === 0) break;
      // The splitter copies what it keeps, so the buffer can be reused.
      splitter.push(n === buf.length ? buf : buf.subarray(0, n));
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
  splitter.end();
  return collector.finish();
}

/** Files at least this large are split into byte ranges validated on several cores. */
export const PARALLEL_MIN_BYTES = 32 * 1024 * 1024;

/** Offsets that cut a file into about `parts` ranges, each starting right after a line break. */
export function splitPoints(path: string, size: number, parts: number): number[] {
  const points = [0];
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(64 * 1024);
    for (let k = 1; k < parts; k++) {
      let pos = Math.max(Math.floor((size * k) / parts), points[points.length - 1]!);
      let found = -1;
      while (found === -1 && pos < size) {
        const n = readSync(fd, buf, 0, buf.length, pos);
        if (n === 0) break;
        const nl = buf.subarray(0, n).indexOf(10);
        if (nl !== -1) found = pos + nl + 1;
        else pos += n;
      }
      if (found === -1 || found >= size) break;
      if (found > points[points.length - 1]!) points.push(found);
    }
  } finally {
    closeSync(fd);
  }
  points.push(size);
  return points;
}

/** A large file is cut into ranges of about this size, which the threads take in turn. */
export const RANGE_BYTES = 32 * 1024 * 1024;

/**
 * Validates a file from disk. A large file is cut at line breaks into ranges of about
 * RANGE_BYTES; this thread and worker threads each take the next range not yet taken (an atomic
 * counter), so a worker that starts late, or a core that is busy, takes fewer. The parts are
 * merged in file order (duplicates across parts included) into exactly the report of one pass;
 * this thread merges the parts done so far between its own ranges, so that little is left to
 * merge once the last range is read.
 */
export async function validateFile(path: string, opts: ValidateOptions, { workers = defaultWorkers(), minParallelBytes = PARALLEL_MIN_BYTES, fastPath = true, rangeBytes = RANGE_BYTES }: ValidateRun & { workers?: number; minParallelBytes?: number; rangeBytes?: number } = {}): Promise<FileReport> {
  await hashingReady();
  const size = statSync(path).size;
  if (workers < 2 || size < minParallelBytes) return validateChunks(createReadStream(path, { highWaterMark: CHUNK }), opts, { fastPath });
  const points = splitPoints(path, size, Math.max(workers, Math.ceil(size / rangeBytes)));
  const ranges = points.length - 1;
  const work: RangeWork = { path, points, next: new Int32Array(new SharedArrayBuffer(4)), opts, fastPath };
  const merge = new InOrderMerge(opts, points);
  const remote = Array.from({ length: Math.min(workers, ranges) - 1 }, () => new RemoteRanges(work, merge));
  takeRanges(work, (k, part) => {
    merge.put(k, part);
    for (const r of remote) r.poll();
  });
  await Promise.all(remote.map((r) => r.finished()));
  return merge.finish();
}

/** Parts as they come in, from any thread in any order, merged as soon as all before them are in. */
class InOrderMerge {
  private readonly merger: PartMerger;
  private readonly parts: (PartResult | undefined)[] = [];
  private next = 0;

  constructor(opts: ValidateOptions, private readonly points: readonly number[]) {
    this.merger = new PartMerger(opts);
  }

  put(k: number, part: PartResult): void {
    this.parts[k] = part;
    for (let p = this.parts[this.next]; p; p = this.parts[this.next]) {
      this.parts[this.next] = undefined;
      // The whole file's examples, estimated from the first part's, size the duplicate index.
      const expected = this.next === 0 ? Math.ceil((p.examples * this.points[this.points.length - 1]!) / Math.max(1, this.points[1]! - this.points[0]!)) : p.examples;
      this.merger.add(p, expected);
      this.next++;
    }
  }

  finish(): FileReport {
    if (this.next !== this.points.length - 1) throw new Error(`validation: ${this.points.length - 1 - this.next} of ${this.points.length - 1} ranges missing`);
    return this.merger.finish();
  }
}

/** What a validation worker is given: the ranges, and the counter through which the threads share them out. */
export interface RangeWork {
  path: string;
  points: number[];
  next: Int32Array;
  opts: ValidateOptions;
  fastPath: boolean;
}

/** Takes ranges until none is left, on the calling thread; calls back with each part. */
export function takeRanges(work: RangeWork, onPart: (k: number, part: PartResult) => void): void {
  const ranges = work.points.length - 1;
  for (let k = Atomics.add(work.next, 0, 1); k < ranges; k = Atomics.add(work.next, 0, 1)) {
    onPart(k, validateRangeSync(work.path, work.points[k]!, work.points[k + 1]!, work.opts, { fastPath: work.fastPath }));
  }
}

/**
 * A worker thread taking ranges. It posts each part, then 'done', on its own port, which this
 * thread reads synchronously between its own ranges (poll) and then waits on (finished).
 * The worker script sits beside this module: dist/validateWorker.js in the bundles, validateWorker.js in out/.
 */
class RemoteRanges {
  private readonly port: MessagePort;
  private readonly worker: Worker;
  private done = false;
  private failure: Error | undefined;
  private onSettled: (() => void) | undefined;

  constructor(work: RangeWork, private readonly merge: InOrderMerge) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(join(__dirname, 'validateWorker.js'), { workerData: { work, port: port2 }, transferList: [port2] });
    this.worker.once('error', (e) => this.fail(e));
    this.worker.once('exit', (code) => {
      this.poll(); // a worker that is done may exit before its last messages are read
      if (!this.done) this.fail(new Error(`validation worker exited with code ${code} before it was done`));
    });
  }

  /** Takes the parts the worker has posted so far. */
  poll(): void {
    while (!this.done && !this.failure) {
      const m = receiveMessageOnPort(this.port);
      if (!m) return;
      this.take(m.message as WorkerMessage);
    }
  }

  finished(): Promise<void> {
    this.poll();
    return new Promise((resolve, reject) => {
      this.onSettled = () => (this.failure ? reject(this.failure) : resolve());
      if (this.done || this.failure) return this.onSettled();
      this.port.on('message', (m: WorkerMessage) => this.take(m));
    });
  }

  private take(m: WorkerMessage): void {
    if (this.done) return;
    if (m === 'done') {
      this.done = true;
      this.port.close();
      void this.worker.terminate();
      this.onSettled?.();
    } else this.merge.put(m.k, m.part);
  }

  private fail(e: Error): void {
    if (this.done || this.failure) return;
    this.failure = e;
    this.port.close();
    this.onSettled?.();
  }
}

type WorkerMessage = { k: number; part: PartResult } | 'done';

function defaultWorkers(): number {
  return Math.min(4, availableParallelism());
}

export function validateText(text: string, opts: ValidateOptions): Promise<FileReport> {
  return validateChunks((async function* () { yield Buffer.from(text, 'utf8'); })(), opts);
}

function formatBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} bytes`;
}
