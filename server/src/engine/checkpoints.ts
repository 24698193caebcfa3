/**
 * A checkpoint is verified before a run resumes from it. The protocol leaves a checkpoint's format
 * to the trainer, so the checks are the ones any trainer's files allow, without loading them:
 *
 * - the folder exists and holds at least one file;
 * - no weight or state file (`.safetensors`, `.pt`, `.pth`, `.bin`, `.json`) is empty;
 * - every `.json` parses;
 * - every `.safetensors` has a well-formed header whose tensors exactly fill the file;
 * - every torch file in zip form (`torch.save`'s format since PyTorch 1.6) ends with its zip
 *   directory: a file cut short loses it.
 *
 * A bad checkpoint is set aside (renamed `<name>.bad-<time>`, kept for a look, never given to a
 * trainer again) and the newest good one before it in the same folder is used; with none, the run
 * starts over on the dataset (from the current adapter), which loses steps but never crashes the
 * trainer on half a file.
 */
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { readSafetensorsHeader } from './adapterCheck';

const CHECKED = /\.(safetensors|pt|pth|bin|json)$/i;
const EOCD = Buffer.from([0x50, 0x4b, 0x05, 0x06]);
const ZIP_LOCAL = Buffer.from([0x50, 0x4b, 0x03, 0x04]);

/** Problems with the checkpoint folder `dir`; empty when it looks whole. */
export function verifyCheckpoint(dir: string): string[] {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) return [`${dir} is not a folder`];
    names = readdirSync(dir, { recursive: true }).map(String);
  } catch (e) {
    return [`${dir} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`];
  }
  const problems: string[] = [];
  let files = 0;
  for (const rel of names) {
    const file = join(dir, rel);
    let size: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) continue;
      size = st.size;
    } catch (e) {
      problems.push(`${rel}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      continue;
    }
    files++;
    if (!CHECKED.test(rel)) continue;
    if (size === 0) {
      problems.push(`${rel} is empty`);
      continue;
    }
    try {
      if (/\.json$/i.test(rel)) JSON.parse(readFileSync(file, 'utf8'));
      else if (/\.safetensors$/i.test(rel)) readSafetensorsHeader(file);
      else checkZipEnd(file, size);
    } catch (e) {
      problems.push(`${rel}: ${(e as Error).message}`);
    }
  }
  if (!files && !problems.length) problems.push('the folder is empty');
  return problems;
}

/** A zip file (torch.save) must end with its end-of-central-directory record; other formats pass. */
function checkZipEnd(file: string, size: number): void {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(4);
    readSync(fd, head, 0, 4, 0);
    if (!head.equals(ZIP_LOCAL)) return; // legacy pickle or another format: nothing more to check
    // The record is 22 bytes plus a comment of at most 64 KiB, at the very end.
    const len = Math.min(size, 22 + 0xffff);
    const tail = Buffer.alloc(len);
    readSync(fd, tail, 0, len, fstatSync(fd).size - len);
    if (tail.lastIndexOf(EOCD) < 0) throw new Error('a zip (torch.save) file without its closing directory: cut short');
  } finally {
    closeSync(fd);
  }
}

export interface ResumeChoice {
  /** The checkpoint to resume from, or null to start the dataset over. */
  readonly path: string | null;
  /** What was found and done, for the log. */
  readonly notes: string[];
}

/** `step-12` → 12; other names sort as -1. */
function stepOf(name: string): number {
  const m = /(\d+)$/.exec(name);
  return m ? Number(m[1]) : -1;
}

/**
 * The checkpoint to resume from when the queue says `wanted`: it when it is whole, else the newest
 * whole one before it in the same folder (each bad one met on the way is set aside), else none.
 */
export function chooseCheckpoint(wanted: string | null, now: Date = new Date()): ResumeChoice {
  if (!wanted) return { path: null, notes: [] };
  const notes: string[] = [];
  const problems = verifyCheckpoint(wanted);
  if (!problems.length) return { path: wanted, notes };
  notes.push(`checkpoint ${wanted} is not whole (${problems.slice(0, 3).join('; ')}): ${setAside(wanted, now)}`);
  const parent = dirname(wanted);
  const limit = stepOf(basename(wanted));
  let candidates: string[] = [];
  try {
    candidates = readdirSync(parent)
      .filter((n) => /^[^.].*\d$/.test(n) && !n.includes('.bad-') && stepOf(n) >= 0 && (limit < 0 || stepOf(n) < limit))
      .sort((a, b) => stepOf(b) - stepOf(a));
  } catch { /* the folder is gone: start over */ }
  for (const name of candidates) {
    const path = join(parent, name);
    const p = verifyCheckpoint(path);
    if (!p.length) {
      notes.push(`resuming from the checkpoint before it, ${path}`);
      return { path, notes };
    }
    notes.push(`checkpoint ${path} is not whole either (${p.slice(0, 3).join('; ')}): ${setAside(path, now)}`);
  }
  notes.push('no whole checkpoint is left: the dataset starts over');
  return { path: null, notes };
}

function setAside(path: string, now: Date): string {
  const aside = `${path}.bad-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
  try {
    renameSync(path, aside);
    return `set aside as ${basename(aside)}`;
  } catch (e) {
    return `could not be set aside (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); not used`;
  }
}
