/**
 * Slurm's own commands, the engine's only way to talk to the scheduler: sbatch, scontrol, squeue,
 * sacct and scancel through execa with argument arrays (no shell ever sees a value from the
 * config or the data), each with a timeout, never rejecting: every answer is `{ok, stdout,
 * stderr, why}` so a missing command, a controller that does not answer or an error exit is a
 * message the engine can show. SLURM_CONF and the rest come from the environment given.
 */
import { execa } from 'execa';
import { parseSacct, parseScontrolJob, parseSqueue, type SlurmJob } from './parse';

export interface SlurmAnswer {
  readonly ok: boolean;
  readonly stdout: string;
  readonly stderr: string;
  /** Why it failed, in words: the command missing, a timeout, or its exit code and first error line. */
  readonly why: string;
}

export interface SlurmEnv {
  readonly env: NodeJS.ProcessEnv;
  /** Seconds a command may take (a busy controller answers slowly). */
  readonly timeoutSeconds?: number;
}

export async function slurmCommand(cmd: string, args: readonly string[], s: SlurmEnv, cwd?: string): Promise<SlurmAnswer> {
  const r = await execa(cmd, args, {
    env: s.env, extendEnv: false, reject: false, timeout: (s.timeoutSeconds ?? 30) * 1000, stdin: 'ignore', ...(cwd && { cwd }),
  });
  const stdout = String(r.stdout ?? '');
  const stderr = String(r.stderr ?? '');
  if (r.exitCode === 0 && !r.timedOut) return { ok: true, stdout, stderr, why: '' };
  const code = (r as { code?: string }).code;
  let why: string;
  if (code === 'ENOENT') why = `${cmd} was not found on PATH (the engine must run where Slurm's commands are: a login node of the cluster)`;
  else if (r.timedOut) why = `${cmd} did not answer within ${s.timeoutSeconds ?? 30} s (is slurmctld up?)`;
  else {
    const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
    // sbatch says the same thing twice ("invalid partition specified: x", then "Batch job submission failed: …"): keep both, they differ in detail.
    why = `${cmd} exited with code ${r.exitCode ?? '?'}${lines.length ? `: ${lines.slice(-2).join(' / ')}` : ''}`;
  }
  return { ok: false, stdout, stderr, why };
}

/** `sbatch --parsable ARGS SCRIPT SCRIPT_ARGS`: the job id, or why not. */
export async function submit(args: readonly string[], s: SlurmEnv, cwd: string): Promise<{ jobId: string } | { error: string }> {
  const r = await slurmCommand('sbatch', args, s, cwd);
  if (!r.ok) return { error: r.why };
  // --parsable prints "ID" or "ID;cluster".
  const id = /^(\d+)(?:;\S+)?\s*$/m.exec(r.stdout.trim())?.[1];
  return id ? { jobId: id } : { error: `sbatch printed no job id: ${JSON.stringify(r.stdout.trim().slice(0, 200))}` };
}

export type JobLookup =
  | { readonly kind: 'found'; readonly job: SlurmJob }
  /** Slurm does not know the id (any more: after MinJobAge, or a controller whose state was cleared). */
  | { readonly kind: 'unknown' }
  /** Slurm could not be asked; try again later. */
  | { readonly kind: 'error'; readonly why: string };

/** `scontrol -o show job ID`. */
export async function showJob(jobId: string, s: SlurmEnv): Promise<JobLookup> {
  const r = await slurmCommand('scontrol', ['-o', 'show', 'job', jobId], s);
  if (!r.ok) return /Invalid job id/i.test(r.stderr) ? { kind: 'unknown' } : { kind: 'error', why: r.why };
  const job = parseScontrolJob(r.stdout);
  return job ? { kind: 'found', job } : { kind: 'unknown' };
}

/** Jobs of this user with the given name, in any state Slurm still remembers (`squeue -h -t all -n NAME`). */
export async function findByName(name: string, s: SlurmEnv): Promise<SlurmJob[] | { error: string }> {
  const r = await slurmCommand('squeue', ['-h', '-t', 'all', '-n', name, '-o', '%i|%j|%T|%r'], s);
  if (!r.ok) return { error: r.why };
  return parseSqueue(r.stdout).filter((j) => j.name === name);
}

/**
 * A finished job Slurm's controller forgot: `sacct` (slurmdbd accounting), else `sacct -c` (the
 * jobcomp file of a cluster without slurmdbd). Only a record with the run's job name counts: ids
 * restart at 1 when a controller's state is cleared.
 */
export async function accounting(jobId: string, name: string, s: SlurmEnv): Promise<SlurmJob | undefined> {
  const fields = ['-n', '-P', '-X', '-j', jobId, '-o', 'JobID,JobName,State,ExitCode,Elapsed,AllocTRES'];
  for (const args of [fields, ['-c', ...fields.filter((f) => f !== '-X')]]) {
    const r = await slurmCommand('sacct', args, s);
    if (!r.ok) continue;
    const hit = parseSacct(r.stdout).filter((j) => j.id === jobId && j.name === name).pop();
    if (hit) return hit;
  }
  return undefined;
}

/** `scancel [--signal=SIG --batch] ID`: a signal to the batch script's process (which is the trainer: it exec'd), or the whole job cancelled. */
export async function cancel(jobId: string, s: SlurmEnv, signal?: 'TERM' | 'USR1' | 'USR2'): Promise<SlurmAnswer> {
  return slurmCommand('scancel', signal ? [`--signal=${signal}`, '--batch', jobId] : [jobId], s);
}
