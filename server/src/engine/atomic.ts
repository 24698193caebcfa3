/**
 * Durable file writes. Every file the engine replaces goes through a temporary file in the same
 * folder, fsync, rename, and an fsync of the folder, so a crash or power cut leaves either the old
 * or the new content, never a torn mix. Synchronous on purpose: the writes are small, and a
 * synchronous write cannot interleave with another tick of the engine.
 */
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { basename, dirname, extname, join } from 'node:path';
import { sync as writeFileAtomicSync } from 'write-file-atomic';

export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Flushes a file already written (a copied one) to the disk. */
export function fsyncFile(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A temporary name beside `file`: a dotfile ending in .tmp, which every scanner skips. */
export function tempNameFor(file: string): string {
  return join(dirname(file), `.${basename(file)}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`);
}

/**
 * write-file-atomic writes a temporary file beside `file` (`file.<hash>`, which no scanner takes:
 * datasets end in .jsonl, commands and sidecars in .json), fsyncs it, renames it over `file`, and
 * removes it on failure. It does not fsync the folder, so a power cut could still lose the rename:
 * we do that part.
 */
export function writeFileAtomic(file: string, data: string | Buffer): void {
  writeFileAtomicSync(file, data, { fsync: true, mode: 0o644 });
  fsyncDir(dirname(file));
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

/** The parsed file, undefined when it does not exist; throws on unreadable or invalid JSON. */
export function readJson<T>(file: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return JSON.parse(text) as T;
}

/** Like readJson, but a broken file reads as undefined. */
export function readJsonQuiet<T>(file: string): T | undefined {
  try {
    return readJson<T>(file);
  } catch {
    return undefined;
  }
}

/** `name`, or `stem-2.ext`, `stem-3.ext`… */
export function candidateName(name: string, n: number): string {
  if (n <= 1) return name;
  const ext = extname(name);
  return `${name.slice(0, name.length - ext.length)}-${n}${ext}`;
}

/**
 * Moves `src` into `dir` under `name`, or the first free `name-N`, never replacing a file: a hard
 * link fails with EEXIST where a rename would overwrite. Returns the name used.
 */
export function moveNoClobber(src: string, dir: string, name: string, taken: (candidate: string) => boolean = () => false): string {
  for (let n = 1; ; n++) {
    const candidate = candidateName(name, n);
    if (taken(candidate)) continue;
    try {
      linkSync(src, join(dir, candidate));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw e;
    }
    unlinkSync(src);
    fsyncDir(dir);
    fsyncDir(dirname(src));
    return candidate;
  }
}
