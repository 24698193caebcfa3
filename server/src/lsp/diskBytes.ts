/**
 * What the editor hides: VS Code strips a UTF-8 byte order mark and shows invalid UTF-8 as U+FFFD
 * before the server sees the text. The file's bytes on disk are checked at open and save, and
 * their problems reported with the line they are on.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { fileDiagnostic, type FileDiagnostic } from '../dataset/file';
import { bomDiagnostic } from '../dataset/fileRules';
import { firstInvalidUtf8, LineSplitter } from '../dataset/stream';

const CHUNK = 1 << 20;

export function diskByteDiagnostics(path: string, maxLineBytes: number): FileDiagnostic[] {
  const out: FileDiagnostic[] = [];
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return out; // an unsaved or remote file: nothing on disk to check
  }
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let first = true;
    let carry = Buffer.alloc(0);
    let clean = true;
    // Fast path: the whole file is valid UTF-8 (checked natively, chunk by chunk across boundaries).
    for (let pos = 0; ; ) {
      const n = readSync(fd, buf, 0, CHUNK, pos);
      if (n === 0) break;
      if (first) {
        first = false;
        if (n >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) {
          out.push(bomDiagnostic('hiddenByEditor'));
        }
      }
      const chunk = Buffer.concat([carry, buf.subarray(0, n)]);
      // Keep an incomplete trailing sequence for the next chunk.
      let cut = chunk.length;
      for (let k = 1; k <= 3 && cut - k >= 0; k++) {
        const b = chunk[cut - k]!;
        if ((b & 0xc0) === 0xc0) {
          const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
          if (k < need) cut -= k;
          break;
        }
        if ((b & 0xc0) !== 0x80) break;
      }
      if (!isUtf8(chunk.subarray(0, cut))) {
        clean = false;
        break;
      }
      carry = Buffer.from(chunk.subarray(cut));
      pos += n;
    }
    if (clean && carry.length === 0) return out;
    // Slow path: find the bad bytes line by line.
    const splitter = new LineSplitter(
      maxLineBytes,
      (b, start, end, line) => {
        if (line === 0 && b[start] === 0xef && b[start + 1] === 0xbb && b[start + 2] === 0xbf) start += 3;
        const bad = firstInvalidUtf8(b, start, end);
        if (bad === -1) return;
        const col = b.toString('utf8', start, bad).length;
        out.push(fileDiagnostic('invalid-utf8', line, col, col + 1,
          `the file on disk has byte 0x${b[bad]!.toString(16).padStart(2, '0')} here, which is not UTF-8 (the editor shows it as \ufffd; saving writes U+FFFD in its place): is the file in another encoding? Reopen it with the right encoding and save it as UTF-8`));
      },
      () => undefined,
    );
    for (let pos = 0; ; ) {
      const n = readSync(fd, buf, 0, CHUNK, pos);
      if (n === 0) break;
      splitter.push(n === CHUNK ? buf : buf.subarray(0, n));
      pos += n;
    }
    splitter.end();
    return out;
  } finally {
    closeSync(fd);
  }
}
