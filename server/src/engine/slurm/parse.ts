/**
 * Slurm's answers, parsed: `scontrol -o show job ID` (one line of Key=Value fields), `squeue -h
 * -o '%i|%j|%T|%r'` and `sacct -n -P -o JobID,JobName,State,ExitCode,Elapsed,AllocTRES`. These
 * `-o`/`-h` formats have been stable across Slurm versions where `--json` has not (the notes in
 * docs/slurm.md). Pure; tested on output captured from Slurm 22.05 (test/slurm/parse.test.ts).
 */

/** A job as the engine needs it, from any of the commands. */
export interface SlurmJob {
  readonly id: string;
  readonly name: string;
  /** PENDING, RUNNING, COMPLETING, COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL… ("CANCELLED by 0" is "CANCELLED"). */
  readonly state: string;
  /** Why it waits or ended (Resources, Priority, NonZeroExitCode…); null for None. */
  readonly reason: string | null;
  /** The batch script's exit: code and signal from ExitCode=C:S; null when not given. */
  readonly exitCode: number | null;
  readonly exitSignal: number | null;
  /** Seconds it ran (RunTime / Elapsed); null when not given. */
  readonly elapsedSeconds: number | null;
  /** GPUs allocated (gres/gpu in AllocTRES or TRES of a running job); null when Slurm does not say. */
  readonly gpus: number | null;
  readonly nodes: string | null;
}

/** States after which the job does nothing more (COMPLETING is not one: processes may still run). */
const ENDED = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY', 'NODE_FAIL', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE', 'REVOKED', 'SPECIAL_EXIT']);

export function isEndedState(state: string): boolean {
  return ENDED.has(state);
}

/** Waiting to run (the hang timer does not run while Slurm holds the job). */
export function isWaitingState(state: string): boolean {
  return state === 'PENDING' || state === 'CONFIGURING' || state === 'REQUEUED' || state === 'REQUEUE_HOLD' || state === 'REQUEUE_FED' || state === 'SUSPENDED' || state === 'RESV_DEL_HOLD';
}

/**
 * `scontrol -o show job` fields. Values may hold spaces (Command=/path arg arg), so a field starts
 * only where a space is followed by a key and `=`; keys hold letters, digits and `/:_` (Socks/Node,
 * NtasksPerN:B:S:C, AllocNode:Sid).
 */
export function parseScontrolFields(line: string): Map<string, string> {
  const out = new Map<string, string>();
  const text = line.trim();
  const starts: { key: string; at: number; valueAt: number }[] = [];
  const re = /(?:^|\s)([A-Za-z][A-Za-z0-9/:_]*)=/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const keyAt = m.index + (m[0].length - m[1]!.length - 1);
    starts.push({ key: m[1]!, at: keyAt, valueAt: m.index + m[0].length });
  }
  starts.forEach((s, i) => {
    const end = i + 1 < starts.length ? starts[i + 1]!.at : text.length;
    // A later key of the same name (none in 22.05) does not overwrite the first.
    if (!out.has(s.key)) out.set(s.key, text.slice(s.valueAt, end).trim());
  });
  return out;
}

/** "D-HH:MM:SS", "HH:MM:SS", "MM:SS" → seconds; null for anything else (UNLIMITED, Unknown). */
export function parseDuration(s: string | undefined): number | null {
  if (!s) return null;
  const m = /^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$/.exec(s.trim());
  if (!m) return null;
  return Number(m[1] ?? 0) * 86400 + Number(m[2] ?? 0) * 3600 + Number(m[3]) * 60 + Number(m[4]);
}

/** "3:0" → code 3, signal 0. */
export function parseExitCode(s: string | undefined): { code: number | null; signal: number | null } {
  const m = /^(\d+):(\d+)$/.exec((s ?? '').trim());
  return m ? { code: Number(m[1]), signal: Number(m[2]) } : { code: null, signal: null };
}

/** GPUs in a TRES list: `cpu=4,mem=8G,node=1,gres/gpu=2` (or `gres/gpu:a100=2`) → 2; null without gres/gpu. */
export function gpusInTres(tres: string | undefined): number | null {
  if (!tres || tres === '(null)') return null;
  let typed: number | null = null;
  for (const part of tres.split(',')) {
    const m = /^gres\/gpu(:[^=]+)?=(\d+)$/.exec(part.trim());
    if (!m) continue;
    // gres/gpu=N and gres/gpu:type=N both appear for typed GPUs: the untyped one is the total.
    if (!m[1]) return Number(m[2]);
    typed = (typed ?? 0) + Number(m[2]);
  }
  return typed;
}

/** The state word: "CANCELLED by 0" → "CANCELLED". */
export function stateWord(s: string): string {
  return s.trim().split(/\s+/)[0] ?? '';
}

/** One job from `scontrol -o show job ID` (the first line: a plain job has one). */
export function parseScontrolJob(output: string): SlurmJob | undefined {
  const line = output.split('\n').find((l) => l.trim().startsWith('JobId='));
  if (!line) return undefined;
  const f = parseScontrolFields(line);
  const exit = parseExitCode(f.get('ExitCode'));
  const reason = f.get('Reason');
  const nodes = f.get('NodeList');
  return {
    id: f.get('JobId') ?? '',
    name: f.get('JobName') ?? '',
    state: stateWord(f.get('JobState') ?? ''),
    reason: reason && reason !== 'None' ? reason : null,
    exitCode: exit.code,
    exitSignal: exit.signal,
    elapsedSeconds: parseDuration(f.get('RunTime')),
    // AllocTRES where Slurm prints it (accounting), else the job's TRES (which is what it was given once running).
    gpus: gpusInTres(f.get('AllocTRES')) ?? gpusInTres(f.get('TRES')),
    nodes: nodes && nodes !== '(null)' ? nodes : null,
  };
}

/** `squeue -h -t all -o '%i|%j|%T|%r'` lines → jobs (no exit code: squeue does not print one that reads the same across versions). */
export function parseSqueue(output: string): SlurmJob[] {
  const out: SlurmJob[] = [];
  for (const line of output.split('\n')) {
    const parts = line.trim().split('|');
    if (parts.length < 4 || !/^\d+/.test(parts[0]!)) continue;
    out.push({ id: parts[0]!, name: parts[1]!, state: stateWord(parts[2]!), reason: parts[3] && parts[3] !== 'None' ? parts[3] : null, exitCode: null, exitSignal: null, elapsedSeconds: null, gpus: null, nodes: null });
  }
  return out;
}

/** `sacct -n -P -X -o JobID,JobName,State,ExitCode,Elapsed,AllocTRES` lines (with or without -c) → jobs. */
export function parseSacct(output: string): SlurmJob[] {
  const out: SlurmJob[] = [];
  for (const line of output.split('\n')) {
    const p = line.trim().split('|');
    if (p.length < 4 || !/^\d+$/.test(p[0]!)) continue; // steps (1.batch) are not the job
    const exit = parseExitCode(p[3]);
    out.push({ id: p[0]!, name: p[1]!, state: stateWord(p[2]!), reason: null, exitCode: exit.code, exitSignal: exit.signal, elapsedSeconds: parseDuration(p[4]), gpus: gpusInTres(p[5]), nodes: null });
  }
  return out;
}
