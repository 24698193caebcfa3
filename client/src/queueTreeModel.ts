/** The Queue view's tree, built from a state push: pure, so it is tested without VS Code. */
import type { QueueStatusView } from '../../common/protocol';

export type NodeKind = 'group' | 'processing' | 'queued' | 'inbox' | 'failed' | 'info';

export interface QueueNode {
  readonly id: string;
  readonly label: string;
  readonly description?: string;
  readonly tooltip?: string;
  readonly kind: NodeKind;
  /** The dataset name, for commands (retry, remove, priority). */
  readonly name?: string;
  /** A queued dataset's priority, for the priority commands (which add or take one). */
  readonly priority?: number;
  readonly children?: readonly QueueNode[];
}

function size(bytes: number): string {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(1)} GiB`;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  if (bytes >= 1 << 10) return `${(bytes / (1 << 10)).toFixed(1)} KiB`;
  return `${bytes} B`;
}

const plural = (n: number, w: string): string => `${n.toLocaleString('en-US')} ${w}${n === 1 ? '' : 's'}`;

export function queueTree(engine: 'owner' | 'follower' | 'off', why: string | undefined, s: QueueStatusView | null): QueueNode[] {
  if (engine === 'off' || !s) return [{ id: 'off', label: 'The engine is not running', description: why ?? '', tooltip: why ?? '', kind: 'info' }];
  const groups: QueueNode[] = [];
  if (s.current) {
    const c = s.current;
    const w = c.waiting;
    const progress = w ? `waiting: Slurm job ${w.jobId ?? '(being submitted)'} ${w.state}${w.reason ? ` (${w.reason})` : ''}` : c.step !== null ? (c.totalSteps ? `step ${c.step}/${c.totalSteps}` : `step ${c.step}`) : 'starting';
    const loss = c.loss !== null ? ` · loss ${c.loss.toFixed(4)}` : '';
    groups.push({
      id: 'processing', label: 'Processing', kind: 'group',
      children: [{ id: `processing/${c.dataset}`, label: c.dataset, description: `${progress}${loss} · attempt ${c.attempt}${c.stopping ? ` · stopping (${c.stopping})` : ''}`, tooltip: `run ${c.runId}`, kind: 'processing', name: c.dataset }],
    });
  }
  const queued = [...s.queue].sort((a, b) => b.priority - a.priority); // the engine's order is priority, then age
  groups.push({
    id: 'queued', label: `Queued (${s.queue.length})`, kind: 'group',
    children: queued.map((q) => ({
      id: `queued/${q.name}`, label: q.name, kind: 'queued', name: q.name, priority: q.priority,
      description: `priority ${q.priority} · ${plural(q.examples, 'example')} · ${size(q.size)}${q.attempts ? ` · ${plural(q.attempts, 'attempt')}` : ''}`,
    })),
  });
  const notTaken = s.inboxNotTaken ?? [];
  if (s.inbox.length || notTaken.length) {
    groups.push({
      id: 'inbox', label: `Inbox (${s.inbox.length + notTaken.length})`, kind: 'group',
      children: [
        ...s.inbox.map((n) => ({ id: `inbox/${n}`, label: n, description: 'waiting to be complete and validated', kind: 'inbox' as const, name: n })),
        // Entries the engine will not take as they are, with why (issue #14: none may sit there unexplained).
        ...notTaken.map((e) => ({ id: `inbox/${e.name}`, label: e.name, description: `not taken: ${e.why}`, tooltip: e.why, kind: 'inbox' as const, name: e.name })),
      ],
    });
  }
  groups.push({
    id: 'failed', label: `Failed (${s.failed.length})`, kind: 'group',
    children: s.failed.map((f) => ({ id: `failed/${f.name}`, label: f.name, description: f.kind, tooltip: f.message, kind: 'failed', name: f.name })),
  });
  groups.push({ id: 'done', label: `Done (${s.done})`, kind: 'group', children: [] });
  if (s.pause) groups.unshift({ id: 'paused', label: 'Paused', description: s.pause.reason || 'by request', tooltip: s.pause.reason, kind: 'info' });
  else if (s.blocked) groups.unshift({ id: 'blocked', label: 'Blocked', description: s.blocked, tooltip: s.blocked, kind: 'info' });
  return groups;
}
