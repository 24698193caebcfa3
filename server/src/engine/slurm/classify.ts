/**
 * How a run that was a Slurm job ended: Slurm's final state first (TIMEOUT, NODE_FAIL…, a cancel
 * nobody in the engine asked for), then the same rules as for a local trainer (classify.ts) on
 * its events and the batch script's exit code. Pure; the table is in docs/slurm.md.
 */
import { classifyEnd, type Classification, type EndFacts } from '../classify';
import type { SlurmEnd } from './handle';

export function classifySlurmEnd(end: SlurmEnd, f: EndFacts): Classification {
  if (end.submitError) return { kind: 'config', message: `the Slurm job could not be submitted: ${end.submitError} (nothing was trained; fix the cluster or executor settings, then resume)` };
  if (end.neverSubmitted) return { kind: 'requeued', message: 'the engine stopped between preparing the run and submitting its job, and Slurm has no job of its name: not submitted, the dataset goes back to the head of the queue' };
  const job = end.job;
  const local = classifyEnd({ ...f, spawnError: undefined } as EndFacts);
  if (!job) return { ...local, message: `${local.message} (Slurm no longer knew the job: judged from its events)` };
  const tag = `Slurm job ${job.id} ${job.state}${job.nodes ? ` on ${job.nodes}` : ''}`;
  const ckpt = f.progress.lastCheckpoint;
  const at = `step ${f.progress.step ?? 0}`;
  switch (job.state) {
    case 'TIMEOUT':
    case 'DEADLINE':
      if (f.progress.done && !f.progress.done.stopped) return { ...local, message: `${tag}: ${local.message}` };
      return ckpt
        ? { kind: 'timeout', message: `${tag}: the job reached its time limit at ${at}; the next run resumes from checkpoint ${ckpt} (no attempt used)` }
        : { kind: 'timeout_no_checkpoint', message: `${tag}: the job reached its time limit at ${at} before writing any checkpoint (give it more --time in executor.sbatchArgs, or checkpoint more often)` };
    case 'NODE_FAIL':
    case 'PREEMPTED':
    case 'BOOT_FAIL':
      return { kind: 'requeued', message: `${tag}: the cluster ended the job; back to the head of the queue${ckpt ? `, resuming from ${ckpt}` : ''} (no attempt used)` };
    case 'OUT_OF_MEMORY':
      return { kind: 'killed', message: `${tag}: the job went over its memory allocation and Slurm killed it (raise --mem in executor.sbatchArgs)` };
    case 'CANCELLED':
      if (!end.cancelledByEngine) {
        return { kind: 'killed', message: `${tag}: cancelled by someone other than this engine (scancel by a person or an administrator, or a Slurm policy; Slurm does not record who) at ${at}${ckpt ? `; the next attempt resumes from ${ckpt}` : ''}` };
      }
      return { ...local, message: `${tag}: ${local.message}` };
    default:
      return { ...local, message: `${tag}: ${local.message}` };
  }
}
