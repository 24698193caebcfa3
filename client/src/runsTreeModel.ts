/** The Runs view's tree, built from a state push: pure, so it is tested without VS Code. */
import type { EndKind, QueueStateNotification, RunView } from '../../common/protocol';

export type RunNodeKind = 'runRunning' | 'run' | 'runLog' | 'checkpoint' | 'info';

export interface RunNode {
  readonly id: string;
  readonly label: string;
  readonly description?: string;
  readonly tooltip?: string;
  readonly kind: RunNodeKind;
  /** A codicon id. */
  readonly icon: string;
  /** The file or folder the node stands for (the run folder, its log, a checkpoint). */
  readonly path?: string;
  /** The run's log, for "Open Run Log" on the run itself. */
  readonly logPath?: string;
  readonly children?: readonly RunNode[];
}

/** 5s, 1m05s, 2h03m. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h) return `${h}h${String(m).padStart(2, '0')}m`;
  return m ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

function seconds(from: string, to: string | Date): number | null {
  const a = Date.parse(from);
  const b = typeof to === 'string' ? Date.parse(to) : to.getTime();
  return Number.isFinite(a) && Number.isFinite(b) ? (b - a) / 1000 : null;
}

/** Codicons for the ends that are not failures; every other end shows as an error or a warning. */
const ICONS: Partial<Record<EndKind, string>> = { success: 'pass', stopped: 'debug-pause' };

function runIcon(r: RunView): string {
  if (r.state === 'running') return 'sync~spin';
  return ICONS[r.state] ?? (r.outcome === 'failed' ? 'error' : 'warning');
}

/** How the run's trainer started (trainer.resident): with its base model already loaded, or loading it. */
function warmWords(warm: boolean | null | undefined): string | null {
  if (warm === true) return 'trainer: warm (the resident trainer had the base model loaded)';
  if (warm === false) return 'trainer: cold (the base model was loaded for this run)';
  return null;
}

function runNode(r: RunView, now: Date): RunNode {
  const step = r.step !== null ? `step ${r.step}${r.totalSteps ? `/${r.totalSteps}` : ''}` : r.state === 'running' ? 'starting' : null;
  const took = seconds(r.startedAt, r.endedAt ?? now);
  const state = r.stopping ? `${r.state} · stopping (${r.stopping})` : r.outcome === 'queue' && r.state !== 'stopped' ? `${r.state} · will retry` : r.state;
  const parts = [state, step, r.loss !== null ? `loss ${r.loss.toFixed(4)}` : null, took !== null ? duration(took) : null, r.warm ? 'warm' : null];
  const children: RunNode[] = [
    { id: `${r.runId}/log`, label: 'trainer.log', kind: 'runLog', icon: 'output', path: r.logPath, logPath: r.logPath, tooltip: r.logPath },
    ...r.checkpoints.map((c): RunNode => ({
      id: `${r.runId}/checkpoint/${c.path}`, label: c.step !== null ? `checkpoint step ${c.step}` : 'checkpoint', kind: 'checkpoint', icon: 'save', path: c.path, tooltip: c.path,
    })),
  ];
  return {
    // A new id when the run ends: VS Code then shows it collapsed, not with the expansion it had while running.
    id: r.state === 'running' ? `${r.runId}/running` : r.runId, label: r.dataset, kind: r.state === 'running' ? 'runRunning' : 'run', icon: runIcon(r), path: r.dir, logPath: r.logPath,
    description: parts.filter((x) => x !== null).join(' · '),
    tooltip: [`run ${r.runId} · attempt ${r.attempt}`, `started ${r.startedAt}${r.endedAt ? `, ended ${r.endedAt}` : ''}`, warmWords(r.warm), r.outcome ? `dataset → ${r.outcome}/` : null, r.message].filter(Boolean).join('\n'),
    children,
  };
}

/** One node per run (the one in progress first); none when there are no runs yet (the view's welcome text shows). */
export function runsTree(p: QueueStateNotification.Params, now: Date): RunNode[] {
  if (p.engine === 'off') return [{ id: 'off', label: 'The engine is not running', description: p.why ?? '', tooltip: p.why ?? '', kind: 'info', icon: 'info' }];
  return (p.runs ?? []).map((r) => runNode(r, now));
}
