/**
 * The Slurm parsers and the pure parts of the Slurm executor, on output captured from Slurm 22.05
 * (test/slurm/fixtures/README.md). No Slurm needed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { emptyProgress, applyEvents } from '../../server/src/engine/events';
import { classifySlurmEnd } from '../../server/src/engine/slurm/classify';
import { BATCH_SCRIPT, sbatchArgv, type SlurmEnd } from '../../server/src/engine/slurm/handle';
import { gpusInTres, isEndedState, isWaitingState, parseDuration, parseSacct, parseScontrolFields, parseScontrolJob, parseSqueue } from '../../server/src/engine/slurm/parse';
import type { EndFacts } from '../../server/src/engine/classify';

const FIX = join(__dirname, '..', '..', '..', 'test', 'slurm', 'fixtures');
const lines = readFileSync(join(FIX, 'scontrol-22.05.txt'), 'utf8').split('\n').filter(Boolean);

describe('Slurm output parsers (22.05)', () => {
  it('scontrol -o show job: state, reason, exit code, run time, nodes of every captured job', () => {
    const jobs = lines.map((l) => parseScontrolJob(l)!);
    assert.deepEqual(jobs.map((j) => [j.id, j.name, j.state, j.reason, j.exitCode, j.exitSignal, j.elapsedSeconds, j.nodes]), [
      ['1', 'lq-x1', 'FAILED', 'NonZeroExitCode', 3, 0, 0, 'localhost'],
      ['2', 'lq-x2', 'PENDING', 'Resources', 0, 0, 0, null],
      ['3', 'lq-x3', 'PENDING', 'Priority', 0, 0, 0, null],
      ['2', 'lq-x2', 'CANCELLED', 'Resources', 0, 0, 0, null],
      ['3', 'lq-x3', 'CANCELLED', 'Priority', 0, 0, 0, null],
      ['1', 'lq-t', 'RUNNING', null, 0, 0, 0, 'localhost'],
      ['1', 'lq-t', 'TIMEOUT', 'TimeLimit', 0, 9, 87, 'localhost'],
    ]);
  });
  it('values with spaces stay whole (Command=script args), keys with / and : are keys', () => {
    const f = parseScontrolFields(lines[0]!);
    assert.equal(f.get('Command'), '/tmp/wt13-c1/b.sh sh -c exit 3');
    assert.equal(f.get('Socks/Node'), '*');
    assert.equal(f.get('NtasksPerN:B:S:C'), '0:0:*:*');
    assert.equal(f.get('TRES'), 'cpu=1,node=1,billing=1');
    assert.equal(f.get('Power'), '');
  });
  it('a state word with a suffix and an answer without a job', () => {
    assert.equal(parseScontrolJob('JobId=5 JobName=x JobState=CANCELLED by 0 Reason=None ExitCode=0:15')!.state, 'CANCELLED');
    assert.equal(parseScontrolJob('slurm_load_jobs error: Invalid job id specified'), undefined);
  });
  it('squeue -h -o "%i|%j|%T|%r" and sacct -c -n -P', () => {
    assert.deepEqual(parseSqueue(readFileSync(join(FIX, 'squeue-22.05.txt'), 'utf8')).map((j) => [j.id, j.name, j.state, j.reason]), [['3', 'lq-x3', 'PENDING', 'Priority'], ['1', 'lq-t', 'RUNNING', null]]);
    const acct = parseSacct(readFileSync(join(FIX, 'sacct-c-22.05.txt'), 'utf8') + '1.batch|batch|TIMEOUT|0:9|00:01:27|\n');
    assert.deepEqual(acct.map((j) => [j.id, j.state, j.exitCode, j.elapsedSeconds]), [['1', 'TIMEOUT', 0, 87]]);
  });
  it('durations, GPUs in TRES, state groups', () => {
    assert.equal(parseDuration('1-02:03:04'), 93784);
    assert.equal(parseDuration('05:06'), 306);
    assert.equal(parseDuration('UNLIMITED'), null);
    assert.equal(gpusInTres('cpu=8,mem=64G,node=1,billing=8,gres/gpu=4'), 4);
    assert.equal(gpusInTres('cpu=8,gres/gpu=2,gres/gpu:a100=2'), 2);
    assert.equal(gpusInTres('cpu=8,gres/gpu:a100=2,gres/gpu:h100=1'), 3);
    assert.equal(gpusInTres('cpu=1,node=1,billing=1'), null);
    assert.ok(isWaitingState('PENDING') && !isWaitingState('RUNNING'));
    assert.ok(isEndedState('TIMEOUT') && !isEndedState('COMPLETING') && !isEndedState('RUNNING'));
  });
});

describe('Slurm executor: the submission', () => {
  it('sbatch arguments: the engine\'s options, then the user\'s, then the script and the trainer command as arguments', () => {
    const argv = sbatchArgv({
      runId: 'R1', root: '/q', logPath: '/q/runs/R1/trainer.log', script: '/q/runs/R1/slurm-batch.sh', argv: ['python', '-m', 'lora_queue_trainer', '--job', '/q/runs/R1/job.json'],
      executor: { kind: 'slurm', partition: 'gpu', account: 'ml', sbatchArgs: ['--gres=gpu:2', '--time=01:00:00'], pollSeconds: 5, warningSeconds: 90 },
    });
    assert.deepEqual(argv, [
      '--parsable', '--job-name=lq-R1', '--comment=LoRA Queue run R1', '--output=/q/runs/R1/trainer.log', '--error=/q/runs/R1/trainer.log', '--open-mode=append',
      '--chdir=/q', '--no-requeue', '--export=ALL', '--signal=B:USR2@90', '--partition=gpu', '--account=ml', '--gres=gpu:2', '--time=01:00:00',
      '/q/runs/R1/slurm-batch.sh', 'python', '-m', 'lora_queue_trainer', '--job', '/q/runs/R1/job.json',
    ]);
  });
  it('the batch script execs its arguments (no command line in it) and fails where the queue root is missing', () => {
    assert.match(BATCH_SCRIPT, /^exec "\$@"$/m);
    assert.match(BATCH_SCRIPT, /cd -- "\$LORA_QUEUE_ROOT" \|\| /);
  });
});

describe('Slurm executor: how a job ended', () => {
  const job = (state: string, exit = 0, sig = 0): SlurmEnd['job'] => ({ id: '7', name: 'lq-R', state, reason: null, exitCode: exit, exitSignal: sig, elapsedSeconds: 60, gpus: null, nodes: 'n1' });
  const facts = (events: object[], action: EndFacts['action'] = null, exit: EndFacts['exit'] = { code: 0, signal: null }): EndFacts => ({
    progress: applyEvents(emptyProgress(), events.map((e) => ({ time: 1, ...e })) as never), exit, action, oomKills: null, hangTimeoutSeconds: 60, logTail: '',
  });
  const end = (j: SlurmEnd['job'], more: Partial<SlurmEnd> = {}): SlurmEnd => ({ job: j, submitError: undefined, neverSubmitted: false, cancelledByEngine: false, ...more });
  const ck = { type: 'checkpoint', step: 3, path: '/q/runs/R/checkpoints/step-3' };
  const stoppedDone = { type: 'done', stopped: true, adapter_path: '/q/runs/R/checkpoints/step-4' };

  it('COMPLETED with done is a success; FAILED with exit 3 is a crash naming the code', () => {
    assert.equal(classifySlurmEnd(end(job('COMPLETED')), facts([{ type: 'done', stopped: false }])).kind, 'success');
    const c = classifySlurmEnd(end(job('FAILED', 3)), facts([{ type: 'step', step: 2 }], null, { code: 3, signal: null }));
    assert.equal(c.kind, 'crash');
    assert.match(c.message, /^Slurm job 7 FAILED on n1: the trainer exited with code 3/);
  });
  it('TIMEOUT after a checkpoint resumes without an attempt; before any, it uses one', () => {
    // The time limit's SIGTERM makes the trainer stop with a checkpoint: still a timeout, not a stop.
    assert.equal(classifySlurmEnd(end(job('TIMEOUT', 0, 9)), facts([ck, stoppedDone])).kind, 'timeout');
    assert.equal(classifySlurmEnd(end(job('TIMEOUT', 0, 9)), facts([ck])).kind, 'timeout');
    assert.equal(classifySlurmEnd(end(job('TIMEOUT', 0, 9)), facts([{ type: 'step', step: 1 }])).kind, 'timeout_no_checkpoint');
  });
  it('CANCELLED: by the engine it is the stop or hang it asked for; by anyone else it is killed', () => {
    assert.equal(classifySlurmEnd(end(job('CANCELLED'), { cancelledByEngine: true }), facts([stoppedDone], 'stop-now')).kind, 'stopped');
    assert.equal(classifySlurmEnd(end(job('CANCELLED'), { cancelledByEngine: true }), facts([{ type: 'step', step: 1 }], 'hang-kill')).kind, 'hang');
    const outside = classifySlurmEnd(end(job('CANCELLED')), facts([ck, stoppedDone]));
    assert.equal(outside.kind, 'killed');
    assert.match(outside.message, /cancelled by someone other than this engine/);
  });
  it('OUT_OF_MEMORY is killed; NODE_FAIL, PREEMPTED, BOOT_FAIL are requeued without an attempt', () => {
    assert.equal(classifySlurmEnd(end(job('OUT_OF_MEMORY', 0, 9)), facts([])).kind, 'killed');
    for (const s of ['NODE_FAIL', 'PREEMPTED', 'BOOT_FAIL']) assert.equal(classifySlurmEnd(end(job(s)), facts([ck])).kind, 'requeued', s);
  });
  it('a failed sbatch pauses with its words; a job Slurm forgot is judged from its events', () => {
    const c = classifySlurmEnd(end(undefined, { submitError: 'sbatch exited with code 1: sbatch: error: Batch job submission failed: Invalid partition name specified' }), facts([], null, null));
    assert.equal(c.kind, 'config');
    assert.match(c.message, /Invalid partition name specified/);
    assert.equal(classifySlurmEnd(end(undefined), facts([{ type: 'done', stopped: false }], null, null)).kind, 'success');
    assert.equal(classifySlurmEnd(end(undefined, { neverSubmitted: true }), facts([], null, null)).kind, 'requeued');
  });
});
