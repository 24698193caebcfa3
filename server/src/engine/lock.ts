/**
 * engine.lock: which process owns a queue root. The record holds the owner's pid, its start time
 * (from /proc, so a reused pid is told apart), host and since. It is created whole or not at all:
 * written to a private temporary file, then hard-linked to engine.lock, which fails when the lock
 * exists. A lock is stale only when its process is provably gone: same host, and the pid is dead
 * or now belongs to a process with another start time. A lock from another host is never broken.
 */
import { hostname } from 'node:os';
import { linkSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { fsyncDir, tempNameFor, writeFileAtomic } from './atomic';
import { isProcessAlive, processStartTime } from './proc';
import { dirname } from 'node:path';

export interface LockRecord {
  readonly pid: number;
  readonly startTime: string;
  readonly host: string;
  readonly since: string;
}

export type LockResult = { readonly owner: true; readonly record: LockRecord } | { readonly owner: false; readonly holder: LockRecord | undefined };

export function myLockRecord(): LockRecord {
  return { pid: process.pid, startTime: processStartTime(process.pid) ?? 'unknown', host: hostname(), since: new Date().toISOString() };
}

export function readLock(file: string): LockRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as LockRecord;
    if (typeof r.pid !== 'number' || typeof r.host !== 'string') return undefined;
    return r;
  } catch {
    return undefined;
  }
}

/** Whether the process named by the record is still running (a lock from another host counts as live). */
export function holderAlive(r: LockRecord): boolean {
  if (r.host !== hostname()) return true;
  return isProcessAlive(r.pid, r.startTime === 'unknown' ? undefined : r.startTime);
}

export function sameHolder(a: LockRecord | undefined, b: LockRecord): boolean {
  return !!a && a.pid === b.pid && a.startTime === b.startTime && a.host === b.host && a.since === b.since;
}

/** One attempt to take the lock; breaks a stale one. */
export function tryAcquire(file: string, me: LockRecord = myLockRecord()): LockResult {
  for (let attempt = 0; attempt < 3; attempt++) {
    const tmp = tempNameFor(file);
    writeFileAtomic(tmp, JSON.stringify(me) + '\n');
    try {
      linkSync(tmp, file);
      fsyncDir(dirname(file));
      return { owner: true, record: me };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      try { unlinkSync(tmp); } catch { /* gone */ }
    }
    const holder = readLock(file);
    if (holder && holderAlive(holder)) return { owner: false, holder };
    if (!holder) {
      // Unreadable: either being replaced this instant or corrupt. Retry once before breaking it.
      if (attempt === 0) continue;
    }
    breakStale(file, holder);
  }
  return { owner: false, holder: readLock(file) };
}

/**
 * Removes a stale lock without ever removing a live one: the lock is renamed to a private name
 * and checked again there; if it turns out to be someone else's fresh lock, it is put back.
 */
function breakStale(file: string, seen: LockRecord | undefined): void {
  const aside = `${file}.stale-${process.pid}-${Date.now()}`;
  try {
    renameSync(file, aside);
  } catch {
    return;
  }
  const moved = readLock(aside);
  const same = seen ? sameHolder(moved, seen) : !moved;
  if (!same && moved && holderAlive(moved)) {
    try { linkSync(aside, file); } catch { /* a third process took it meanwhile */ }
  }
  try { unlinkSync(aside); } catch { /* gone */ }
}

/** Whether `me` still holds the lock (an owner checks this on every tick, and steps down if not). */
export function stillOwner(file: string, me: LockRecord): boolean {
  return sameHolder(readLock(file), me);
}

export function release(file: string, me: LockRecord): void {
  if (!stillOwner(file, me)) return;
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}
