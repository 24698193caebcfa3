import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkConfigText, type ConfigDiagnostic } from '../../server/src/config/diagnostics';
import { ConfigStore } from '../../server/src/config/load';
import { configJsonSchema } from '../../server/src/config/schema';
import { configWorkspace } from './workspace';

const ws = (): string => configWorkspace('lq-config-');

const base = { baseModel: 'model', trainer: { command: ['bin/train'] } };

function check(dir: string, cfg: unknown): { text: string; ds: ConfigDiagnostic[]; ok: boolean } {
  const text = typeof cfg === 'string' ? cfg : JSON.stringify(cfg, null, 2);
  const r = checkConfigText(text, join(dir, 'lora-queue.json'), { pathEnv: '' });
  return { text, ds: r.diagnostics, ok: r.config !== undefined };
}

const under = (text: string, d: ConfigDiagnostic): string => text.slice(d.start, d.end);

describe('config diagnostics', () => {
  const dir = ws();
  it('a good config has no diagnostics and fills defaults', () => {
    const r = checkConfigText(JSON.stringify(base), join(dir, 'lora-queue.json'), { pathEnv: '' });
    assert.deepEqual(r.diagnostics, []);
    assert.equal(r.config!.queue.maxAttempts, 3);
    assert.equal(r.config!.trainer.hangTimeoutSeconds, 900);
    assert.deepEqual(r.config!.lora.targetModules, ['q_proj', 'k_proj', 'v_proj', 'o_proj']);
  });
  it('unknown keys, with did-you-mean, on the key', () => {
    const { text, ds, ok } = check(dir, { ...base, trainer: { ...base.trainer, hangTimeoutSecs: 60 }, snapshot: { keep: 3 } });
    assert.equal(ok, false);
    assert.deepEqual(ds.map((d) => [d.code, under(text, d), d.message]), [
      ['config-unknown-key', '"hangTimeoutSecs"', 'unknown key "hangTimeoutSecs" in trainer — did you mean "hangTimeoutSeconds"?'],
      ['config-unknown-key', '"snapshot"', 'unknown key "snapshot" — did you mean "snapshots"?'],
    ]);
  });
  it('wrong types and out-of-range values, on the value', () => {
    const { text, ds } = check(dir, { ...base, maxSeqLength: 8, lora: { alpha: '32' }, queue: { maxAttempts: 2.5 }, training: { lrScheduler: 'cosin' } });
    assert.deepEqual(ds.map((d) => [under(text, d), d.message]), [
      ['8', 'maxSeqLength: must be ≥ 16'],
      ['"32"', 'lora.alpha: must be a number'],
      ['2.5', 'queue.maxAttempts: must be an integer'],
      ['"cosin"', 'training.lrScheduler: must be one of "linear", "cosine", "constant", "constant_with_warmup"'],
    ]);
  });
  it('syntax errors with positions', () => {
    const { text, ds } = check(dir, '{\n  "maxSeqLength": 2048,\n}');
    assert.equal(ds[0]!.code, 'config-syntax');
    assert.equal(text.slice(0, ds[0]!.start).split('\n').length, 3);
  });
  it('the base model must be a model folder with a tokenizer', () => {
    mkdirSync(join(dir, 'empty'));
    const { text, ds } = check(dir, { ...base, baseModel: 'empty' });
    assert.equal(ds.length, 1);
    assert.equal(under(text, ds[0]!), '"empty"');
    assert.match(ds[0]!.message, /holds no config\.json/);
    assert.match(check(dir, { ...base, baseModel: 'nope' }).ds[0]!.message, /does not exist/);
    const noBase = check(dir, { trainer: base.trainer });
    assert.deepEqual(noBase.ds.map((d) => [d.code, d.severity]), [['config-base-model', 'warning']]);
    assert.equal(noBase.ok, true);
  });
  it('trainingChatTemplate: a missing file is an error on its value; a variant name is left to the tokenizer', () => {
    const { text, ds } = check(dir, { ...base, trainingChatTemplate: 'templates/missing.jinja' });
    assert.deepEqual(ds.map((d) => [d.code, d.severity]), [['config-training-chat-template', 'error']]);
    assert.equal(under(text, ds[0]!), '"templates/missing.jinja"');
    assert.match(ds[0]!.message, /does not exist/);
    writeFileSync(join(dir, 'ok.jinja'), '{{ messages }}');
    assert.deepEqual(check(dir, { ...base, trainingChatTemplate: 'ok.jinja' }).ds, []);
    assert.deepEqual(check(dir, { ...base, trainingChatTemplate: 'training' }).ds, []);
  });
  it('the trainer command must resolve to an executable', () => {
    const { text, ds } = check(dir, { ...base, trainer: { command: ['pythno3', '-m', 'x'] } });
    assert.equal(under(text, ds[0]!), '"pythno3"');
    assert.match(ds[0]!.message, /not found on PATH/);
    writeFileSync(join(dir, 'bin', 'plain'), 'x');
    assert.match(check(dir, { ...base, trainer: { command: ['bin/plain'] } }).ds[0]!.message, /not an executable file/);
    const onPath = checkConfigText(JSON.stringify({ ...base, trainer: { command: ['train'] } }), join(dir, 'lora-queue.json'), { pathEnv: join(dir, 'bin') });
    assert.deepEqual(onPath.diagnostics, []);
  });
  it('a launcher in the workspace venv is found (the editor\'s PATH seldom holds it), on trainer.env.PATH too', () => {
    const d = ws();
    mkdirSync(join(d, '.venv', 'bin'), { recursive: true });
    writeFileSync(join(d, '.venv', 'bin', 'torchrun'), '#!/bin/sh\n');
    chmodSync(join(d, '.venv', 'bin', 'torchrun'), 0o755);
    const cmd = ['torchrun', '--standalone', '--nproc_per_node', '2', '-m', 'lora_queue_trainer'];
    assert.deepEqual(check(d, { ...base, trainer: { command: cmd } }).ds, [], 'found in .venv/bin');
    const other = ws();
    assert.match(check(other, { ...base, trainer: { command: cmd } }).ds[0]!.message, /"torchrun" is not found on PATH/);
    // trainer.env.PATH is the PATH the trainer gets, so the program is looked up there.
    assert.deepEqual(check(other, { ...base, trainer: { command: cmd, env: { PATH: join(d, '.venv', 'bin') } } }).ds, []);
  });
  it('more processes per node than visible GPUs is a warning on the process count', () => {
    const d = ws();
    const cfg = (command: string[], env: Record<string, string> = {}): unknown => ({ ...base, trainer: { command: ['bin/train', ...command], env } });
    const warn = (cfg: unknown, gpus: number | undefined): ConfigDiagnostic[] => {
      const text = JSON.stringify(cfg, null, 2);
      return checkConfigText(text, join(d, 'lora-queue.json'), { pathEnv: '', gpuCount: gpus }).diagnostics;
    };
    // bin/train stands for the launcher by name: the check reads the command, not the program.
    writeFileSync(join(d, 'bin', 'torchrun'), '#!/bin/sh\n');
    chmodSync(join(d, 'bin', 'torchrun'), 0o755);
    const torchrun = (n: string, env: Record<string, string> = {}): unknown => ({ ...base, trainer: { command: ['bin/torchrun', '--standalone', '--nproc_per_node', n, '-m', 'lora_queue_trainer'], env } });
    const four = warn(torchrun('4'), 2);
    assert.equal(four.length, 1);
    assert.equal(four[0]!.severity, 'warning');
    assert.equal(JSON.stringify(torchrun('4'), null, 2).slice(four[0]!.start, four[0]!.end), '"4"');
    assert.match(four[0]!.message, /torchrun starts 4 processes per node, but nvidia-smi lists 2 GPU\(s\).*2 would have none/);
    assert.deepEqual(warn(torchrun('2'), 2), []);
    assert.deepEqual(warn(torchrun('4'), undefined), [], 'no nvidia-smi (a CPU box): nothing to compare with');
    const masked = warn(torchrun('2', { CUDA_VISIBLE_DEVICES: '1' }), 4);
    assert.match(masked[0]!.message, /CUDA_VISIBLE_DEVICES leaves 1 visible/);
    assert.deepEqual(warn(cfg(['--nproc_per_node', '8']), 2), [], 'not a launcher');
  });
  it('trainer.resident with a launcher is a warning on trainer.resident: those runs start cold', () => {
    const d = ws();
    writeFileSync(join(d, 'bin', 'torchrun'), '#!/bin/sh\n');
    chmodSync(join(d, 'bin', 'torchrun'), 0o755);
    const cfg = (resident: boolean, command: string[]): unknown => ({ ...base, trainer: { command, resident } });
    const diags = (c: unknown): ConfigDiagnostic[] => checkConfigText(JSON.stringify(c, null, 2), join(d, 'lora-queue.json'), { pathEnv: '', gpuCount: undefined }).diagnostics;
    const launched = cfg(true, ['bin/torchrun', '--standalone', '--nproc_per_node', '2', '-m', 'lora_queue_trainer']);
    const [w, ...rest] = diags(launched);
    assert.deepEqual(rest, []);
    assert.equal(w!.severity, 'warning');
    assert.equal(w!.code, 'config-trainer-command');
    assert.equal(JSON.stringify(launched, null, 2).slice(w!.start, w!.end), 'true');
    assert.match(w!.message, /trainer\.resident keeps one trainer process loaded, and trainer\.command starts torchrun: every run starts cold/);
    assert.deepEqual(diags(cfg(false, ['bin/torchrun', '--standalone', '--nproc_per_node', '2', '-m', 'lora_queue_trainer'])), []);
    writeFileSync(join(d, 'bin', 'python3'), '#!/bin/sh\n');
    chmodSync(join(d, 'bin', 'python3'), 0o755);
    assert.deepEqual(diags(cfg(true, ['bin/python3', '-m', 'lora_queue_trainer'])), [], 'one process: no warning');
  });
  it('the GPU count comes from nvidia-smi -L where it is on PATH (a fake nvidia-smi here)', () => {
    const d = ws();
    writeFileSync(join(d, 'bin', 'nvidia-smi'), '#!/bin/sh\n[ "$1" = "-L" ] || exit 9\necho "GPU 0: NVIDIA H200 (UUID: GPU-a)"\necho "GPU 1: NVIDIA H200 (UUID: GPU-b)"\n');
    chmodSync(join(d, 'bin', 'nvidia-smi'), 0o755);
    writeFileSync(join(d, 'bin', 'torchrun'), '#!/bin/sh\n');
    chmodSync(join(d, 'bin', 'torchrun'), 0o755);
    const text = JSON.stringify({ ...base, trainer: { command: ['torchrun', '--nproc-per-node=3', '-m', 'lora_queue_trainer'] } }, null, 2);
    const ds = checkConfigText(text, join(d, 'lora-queue.json'), { pathEnv: join(d, 'bin') }).diagnostics;
    assert.equal(ds.length, 1, JSON.stringify(ds));
    assert.equal(text.slice(ds[0]!.start, ds[0]!.end), '"--nproc-per-node=3"');
    assert.match(ds[0]!.message, /lists 2 GPU/);
  });
  it('the root stays inside the workspace', () => {
    for (const root of ['../elsewhere', '/tmp', '.']) {
      const { text, ds } = check(dir, { ...base, root });
      assert.equal(ds[0]!.code, 'config-root', root);
      assert.equal(under(text, ds[0]!), JSON.stringify(root));
    }
  });
  it('thresholds must be consistent', () => {
    const { text, ds, ok } = check(dir, { ...base, disk: { minFreeGiB: 20, resumeFreeGiB: 10 } });
    assert.equal(ok, false);
    assert.equal(under(text, ds[0]!), '10');
    assert.match(ds[0]!.message, /below disk\.minFreeGiB/);
  });
});

