/**
 * What the config's `executor` asks for, checked beyond the schema: the sbatch options the engine
 * sets itself, which `executor.sbatchArgs` must not repeat (they would point the job's output,
 * name or signal elsewhere, and the engine would lose the run). Used by the diagnostics and by the
 * engine before each submission (docs/slurm.md).
 */
import type { Config } from './schema';

/** sbatch options the engine sets for every job, long and short spellings. */
export const ENGINE_SBATCH_OPTIONS: readonly { readonly long: string; readonly short?: string; readonly why: string }[] = [
  { long: '--output', short: '-o', why: 'the job\'s output goes to runs/<id>/trainer.log' },
  { long: '--error', short: '-e', why: 'the job\'s errors go to runs/<id>/trainer.log' },
  { long: '--job-name', short: '-J', why: 'the job name identifies the run (lq-<run id>)' },
  { long: '--wrap', why: 'the engine writes the batch script itself (runs/<id>/slurm-batch.sh)' },
  { long: '--chdir', short: '-D', why: 'the trainer runs from the queue root' },
  { long: '--signal', why: 'the warning signal is executor.warningSeconds (SIGUSR2, the trainer\'s "checkpoint now")' },
  { long: '--comment', why: 'the comment names the run' },
  { long: '--parsable', why: 'the engine reads the job id from sbatch --parsable' },
  { long: '--export', why: 'the engine passes the environment (trainer.env, SLURM_*) as is' },
  { long: '--requeue', why: 'the engine requeues the dataset itself after NODE_FAIL, PREEMPTED or BOOT_FAIL' },
  { long: '--no-requeue', why: 'the engine sets it' },
  { long: '--array', short: '-a', why: 'one run is one job' },
  { long: '--open-mode', why: 'trainer.log is appended to' },
  { long: '--wait', short: '-W', why: 'the engine follows the job itself' },
];

/** The engine-owned option an sbatch argument sets, or undefined when it is the user's to give. */
export function engineOwnedSbatchArg(arg: string): (typeof ENGINE_SBATCH_OPTIONS)[number] | undefined {
  const long = /^--[^=]+/.exec(arg)?.[0];
  if (long) return ENGINE_SBATCH_OPTIONS.find((o) => o.long === long);
  const short = /^-[A-Za-z]/.exec(arg)?.[0];
  if (short) return ENGINE_SBATCH_OPTIONS.find((o) => o.short === short);
  return undefined;
}

export interface ExecutorProblem {
  /** Where in the config: ['executor', 'sbatchArgs', 2], for example. */
  readonly path: (string | number)[];
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

/** Every mistake in `executor` the schema cannot see. */
export function executorProblems(config: Pick<Config, 'executor' | 'trainer'>): ExecutorProblem[] {
  const e = config.executor;
  const out: ExecutorProblem[] = [];
  if (e.kind === 'local') {
    for (const k of ['partition', 'account'] as const) {
      if (e[k] != null) out.push({ path: ['executor', k], severity: 'warning', message: `executor.${k} has no effect with executor.kind "local" (set "kind": "slurm" to run on a Slurm cluster)` });
    }
    if (e.sbatchArgs.length) out.push({ path: ['executor', 'sbatchArgs'], severity: 'warning', message: 'executor.sbatchArgs has no effect with executor.kind "local" (set "kind": "slurm" to run on a Slurm cluster)' });
    return out;
  }
  if (config.trainer.resident) out.push({ path: ['trainer', 'resident'], severity: 'warning', message: 'trainer.resident has no effect with executor.kind "slurm": each run is a Slurm job that starts its own trainer' });
  e.sbatchArgs.forEach((arg, i) => {
    const owned = engineOwnedSbatchArg(arg);
    if (owned) out.push({ path: ['executor', 'sbatchArgs', i], severity: 'error', message: `executor.sbatchArgs[${i}] "${arg}": ${owned.long} is set by the engine (${owned.why}); remove it` });
    else if (!arg.startsWith('-')) out.push({ path: ['executor', 'sbatchArgs', i], severity: 'error', message: `executor.sbatchArgs[${i}] "${arg}" is not an option: each element is one sbatch option such as "--time=04:00:00" (a value goes in the same element, after "=")` });
  });
  return out;
}
