/** The `executor` key: its schema and the diagnostics beyond it (server/src/config/executor.ts). No Slurm needed. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkConfigText, type ConfigDiagnostic } from '../../server/src/config/diagnostics';
import { configWorkspace } from './workspace';

const ws = (): string => configWorkspace('lq-executor-');

const dir = ws();
function check(executor: unknown): { text: string; ds: ConfigDiagnostic[]; ok: boolean; config: ReturnType<typeof checkConfigText>['config'] } {
  const text = JSON.stringify({ baseModel: 'model', trainer: { command: ['bin/train'] }, executor }, null, 2);
  const r = checkConfigText(text, join(dir, 'lora-queue.json'), { pathEnv: '' });
  return { text, ds: r.diagnostics, ok: r.config !== undefined, config: r.config };
}
const under = (text: string, d: ConfigDiagnostic): string => text.slice(d.start, d.end);

describe('config: executor', () => {
  it('local is the default; slurm takes partition, account, sbatchArgs, pollSeconds with defaults', () => {
    const none = checkConfigText(JSON.stringify({ baseModel: 'model', trainer: { command: ['bin/train'] } }), join(dir, 'lora-queue.json'), { pathEnv: '' });
    assert.deepEqual(none.diagnostics, []);
    assert.equal(none.config!.executor.kind, 'local');
    const s = check({ kind: 'slurm', partition: 'gpu', account: 'ml', sbatchArgs: ['--gres=gpu:4', '--time=04:00:00', '--cpus-per-task=16'] });
    assert.deepEqual(s.ds, []);
    assert.equal(s.config!.executor.kind, 'slurm');
    assert.equal(s.config!.executor.pollSeconds, 5);
    assert.equal(s.config!.executor.warningSeconds, 120);
    assert.deepEqual(s.config!.executor.sbatchArgs, ['--gres=gpu:4', '--time=04:00:00', '--cpus-per-task=16']);
  });

  it('an unknown kind is an error on the value, naming the kinds', () => {
    const r = check({ kind: 'kubernetes' });
    assert.equal(r.ok, false);
    const d = r.ds.find((x) => x.severity === 'error')!;
    assert.equal(d.code, 'config-invalid');
    assert.equal(under(r.text, d), '"kubernetes"');
    assert.match(d.message, /executor\.kind: must be one of "local", "slurm"/);
  });

  it('an unknown key inside executor, with did-you-mean', () => {
    const r = check({ kind: 'slurm', partiton: 'gpu' });
    const d = r.ds.find((x) => x.code === 'config-unknown-key')!;
    assert.match(d.message, /unknown key "partiton" in executor — did you mean "partition"\?/);
  });

  it('sbatchArgs the engine sets itself are errors, one per entry, on that entry, long and short spellings', () => {
    const r = check({ kind: 'slurm', sbatchArgs: ['--time=10', '--output=/tmp/x', '-J', '--wrap=python train.py', '--job-name=mine', '-o/tmp/y', '--gres=gpu:1'] });
    assert.equal(r.ok, false, 'a config with these errors never takes effect');
    const errs = r.ds.filter((d) => d.code === 'config-executor');
    assert.deepEqual(errs.map((d) => under(r.text, d)), ['"--output=/tmp/x"', '"-J"', '"--wrap=python train.py"', '"--job-name=mine"', '"-o/tmp/y"']);
    assert.match(errs[0]!.message, /executor\.sbatchArgs\[1\] "--output=\/tmp\/x": --output is set by the engine \(the job's output goes to runs\/<id>\/trainer\.log\); remove it/);
    assert.match(errs[2]!.message, /--wrap is set by the engine/);
  });

  it('a value on its own element is refused with how to write it', () => {
    const r = check({ kind: 'slurm', sbatchArgs: ['--time', '04:00:00'] });
    const d = r.ds.find((x) => x.code === 'config-executor')!;
    assert.equal(under(r.text, d), '"04:00:00"');
    assert.match(d.message, /is not an option: each element is one sbatch option such as "--time=04:00:00"/);
  });

  it('trainer.resident with Slurm is a warning: each run is a job that starts its own trainer', () => {
    const text = JSON.stringify({ baseModel: 'model', trainer: { command: ['bin/train'], resident: true }, executor: { kind: 'slurm' } }, null, 2);
    const r = checkConfigText(text, join(dir, 'lora-queue.json'), { pathEnv: '' });
    assert.ok(r.config);
    const d = r.diagnostics.find((x) => x.code === 'config-executor')!;
    assert.equal(d.severity, 'warning');
    assert.equal(under(text, d), 'true');
    assert.match(d.message, /trainer\.resident has no effect with executor\.kind "slurm"/);
  });

  it('Slurm keys with kind local are warnings (they do nothing), and the config is still in force', () => {
    const r = check({ kind: 'local', partition: 'gpu', sbatchArgs: ['--time=1'] });
    assert.equal(r.ok, true);
    assert.deepEqual(r.ds.map((d) => [d.severity, d.code, under(r.text, d)]), [['warning', 'config-executor', '"gpu"'], ['warning', 'config-executor', '[\n      "--time=1"\n    ]']]);
  });
});
