/** The Snapshots view's tree, built from a state push: pure, so it is tested without VS Code. */
import type { QueueStateNotification, SnapshotView } from '../../common/protocol';

export type SnapshotNodeKind = 'snapshotCurrent' | 'snapshot' | 'base' | 'info';

export interface SnapshotNode {
  readonly id: string;
  readonly label: string;
  readonly description?: string;
  readonly tooltip?: string;
  /** `snapshotCurrent` has no "Roll Back" (it is live already). */
  readonly kind: SnapshotNodeKind;
  /** A codicon id. */
  readonly icon: string;
  /** The snapshot id, for rollback. */
  readonly snapshot?: string;
  /** The snapshot folder. */
  readonly path?: string;
}

function verified(v: boolean | null): string {
  return v === true ? 'verified' : v === false ? 'FAILED verification' : 'not verified yet';
}

function icon(s: SnapshotView): string {
  if (s.current) return 'star-full';
  return s.verified === true ? 'verified' : s.verified === false ? 'warning' : 'circle-outline';
}

/** One node per snapshot, newest first, the live one marked; none when there are no snapshots (the welcome text shows). */
export function snapshotsTree(p: QueueStateNotification.Params): SnapshotNode[] {
  if (p.engine === 'off') return [{ id: 'off', label: 'The engine is not running', description: p.why ?? '', tooltip: p.why ?? '', kind: 'info', icon: 'info' }];
  // After a consolidation the adapters train on a merged model: say which, above the snapshots.
  const b = p.status?.base;
  const base: SnapshotNode[] = b
    ? [{
        id: `base:${b.model}`, label: `Base model: models/${b.model}`, kind: 'base', icon: 'database', path: b.path,
        description: [b.generation !== null ? `generation ${b.generation}` : null, b.datasets !== null ? `${b.datasets} dataset${b.datasets === 1 ? '' : 's'} merged` : null].filter(Boolean).join(' · '),
        tooltip: `The live base model, merged by a consolidation: ${b.path}`,
      }]
    : [];
  return [...base, ...(p.snapshots ?? []).map((s): SnapshotNode => {
    // The dataset names it for a person; the id (for `lora-queue rollback`) comes last.
    const parts = [s.current ? 'current' : null, verified(s.verified), `step ${s.step ?? '?'}`, `loss ${s.loss === null ? '?' : s.loss.toFixed(4)}`, s.dataset ? s.id : null];
    return {
      id: s.id, label: s.dataset ?? s.id, kind: s.current ? 'snapshotCurrent' : 'snapshot', icon: icon(s), snapshot: s.id, path: s.path,
      description: parts.filter((x) => x !== null).join(' · '),
      tooltip: [`snapshot ${s.id}${s.current ? ' (the live adapter: the next run continues from it)' : ''}`, s.runId ? `from run ${s.runId}` : null, s.created ? `created ${s.created}` : null, s.path].filter(Boolean).join('\n'),
    };
  })];
}
