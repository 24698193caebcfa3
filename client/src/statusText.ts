/** What the status bar says for a queue state: pure, so it is tested without VS Code. */
import type { QueueStateNotification } from '../../common/protocol';

export interface StatusText {
  readonly text: string;
  readonly tooltip: string;
  readonly level: 'normal' | 'warning' | 'error';
}

function eta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '';
  if (seconds < 90) return ` · ETA ${Math.round(seconds)}s`;
  if (seconds < 5400) return ` · ETA ${Math.round(seconds / 60)}m`;
  return ` · ETA ${(seconds / 3600).toFixed(1)}h`;
}

/** The tooltip's line about a resident trainer (trainer.resident), or nothing when none is loaded. */
function residentWords(s: NonNullable<QueueStateNotification.Params['status']>): string {
  const r = s.resident;
  if (!r) return '';
  return r.warm
    ? `\nTrainer: warm (resident pid ${r.pid}, base model loaded, ${r.runs} run${r.runs === 1 ? '' : 's'} served)`
    : `\nTrainer: resident pid ${r.pid}, loading the base model`;
}

export function statusText(p: QueueStateNotification.Params): StatusText {
  if (p.engine === 'off' || !p.status) return { text: '$(circle-slash) LoRA Queue: off', tooltip: p.why ?? 'The engine is not running.', level: 'normal' };
  const s = p.status;
  const who = `${p.engine === 'follower' ? ` (following pid ${s.engine?.pid ?? '?'})` : ''}${residentWords(s)}`;
  const queued = s.queue.length ? ` · ${s.queue.length} queued` : '';
  if (s.current) {
    const c = s.current;
    // A Slurm job still in the cluster's queue: waiting, with Slurm's reason, not training.
    if (c.waiting) {
      const w = c.waiting;
      const why = `Slurm job ${w.jobId ?? '(being submitted)'} ${w.state}${w.reason ? ` (${w.reason})` : ''}`;
      return { text: `$(clock) ${c.dataset} · waiting: ${w.state}${w.reason ? ` (${w.reason})` : ''}${c.stopping ? ` · stopping (${c.stopping})` : ''}`, tooltip: `LoRA Queue: ${c.dataset} waits for the cluster: ${why} (run ${c.runId}, attempt ${c.attempt})${queued}${who}`, level: 'normal' };
    }
    const step = c.step !== null && c.totalSteps ? ` ${c.step}/${c.totalSteps}` : c.step !== null ? ` step ${c.step}` : '';
    const loss = c.loss !== null ? ` · loss ${c.loss.toFixed(4)}` : '';
    const stopping = c.stopping ? ` · stopping (${c.stopping})` : '';
    return { text: `$(sync~spin) ${c.dataset}${step}${loss}${eta(c.etaSeconds)}${stopping}`, tooltip: `LoRA Queue: training ${c.dataset} (run ${c.runId}, attempt ${c.attempt})${queued}${who}`, level: 'normal' };
  }
  const lastError = s.lastErrors.at(-1);
  if (s.pause) return { text: `$(debug-pause) LoRA Queue: paused${queued}`, tooltip: `Paused: ${s.pause.reason || 'by request'}${who}`, level: 'warning' };
  if (s.blocked) return { text: `$(warning) LoRA Queue: blocked${queued}`, tooltip: `${s.blocked}${who}`, level: 'warning' };
  if (lastError && s.failed.length) return { text: `$(error) LoRA Queue: idle · ${s.failed.length} failed`, tooltip: `Last error: ${lastError.message}${who}`, level: 'error' };
  return { text: `$(check) LoRA Queue: idle${queued}`, tooltip: `${s.done} done, ${s.failed.length} failed${who}`, level: 'normal' };
}
