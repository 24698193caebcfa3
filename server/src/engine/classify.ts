/**
 * How a run ended, from what is known about it: its events, its exit status (unknown when the
 * trainer was adopted from an earlier engine), what the engine itself did to it, and the memory
 * cgroup's oom_kill counter. Pure; docs/engine.md has the table.
 */
import { endKindOfTrainerError, isTrainerErrorKind, FALLBACK_TRAINER_ERROR } from '../../../common/endKinds';
import type { Progress } from './events';
import type { EndKind, EngineAction } from './types';

/** True when a message or log text says the filesystem was read-only (EROFS). */
export function saysReadOnly(text: string): boolean {
  return /\bEROFS\b|Read-only file system|\[Errno 30\]/i.test(text);
}

/** True when a message or log text says the disk was full (ENOSPC, EDQUOT). */
export function saysDiskFull(text: string): boolean {
  return /\bENOSPC\b|No space left on device|\bEDQUOT\b|Disk quota exceeded|\[Errno 28\]/i.test(text);
}

export interface EndFacts {
  readonly progress: Progress;
  /** null when the exit status could not be observed. */
  readonly exit: { readonly code: number | null; readonly signal: string | null } | null;
  readonly action: EngineAction | null;
  /** How many more OOM kills the trainer's memory cgroup counted during the run (null: unreadable). */
  readonly oomKills: number | null;
  readonly hangTimeoutSeconds: number;
  /** The last lines of trainer.log. */
  readonly logTail: string;
  /** A spawn failure (the command could not be started). */
  readonly spawnError?: string;
  /**
   * What the engine itself saw of a full disk (an ENOSPC of its own writes during the run, or free
   * space under the threshold at the end): a trainer on a full disk may not manage to say so (its
   * trainer.log and exit.json are on that disk too).
   */
  readonly diskFull?: string | null;
  /** Likewise for the engine's own writes failing with EROFS, EACCES or EPERM during the run. */
  readonly diskUnwritable?: string | null;
}

export interface Classification {
  readonly kind: EndKind;
  readonly message: string;
}

function exitText(exit: EndFacts['exit']): string {
  if (!exit) return 'its exit status is unknown (it ended while no engine was watching)';
  if (exit.signal) return `it was killed by ${exit.signal}`;
  return `it exited with code ${exit.code}`;
}

export function classifyEnd(f: EndFacts): Classification {
  if (f.spawnError) return { kind: 'config', message: `the trainer could not be started: ${f.spawnError}` };
  const { done, error } = f.progress;
  if (done) {
    if (done.stopped) return { kind: 'stopped', message: `stopped at step ${f.progress.step ?? 0}${f.progress.lastCheckpoint ? `, checkpoint ${f.progress.lastCheckpoint}` : ''}` };
    if (f.exit && (f.exit.code ?? 0) !== 0) return { kind: 'success', message: `done (final loss ${done.finalLoss ?? 'unknown'}), though ${exitText(f.exit)} after reporting it` };
    return { kind: 'success', message: `done, final loss ${done.finalLoss ?? 'unknown'}` };
  }
  if (error) {
    if (error.kind !== 'data' && saysDiskFull(error.message)) return { kind: 'disk_full', message: `disk full: ${error.message}` };
    // A kind this engine does not know (a newer trainer's) is the trainer's catch-all, with its text kept.
    const kind = endKindOfTrainerError(error.kind);
    // The catch-all on a disk the engine saw full: the disk, not the data (no attempt used).
    if (kind === 'crash' && f.diskFull) return { kind: 'disk_full', message: `disk full (${f.diskFull}); the trainer reported: ${error.message}` };
    if (kind === 'crash' && (f.diskUnwritable || saysReadOnly(error.message))) return { kind: 'disk_unwritable', message: `the queue root became unwritable (${f.diskUnwritable ?? 'EROFS'}); the trainer reported: ${error.message}` };
    if (!isTrainerErrorKind(error.kind)) {
      return { kind, message: `the trainer reported an error of unknown kind "${error.kind}" (taken as ${FALLBACK_TRAINER_ERROR})${error.message ? `: ${error.message}` : ''}` };
    }
    return { kind, message: error.message || `the trainer reported ${error.kind}` };
  }
  if (f.action === 'hang-kill') return { kind: 'hang', message: `no event for ${f.hangTimeoutSeconds} s: the trainer was hung and its process group was killed` };
  if (f.action === 'stop-now' || f.action === 'stop-after-step') {
    return { kind: 'stopped', message: `stopped on request; ${exitText(f.exit)} without a done event${f.progress.lastCheckpoint ? ` (last checkpoint ${f.progress.lastCheckpoint})` : ''}` };
  }
  if (f.oomKills !== null && f.oomKills > 0) return { kind: 'killed', message: `killed by the system's OOM killer (the memory cgroup's oom_kill count rose by ${f.oomKills}); ${exitText(f.exit)}` };
  if (f.exit?.signal !== 'SIGKILL' && saysDiskFull(f.logTail)) {
    const line = f.logTail.split('\n').reverse().find(saysDiskFull) ?? '';
    return { kind: 'disk_full', message: `disk full: ${exitText(f.exit)}; trainer.log says: ${line.trim().slice(0, 300)}` };
  }
  if (f.exit?.signal === 'SIGKILL') return { kind: 'killed', message: 'killed by SIGKILL, which the engine did not send (the OOM killer or a person)' };
  if (f.diskFull) return { kind: 'disk_full', message: `disk full: ${f.diskFull}; ${exitText(f.exit)}` };
  if (f.diskUnwritable || saysReadOnly(f.logTail)) {
    const line = f.logTail.split('\n').reverse().find(saysReadOnly)?.trim().slice(0, 300);
    return { kind: 'disk_unwritable', message: `the queue root became unwritable: ${f.diskUnwritable ?? `trainer.log says: ${line}`}; ${exitText(f.exit)}` };
  }
  if (f.exit) {
    if (f.exit.signal) return { kind: 'crash', message: `${exitText(f.exit)}` };
    if (f.exit.code === 0) return { kind: 'crash', message: 'the trainer exited with code 0 without a done event' };
    return { kind: 'crash', message: `the trainer ${exitText(f.exit).replace(/^it /, '')}` };
  }
  return { kind: 'crash', message: 'the trainer is gone and its events do not say how it ended (it ended while no engine was watching)' };
}
