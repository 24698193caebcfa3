import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { checkConfigText } from '../../server/src/config/diagnostics';
import { launcherOf, visibleDeviceCount } from '../../server/src/config/launcher';

const EXAMPLES = resolve(__dirname, '..', '..', '..', 'examples', 'multi-gpu');

describe('launchers in trainer.command', () => {
  it('reads torchrun and accelerate launch, as scripts and as python -m', () => {
    assert.deepEqual(launcherOf(['torchrun', '--standalone', '--nproc_per_node', '2', '-m', 'lora_queue_trainer']), { kind: 'torchrun', nproc: 2, nprocArg: 3, python: null });
    assert.deepEqual(launcherOf(['.venv/bin/torchrun', '--nproc-per-node=4', '-m', 'lora_queue_trainer']), { kind: 'torchrun', nproc: 4, nprocArg: 1, python: '.venv/bin/python' });
    assert.deepEqual(launcherOf(['python3', '-m', 'torch.distributed.run', '--nproc_per_node', 'gpu', '-m', 'lora_queue_trainer']), { kind: 'torchrun', nproc: null, nprocArg: 4, python: 'python3' });
    assert.deepEqual(launcherOf(['accelerate', 'launch', '--multi_gpu', '--num_processes', '2', '-m', 'lora_queue_trainer']), { kind: 'accelerate', nproc: 2, nprocArg: 4, python: null });
    assert.deepEqual(launcherOf(['accelerate', 'launch', '--cpu', '-m', 'lora_queue_trainer']), { kind: 'accelerate', nproc: 1, nprocArg: null, python: null });
    assert.equal(launcherOf(['python3', '-m', 'lora_queue_trainer']), undefined);
    assert.equal(launcherOf(['accelerate', 'config']), undefined);
  });
  it('stops reading at the trainer: its own flags are not the launcher\'s', () => {
    assert.equal(launcherOf(['torchrun', '-m', 'my_trainer', '--nproc_per_node', '8'])!.nproc, null);
    assert.equal(launcherOf(['torchrun', 'train.py', '--nproc_per_node', '8'])!.nproc, null);
  });
  it('counts the GPUs CUDA_VISIBLE_DEVICES leaves', () => {
    assert.equal(visibleDeviceCount(undefined), undefined);
    assert.equal(visibleDeviceCount('0,1'), 2);
    assert.equal(visibleDeviceCount('GPU-abc,GPU-def,GPU-123'), 3);
    assert.equal(visibleDeviceCount(''), 0);
    assert.equal(visibleDeviceCount('-1'), 0);
  });
  it('the example configs for 2 GPUs are valid and start 2 processes', () => {
    for (const name of ['torchrun.lora-queue.json', 'accelerate.lora-queue.json']) {
      const text = readFileSync(join(EXAMPLES, name), 'utf8');
      // Schema only: the example's model and venv are the user's to provide.
      const r = checkConfigText(text, join(EXAMPLES, name), { filesystem: false });
      assert.deepEqual(r.diagnostics, [], name);
      const l = launcherOf(r.config!.trainer.command)!;
      assert.equal(l.nproc, 2, name);
      assert.equal(visibleDeviceCount(r.config!.trainer.env['CUDA_VISIBLE_DEVICES']), 2, name);
    }
  });
});
