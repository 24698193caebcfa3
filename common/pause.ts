/**
 * Why the queue is paused: one table of pause kinds, from which the engine decides who lifts a
 * pause and the client decides what to show, by kind rather than by the words of the reason.
 * A pause is `{kind, reason, since}` in state.json, in `lora-queue status --format json` (beside
 * the `paused` and `pauseReason` fields the CLI contract names) and in the protocol.
 */

/** Who lifts a pause: the engine itself once the resource is back, or a person with resume. */
export type PauseLift = 'engine' | 'person';

interface PauseKindInfo {
  readonly lift: PauseLift;
}

export const PAUSE_KINDS = {
  /** `pause`. */
  request: { lift: 'person' },
  /** `stop` (every mode), or the end of the run `stop --after-job` waited for. */
  stop: { lift: 'person' },
  /** Free space, free inodes or a writable queue root: re-checked every disk.recheckSeconds. */
  disk: { lift: 'engine' },
  /** A GPU missing, busy or not answering nvidia-smi: re-checked every disk.recheckSeconds. */
  gpu: { lift: 'engine' },
  /** Uncorrected ECC errors rose between runs. */
  gpuError: { lift: 'person' },
  /** A run ended in a way that is not the data's fault (config error, GPU unavailable, adapter rejected). */
  run: { lift: 'person' },
  /** The engine could not go on by itself (a file it cannot move, the live base model damaged). */
  engine: { lift: 'person' },
} as const satisfies Record<string, PauseKindInfo>;

export type PauseKind = keyof typeof PAUSE_KINDS;

export interface Pause {
  readonly kind: PauseKind;
  /** The reason in words, as `pauseReason` shows it. */
  readonly reason: string;
  /** When the queue paused for this kind (ISO). */
  readonly since: string;
}

export function isPauseKind(k: unknown): k is PauseKind {
  return typeof k === 'string' && Object.prototype.hasOwnProperty.call(PAUSE_KINDS, k);
}

/** Whether the engine lifts this pause by itself once the resource is back. */
export function liftsItself(p: Pick<Pause, 'kind'> | null | undefined): boolean {
  return !!p && PAUSE_KINDS[p.kind].lift === 'engine';
}

/** Pause reasons of the kinds the engine lifts itself start with these words (as they always have). */
export const RESOURCE_PAUSE_PREFIX = 'waiting for resources: ';

/**
 * A pause as an older state.json holds it: `paused` and the reason's text only. The kind is read
 * from the words the engine wrote then (the only place that still reads them); `since` is the
 * file's `updatedAt`, the best bound known.
 */
export function pauseFromText(reason: string | null | undefined, since: string): Pause {
  const text = reason ?? '';
  const kind: PauseKind = text.startsWith(RESOURCE_PAUSE_PREFIX)
    ? /^(GPU \d|the GPU check failed|no GPU found)/.test(text.slice(RESOURCE_PAUSE_PREFIX.length)) ? 'gpu' : 'disk'
    : text.startsWith('GPU error: ') ? 'gpuError'
    : text === '' || text.startsWith('paused') ? 'request'
    : text.startsWith('stopped') ? 'stop'
    : /^(cannot move queue\/|cannot prepare run|the live base model )/.test(text) ? 'engine'
    : 'run';
  return { kind, reason: text, since };
}

/** A pause read from JSON: the structured form when it is one, otherwise undefined. */
export function pauseFromJson(v: unknown): Pause | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const p = v as Partial<Pause>;
  return isPauseKind(p.kind) && typeof p.reason === 'string' && typeof p.since === 'string' ? { kind: p.kind, reason: p.reason, since: p.since } : undefined;
}
