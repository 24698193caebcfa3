/**
 * Validates a file as a stream of bytes: never the whole file in memory, never a whole
 * oversized line in memory. Each line is decoded on its own (measured faster than decoding
 * whole chunks), a BOM is reported and skipped, CRLF line ends are accepted, invalid UTF-8 is
 * reported at the first bad byte.
 */
import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { fileDiagnostic, FileChecker, type FileReport, type ValidateOptions } from './file';
import { validateLine } from './line';

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

/** Streams one input through the validator. `name` is only for messages. */
export async function validateChunks(chunks: AsyncIterable<Buffer>, opts: ValidateOptions): Promise<FileReport> {
  const checker = new FileChecker(opts);
  let first = true;
  const splitter = new LineSplitter(
    opts.maxLineBytes,
    (buf, start, end, line) => {
      if (first) {
        first = false;
        if (end - start >= 3 && buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf) {
          checker.add(fileDiagnostic('bom', 0, 0, 1, 'the file starts with a UTF-8 byte order mark; Python\'s json.loads rejects it on the first line — save as UTF-8 without BOM'));
          start += 3;
        }
      }
      const text = buf.toString('utf8', start, end);
      if (text.includes('\ufffd') && !isUtf8(buf.subarray(start, end))) {
        const bad = firstInvalidUtf8(buf, start, end);
        const col = buf.toString('utf8', start, bad).length;
        checker.add(fileDiagnostic('invalid-utf8', line, col, col + 1,
          `byte 0x${buf[bad]!.toString(16).padStart(2, '0')} at byte ${bad - start + 1} of the line is not valid UTF-8: is the file in another encoding (Latin-1, UTF-16)? Re-save it as UTF-8`));
      }
      checker.addLine(line, validateLine(text, opts), text.length);
    },
    (line, bytes) => {
      first = false;
      checker.countUnparsedLine(line);
      checker.add(fileDiagnostic('line-too-large', line, 0, 1,
        `line is ${formatBytes(bytes)}, over the ${formatBytes(opts.maxLineBytes)} limit: it was not parsed (raise validation.maxLineBytes, or split the example)`));
    },
  );
  for await (const chunk of chunks) splitter.push(chunk);
  splitter.end();
  return checker.finish();
}

export function validateFile(path: string, opts: ValidateOptions): Promise<FileReport> {
  return validateChunks(createReadStream(path, { highWaterMark: 1 << 20 }), opts);
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