describe('the configuration in force', () => {
  it('a broken edit keeps the last good config, and says so', () => {
    const dir = ws();
    const file = join(dir, 'lora-queue.json');
    const store = new ConfigStore();
    writeFileSync(file, JSON.stringify({ ...base, maxSeqLength: 4096 }));
    assert.equal(store.refresh(file)!.config.maxSeqLength, 4096);
    writeFileSync(file, '{"maxSeqLength": 4096,');
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const inForce = store.refresh(file);
    assert.equal(inForce!.config.maxSeqLength, 4096, 'still the last good one');
    assert.match(store.status(file), /last valid one \(read at .*\) stays in force/);
    const fresh = new ConfigStore();
    assert.equal(fresh.refresh(file), undefined);
    assert.match(fresh.status(file), /no valid configuration yet: datasets are checked with default settings and nothing trains/);
  });
});

describe('the generated JSON Schema', () => {
  it('documents every key, and gives every setting a default', () => {
    const schema = configJsonSchema() as { properties: Record<string, { description?: string; default?: unknown; properties?: Record<string, { description?: string; default?: unknown }> }> };
    const missing: string[] = [];
    for (const [k, v] of Object.entries(schema.properties)) {
      if (!v.description) missing.push(`${k}: description`);
      for (const [k2, v2] of Object.entries(v.properties ?? {})) {
        if (!v2.description) missing.push(`${k}.${k2}: description`);
        if (v2.default === undefined) missing.push(`${k}.${k2}: default`);
      }
    }
    assert.deepEqual(missing, []);
    for (const key of ['root', 'baseModel', 'maxSeqLength']) assert.ok(schema.properties[key], key);
    for (const [section, key] of [['trainer', 'command'], ['trainer', 'hangTimeoutSeconds'], ['trainer', 'stopGraceSeconds'], ['queue', 'maxAttempts'], ['snapshots', 'keep']] as const) {
      assert.ok(schema.properties[section]!.properties![key], `${section}.${key}`);
    }
  });
});
