/**
 * Which notifications a state push calls for, compared with the push before it: pure, so it is
 * tested without VS Code. Only changes notify (a dataset newly failed, the queue newly paused for
 * disk space), never the same state again on each push, nor what was already so when the window opened.
 */
import { join } from 'node:path';
import type { QueueStateNotification, QueueStatusView } from '../../common/protocol';

export interface Notice {
  readonly level: 'warning' | 'error';
  readonly message: string;
  /** A file that says more ("Show Details"). */
  readonly details?: string;
}

/** Paused for want of disk space, inodes or a writable queue root (the pause's kind `disk`: common/pause.ts). */
export function diskPause(s: QueueStatusView | null | undefined): boolean {
  return s?.pause?.kind === 'disk';
}

export function stateNotices(prev: QueueStateNotification.Params | undefined, next: QueueStateNotification.Params): Notice[] {
  const before = prev?.status;
  const now = next.status;
  // The first state of a queue root is the baseline: what failed before the window opened is in the Queue view.
  if (!before || !now || before.root !== now.root) return [];
  const out: Notice[] = [];
  const known = new Set(before.failed.map((f) => f.name));
  for (const f of now.failed) {
    if (known.has(f.name)) continue;
    out.push({ level: 'error', message: `Dataset ${f.name} failed: ${f.kind}${f.message ? `: ${f.message}` : ''}`, details: join(now.root, 'failed', `${f.name}.reason.json`) });
  }
  if (diskPause(now) && !diskPause(before)) out.push({ level: 'warning', message: `LoRA Queue paused: ${now.pause?.reason ?? ''}` });
  return out;
}
