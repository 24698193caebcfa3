/**
 * Consolidation (`lora-queue consolidate`, models/<id>/, the live base in current.json): the engine
 * as a subprocess (daemon + trainer double + CLI), with a merge double at the process boundary
 * (fixtures/merge-double.mjs: it copies the base folder and writes merged-by.json), and one run of
 * the real merge command on the tiny model when .venv and .cache/tiny-model are there.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../server/src/config/load';
import { Consolidator, mergeCommandFor } from '../../server/src/engine/consolidate';
import { EngineLog } from '../../server/src/engine/log';
import { ensureLayout, rootPaths } from '../../server/src/engine/paths';
import { setCurrent } from '../../server/src/engine/current';
import { createSnapshot } from '../../server/src/engine/snapshots';
import { emptyState } from '../../server/src/engine/transitions';
import type { EngineState } from '../../server/src/engine/types';
import {
  alive, assertInventory, cleanup, datasets, drop, GOOD, lq, makeWorkspace, readJson, REPO, removeTempDirs, runDirs, sha, startDaemon, state, waitFor, writeSafetensors, type Daemon, type Workspace,
} from './helpers';

const T = { timeout: 180_000 };
after(removeTempDirs);

const MERGE = join(REPO, 'test', 'engine', 'fixtures', 'merge-double.mjs');

type Job = { init_adapter: string | null; base_model: string; run_id: string; dataset: string };
type Current = { snapshot: string | null; base: string | null; adapter: string | null };
type Lineage = { dataset: string; sha256: string | null; snapshot: string | null };
type Manifest = {
  id: string; generation: number; base: { model: string | null; path: string };
  adapter: { snapshot: string; dataset: string; manifestSha256: string; base: string | null };
  adapters: { snapshot: string }[]; datasets: Lineage[]; files: Record<string, { sha256: string; size: number }>;
};
type Outcome = { id: string; ok: boolean; message: string; reason: string; snapshot: string | null };
type Consolidating = { id: string; status: string; snapshot: string | null; pid: number | null } | null;

/** A workspace whose consolidate.command is the merge double (plus consolidate keys, trainer env). */
function workspace(consolidate: Record<string, unknown> = {}, env: Record<string, string> = {}): Workspace {
  const ws = makeWorkspace({ env });
  const cfg = readJson<Record<string, unknown>>(ws.config);
  cfg['consolidate'] = { command: [process.execPath, MERGE], ...consolidate };
  writeFileSync(ws.config, JSON.stringify(cfg, null, 2) + '\n');
  return ws;
}

/** Changes the trainer's environment (the merge gets it too) while no engine runs. */
function setEnv(ws: Workspace, env: Record<string, string>): void {
  const cfg = readJson<{ trainer: { env: Record<string, string> } }>(ws.config);
  cfg.trainer.env = { ...cfg.trainer.env, ...env };
  writeFileSync(ws.config, JSON.stringify(cfg, null, 2) + '\n');
}

const current = (ws: Workspace): Current => readJson<Current>(join(ws.root, 'current.json'));
const jobFor = (ws: Workspace, dataset: string): Job | undefined =>
  runDirs(ws).map((r) => readJson<Job>(join(ws.root, 'runs', r, 'job.json'))).find((j) => j.dataset.endsWith(`/${dataset}`));
const snapOf = (ws: Workspace, dataset: string): string => {
  const id = jobFor(ws, dataset)?.run_id;
  assert.ok(id && existsSync(join(ws.root, 'snapshots', id, 'manifest.json')), `a snapshot of the run on ${dataset}`);
  return id;
};
const models = (ws: Workspace): string[] => {
  try {
    return readdirSync(join(ws.root, 'models')).filter((n) => !n.startsWith('.') && !n.endsWith('.log') && n !== 'release').sort();
  } catch {
    return [];
  }
};
const manifest = (ws: Workspace, id: string): Manifest => readJson<Manifest>(join(ws.root, 'models', id, 'manifest.json'));
const mergedBy = (ws: Workspace, id: string): { base: string; adapter: string } => readJson(join(ws.root, 'models', id, 'merged-by.json'));
const calls = (ws: Workspace): { pid: number; argv: string[] }[] => {
  const f = join(ws.root, 'models', '.merge-double-calls');
  return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { pid: number; argv: string[] }) : [];
};
const st = (ws: Workspace): ReturnType<typeof state> & { consolidation?: Consolidating; consolidations?: Outcome[]; errors: { message: string }[] } =>
  readJson(join(ws.root, 'state.json'));
const settled = (ws: Workspace, runs: number) => (): boolean => st(ws).history.length === runs && !st(ws).current;

describe('consolidate', () => {
  it('merges the current adapter without an engine, chains the lineage over two consolidations, trains fresh adapters on the new base, and rollback returns to the old base with its adapter', T, async () => {
    const ws = workspace();
    const daemons: Daemon[] = [];
    try {
      let d = startDaemon(ws);
      daemons.push(d);
      drop(ws, 'a.jsonl', GOOD('a'));
      await waitFor('run a', settled(ws, 1), 60_000, d.output);
      const sa = snapOf(ws, 'a.jsonl');
      d.child.kill('SIGTERM');
      await d.exited;

      // No engine: the CLI takes the lock, runs the merge and switches the base itself.
      const r = await lq(ws, ['consolidate']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /applied directly/);
      const [m1] = models(ws);
      assert.ok(m1, 'models/<id> exists');
      assert.match(r.stdout, new RegExp(`consolidated snapshot ${sa} into models/${m1}`));
      assert.match(r.stdout, new RegExp(`model: ${join(ws.root, 'models', m1).replace(/[.]/g, '\\.')}`));
      assert.match(r.stdout, /datasets a\.jsonl/);
      const man1 = manifest(ws, m1);
      assert.equal(man1.generation, 1);
      assert.deepEqual(man1.base, { model: null, path: join(ws.dir, 'model') });
      assert.equal(man1.adapter.snapshot, sa);
      assert.equal(man1.adapter.manifestSha256, sha(readFileSync(join(ws.root, 'snapshots', sa, 'manifest.json'))));
      assert.deepEqual(man1.datasets.map((x) => [x.dataset, x.sha256]), [['a.jsonl', sha(GOOD('a'))]]);
      assert.deepEqual(mergedBy(ws, m1), { ...mergedBy(ws, m1), base: join(ws.dir, 'model'), adapter: join(ws.root, 'snapshots', sa) });
      for (const [f, want] of Object.entries(man1.files)) assert.equal(sha(readFileSync(join(ws.root, 'models', m1, f))), want.sha256, f);
      assert.ok(man1.files['model.safetensors'] && man1.files['merged-by.json'], 'every file of the model is in the manifest');
      assert.deepEqual({ ...current(ws) }, { ...current(ws), snapshot: null, base: m1, adapter: null });
      const status = JSON.parse((await lq(ws, ['status', '--format', 'json'])).stdout) as { base: { model: string; generation: number } };
      assert.equal(status.base.model, m1);
      assert.match((await lq(ws, ['status'])).stdout, new RegExp(`base model: models/${m1} \\(generation 1`));

      // The next job trains a fresh adapter on the new base; the one after continues from it.
      d = startDaemon(ws);
      daemons.push(d);
      drop(ws, 'b.jsonl', GOOD('b'));
      await waitFor('run b', settled(ws, 2), 60_000, d.output);
      assert.equal(jobFor(ws, 'b.jsonl')?.base_model, join(ws.root, 'models', m1));
      assert.equal(jobFor(ws, 'b.jsonl')?.init_adapter, null);
      const sb = snapOf(ws, 'b.jsonl');
      assert.equal(readJson<{ base: string }>(join(ws.root, 'snapshots', sb, 'manifest.json')).base, m1);
      // inspect checks a snapshot against the base it was trained on, any other adapter against the live base.
      const inspectBase = async (adapter: string): Promise<string> => {
        const ri = await lq(ws, ['inspect', '--format', 'json', adapter]);
        assert.equal(ri.code, 0, ri.stderr + ri.stdout);
        return (JSON.parse(ri.stdout) as { base: string }).base;
      };
      assert.equal(await inspectBase(join(ws.root, 'snapshots', sb)), join(ws.root, 'models', m1));
      assert.equal(await inspectBase(join(ws.root, 'snapshots', sa)), join(ws.dir, 'model'));
      assert.equal(await inspectBase(join(ws.root, 'runs', jobFor(ws, 'b.jsonl')!.run_id, 'adapter')), join(ws.root, 'models', m1));
      drop(ws, 'c.jsonl', GOOD('c'));
      await waitFor('run c', settled(ws, 3), 60_000, d.output);
      const sc = snapOf(ws, 'c.jsonl');
      assert.equal(jobFor(ws, 'c.jsonl')?.init_adapter, join(ws.root, 'snapshots', sb));
      assert.equal(current(ws).snapshot, sc);

      // Second consolidation, through the running engine: the lineage chains.
      const r2 = await lq(ws, ['consolidate']);
      assert.equal(r2.code, 0, r2.stderr + r2.stdout);
      assert.doesNotMatch(r2.stdout, /applied directly/);
      const m2 = models(ws).find((x) => x !== m1)!;
      const man2 = manifest(ws, m2);
      assert.equal(man2.generation, 2);
      assert.deepEqual(man2.base, { model: m1, path: join(ws.root, 'models', m1) });
      assert.equal(mergedBy(ws, m2).base, join(ws.root, 'models', m1));
      assert.equal(mergedBy(ws, m2).adapter, join(ws.root, 'snapshots', sc));
      assert.deepEqual(man2.adapters.map((x) => x.snapshot), [sa, sc]);
      assert.deepEqual(man2.datasets.map((x) => x.dataset), ['a.jsonl', 'b.jsonl', 'c.jsonl']);
      assert.equal(current(ws).base, m2);
      assert.match(r2.stdout, /adapters .* → /);

      // A snapshot already merged is refused, with where it went.
      const again = await lq(ws, ['consolidate', sc]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, new RegExp(`already merged in models/${m2}`));

      // Rollback to a snapshot from before the first consolidation: its base and adapter together.
      const rb = await lq(ws, ['rollback', sa]);
      assert.equal(rb.code, 0, rb.stderr);
      assert.match(rb.stdout, new RegExp(`base model: the config's baseModel \\(was models/${m2}\\)`));
      assert.deepEqual([current(ws).snapshot, current(ws).base], [sa, null]);
      drop(ws, 'e.jsonl', GOOD('e'));
      await waitFor('run e', settled(ws, 4), 60_000, d.output);
      assert.equal(jobFor(ws, 'e.jsonl')?.base_model, join(ws.dir, 'model'));
      assert.equal(jobFor(ws, 'e.jsonl')?.init_adapter, join(ws.root, 'snapshots', sa));
      // And rollback to a model makes it the live base with a fresh adapter.
      const rm = await lq(ws, ['rollback', m1]);
      assert.equal(rm.code, 0, rm.stderr);
      assert.deepEqual([current(ws).snapshot, current(ws).base], [null, m1]);
      assert.equal(calls(ws).length, 2, 'one merge per consolidation');
      assertInventory(ws);
    } finally {
      await cleanup(ws, daemons);
    }
  });

  it('asked for during a run: pending until the run ends, merges the adapter of that run, and no run starts while it merges', T, async () => {
    const ws = workspace({}, { TRAINER_DOUBLE_MODE: 'slow', TRAINER_DOUBLE_STEPS: '6', TRAINER_DOUBLE_SLOW_MS: '20', TRAINER_DOUBLE_HOLD_AT: '3', MERGE_DOUBLE_HOLD: '1' });
    const d = startDaemon(ws);
    const release = async (dataset: string): Promise<string> => {
      const runId = await waitFor(`the run on ${dataset} to start`, () => jobFor(ws, dataset)?.run_id, 30_000, d.output);
      writeFileSync(join(ws.root, 'runs', runId, 'release'), '');
      return runId;
    };
    try {
      drop(ws, 'a.jsonl', GOOD('a'));
      await release('a.jsonl');
      await waitFor('run a', settled(ws, 1), 60_000, d.output);
      drop(ws, 'b.jsonl', GOOD('b'));
      const runB = await waitFor('run b to hold', () => { const id = jobFor(ws, 'b.jsonl')?.run_id; return id && st(ws).current ? id : undefined; }, 30_000, d.output);
      const cli = lq(ws, ['consolidate']);
      await waitFor('the consolidation to be pending', () => st(ws).consolidation?.status === 'pending', 30_000, d.output);
      assert.equal(calls(ws).length, 0, 'no merge while the run trains');
      drop(ws, 'c.jsonl', GOOD('c'));
      await waitFor('c queued', () => datasets(ws, 'queue').includes('c.jsonl'), 30_000, d.output);
      writeFileSync(join(ws.root, 'runs', runB, 'release'), '');
      await waitFor('the merge to start after run b', () => st(ws).consolidation?.status === 'merging' && calls(ws).length === 1, 60_000, d.output);
      assert.equal(st(ws).history.length, 2, 'run b ended first');
      const sb = snapOf(ws, 'b.jsonl');
      assert.equal(st(ws).consolidation?.snapshot, sb, '"the current adapter" is the one run b made');
      // Held merge: the queue waits for it.
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(jobFor(ws, 'c.jsonl'), undefined, 'no run starts while merging');
      assert.deepEqual(datasets(ws, 'queue'), ['c.jsonl']);
      assert.equal(st(ws).current, null);
      const status = (await lq(ws, ['status'])).stdout;
      assert.match(status, new RegExp(`consolidating: snapshot ${sb} into models/`));
      writeFileSync(join(ws.root, 'models', 'release'), '');
      const r = await cli;
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /pending|consolidated/);
      const [m] = models(ws);
      assert.deepEqual(manifest(ws, m!).datasets.map((x) => x.dataset), ['a.jsonl', 'b.jsonl']);
      await release('c.jsonl');
      await waitFor('run c', settled(ws, 3), 60_000, d.output);
      assert.equal(jobFor(ws, 'c.jsonl')?.base_model, join(ws.root, 'models', m!));
      assert.equal(jobFor(ws, 'c.jsonl')?.init_adapter, null);
      assertInventory(ws);
    } finally {
      await cleanup(ws, [d]);
    }
  });

  it('a failing merge leaves no models/<id>, changes nothing and says why; a crashed one too', T, async () => {
    const ws = workspace({}, { MERGE_DOUBLE_MODE: 'fail' });
    const daemons: Daemon[] = [];
    try {
      const d = startDaemon(ws);
      daemons.push(d);
      drop(ws, 'a.jsonl', GOOD('a'));
      await waitFor('run a', settled(ws, 1), 60_000, d.output);
      const sa = snapOf(ws, 'a.jsonl');
      d.child.kill('SIGTERM');
      await d.exited;
      const r = await lq(ws, ['consolidate']);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, /failed: merged model's logits differ from base\+adapter beyond tolerance/);
      assert.match(r.stderr, /Nothing changed/);
      assert.deepEqual(models(ws), []);
      assert.deepEqual(readdirSync(join(ws.root, 'models')).filter((n) => n.includes('.tmp')), [], 'no temporary folder left');
      assert.deepEqual([current(ws).snapshot, current(ws).base], [sa, null]);
      const status = JSON.parse((await lq(ws, ['status', '--format', 'json'])).stdout) as { lastErrors: { message: string }[]; lastConsolidation: Outcome; base: unknown };
      assert.match(status.lastErrors.at(-1)!.message, /consolidation of snapshot .* failed: merged model's logits differ/);
      assert.equal(status.lastConsolidation.ok, false);
      assert.equal(status.base, null);

      setEnv(ws, { MERGE_DOUBLE_MODE: 'crash' });
      const r2 = await lq(ws, ['consolidate']);
      assert.equal(r2.code, 1, r2.stdout);
      assert.match(r2.stderr, /the merge command exited with code 3 \(last output: .*RuntimeError: merge double crashed on purpose/);
      assert.deepEqual(models(ws), []);
      assert.deepEqual(readdirSync(join(ws.root, 'models')).filter((n) => n.includes('.tmp')), []);

      // The queue goes on from the same base and adapter.
      const d2 = startDaemon(ws);
      daemons.push(d2);
      drop(ws, 'b.jsonl', GOOD('b'));
      await waitFor('run b', settled(ws, 2), 60_000, d2.output);
      assert.equal(jobFor(ws, 'b.jsonl')?.base_model, join(ws.dir, 'model'));
      assert.equal(jobFor(ws, 'b.jsonl')?.init_adapter, join(ws.root, 'snapshots', sa));
      assertInventory(ws);
    } finally {
      await cleanup(ws, daemons);
    }
  });

  it('refuses clearly when there is nothing to merge or no merge command', T, async () => {
    const ws = workspace();
    const r = await lq(ws, ['consolidate']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nothing to consolidate: there is no current adapter/);
    const cfg = readJson<Record<string, unknown>>(ws.config);
    delete cfg['consolidate'];
    writeFileSync(ws.config, JSON.stringify(cfg));
    const d = startDaemon(ws);
    try {
      drop(ws, 'a.jsonl', GOOD('a'));
      await waitFor('run a', settled(ws, 1), 60_000, d.output);
      const r2 = await lq(ws, ['consolidate']);
      assert.equal(r2.code, 1);
      assert.match(r2.stderr, /consolidate\.command is not set, and trainer\.command .* does not run the reference trainer/);
      assert.equal(existsSync(join(ws.root, 'models')) ? models(ws).length : 0, 0);
    } finally {
      await cleanup(ws, [d]);
    }
  });

  it('consolidates by itself after N snapshots, before the next run starts', T, async () => {
    const ws = workspace({ afterSnapshots: 2 });
    const d = startDaemon(ws);
    try {
      drop(ws, 'a.jsonl', GOOD('a'));
      await waitFor('run a', settled(ws, 1), 60_000, d.output);
      drop(ws, 'b.jsonl', GOOD('b'));
      await waitFor('run b and a consolidation', () => settled(ws, 2)() && (st(ws).consolidations?.length ?? 0) === 1, 60_000, d.output);
      const o = st(ws).consolidations![0]!;
      assert.equal(o.ok, true, o.message);
      assert.equal(o.reason, 'afterSnapshots');
      const sb = snapOf(ws, 'b.jsonl');
      assert.equal(manifest(ws, o.id).adapter.snapshot, sb);
      drop(ws, 'c.jsonl', GOOD('c'));
      await waitFor('run c', settled(ws, 3), 60_000, d.output);
      assert.equal(jobFor(ws, 'c.jsonl')?.base_model, join(ws.root, 'models', o.id));
      assert.equal(jobFor(ws, 'c.jsonl')?.init_adapter, null);
      assert.equal(st(ws).consolidations!.length, 1, 'one snapshot since: not yet again');
      assertInventory(ws);
    } finally {
      await cleanup(ws, [d]);
    }
  });

  it('an engine killed mid-merge: the next one adopts the merge (one merge, not two) and finishes it', T, async () => {
    const ws = workspace({}, { MERGE_DOUBLE_HOLD: '1' });
    const daemons: Daemon[] = [];
    try {
      const d = startDaemon(ws);
      daemons.push(d);
      drop(ws, 'a.jsonl', GOOD('a'));
      await waitFor('run a', settled(ws, 1), 60_000, d.output);
      const cli = lq(ws, ['consolidate', '--wait', '60']);
      await waitFor('the merge to run', () => st(ws).consolidation?.status === 'merging' && calls(ws).length === 1, 30_000, d.output);
      const pid = st(ws).consolidation!.pid!;
      d.child.kill('SIGKILL');
      await d.exited;
      assert.ok(alive(pid), 'the merge survives the engine');
      const d2 = startDaemon(ws);
      daemons.push(d2);
      // d2, or the waiting CLI (which finishes a merge whose engine is gone), adopts it.
      const engineLog = (): string => readdirSync(join(ws.root, 'logs')).map((f) => readFileSync(join(ws.root, 'logs', f), 'utf8')).join('');
      await waitFor('adoption', () => new RegExp(`adopted merge pid ${pid}`).test(engineLog()), 30_000, d2.output);
      writeFileSync(join(ws.root, 'models', 'release'), '');
      await waitFor('the consolidation to end', () => (st(ws).consolidations?.length ?? 0) === 1, 60_000, d2.output);
      assert.equal(st(ws).consolidations![0]!.ok, true, st(ws).consolidations![0]!.message);
      assert.equal(calls(ws).length, 1, 'one merge');
      const r = await cli;
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const [m] = models(ws);
      assert.equal(current(ws).base, m);
    } finally {
      await cleanup(ws, daemons);
    }
  });

  it('an engine and its merge both killed: the half-made model is removed and the merge starts again', T, async () => {
    const ws = workspace({}, { MERGE_DOUBLE_HOLD: '1' });
    const daemons: Daemon[] = [];
    try {
      const d = startDaemon(ws);
      daemons.push(d);
      drop(ws, 'a.jsonl', GOOD('a'));
      await waitFor('run a', settled(ws, 1), 60_000, d.output);
      // --wait 0: sent, not followed (a waiting CLI would finish the merge itself once the engine is gone).
      assert.equal((await lq(ws, ['consolidate', '--wait', '0'])).code, 3);
      await waitFor('the merge to run', () => st(ws).consolidation?.status === 'merging' && calls(ws).length === 1, 30_000, d.output);
      const { pid, id } = st(ws).consolidation!;
      d.child.kill('SIGKILL');
      await d.exited;
      process.kill(-pid!, 'SIGKILL');
      await waitFor('the merge to die', () => !alive(pid!), 10_000);
      assert.ok(readdirSync(join(ws.root, 'models')).some((n) => n.startsWith(`.${id}.tmp`)), 'the killed merge left its half-made folder');
      writeFileSync(join(ws.root, 'models', 'release'), '');
      const d2 = startDaemon(ws);
      daemons.push(d2);
      await waitFor('the consolidation to end', () => (st(ws).consolidations?.length ?? 0) === 1, 60_000, d2.output);
      assert.equal(st(ws).consolidations![0]!.ok, true, st(ws).consolidations![0]!.message);
      assert.equal(calls(ws).length, 2, 'started again once');
      assert.deepEqual(models(ws), [id]);
      assert.deepEqual(readdirSync(join(ws.root, 'models')).filter((n) => n.includes('.tmp')), [], 'no half-made folder left');
      assert.match(d2.output(), /cut short .*: starting it again/);
    } finally {
      await cleanup(ws, daemons);
    }
  });
});

describe('the merge command and the daily trigger (in process)', () => {
  const config = (trainer: string[], consolidate: Record<string, unknown> = {}): ReturnType<typeof loadConfig> => {
    const ws = makeWorkspace({ trainer: { command: trainer } });
    const cfg = readJson<Record<string, unknown>>(ws.config);
    cfg['consolidate'] = consolidate;
    writeFileSync(ws.config, JSON.stringify(cfg));
    return loadConfig(ws.config, { filesystem: false });
  };

  it('derives the merge command from a Python reference trainer only', () => {
    assert.deepEqual(mergeCommandFor(config(['.venv/bin/python', '-m', 'lora_queue_trainer'])), { ok: true, argv: ['.venv/bin/python', '-m', 'lora_queue_trainer.merge'] });
    assert.deepEqual(mergeCommandFor(config(['python3.11', '-u', '-m', 'lora_queue_trainer'])), { ok: true, argv: ['python3.11', '-u', '-m', 'lora_queue_trainer.merge'] });
    assert.deepEqual(mergeCommandFor(config(['x'], { command: ['my-merge', '--dtype', 'bfloat16'] })), { ok: true, argv: ['my-merge', '--dtype', 'bfloat16'] });
    // Under a launcher the merge is one process of the launcher's own Python, never N under the launcher.
    assert.deepEqual(mergeCommandFor(config(['.venv/bin/python', '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', '-m', 'lora_queue_trainer'])), { ok: true, argv: ['.venv/bin/python', '-m', 'lora_queue_trainer.merge'] });
    assert.deepEqual(mergeCommandFor(config(['/opt/venv/bin/torchrun', '--nproc_per_node', '4', '-m', 'lora_queue_trainer'])), { ok: true, argv: ['/opt/venv/bin/python', '-m', 'lora_queue_trainer.merge'] });
    for (const t of [['accelerate', 'launch', '-m', 'lora_queue_trainer'], ['torchrun', '-m', 'lora_queue_trainer'], ['node', 'trainer.mjs'], ['python', '-m', 'other_trainer']]) {
      const r = mergeCommandFor(config(t));
      assert.equal(r.ok, false, t.join(' '));
      assert.match((r as { why: string }).why, /set consolidate\.command/);
    }
  });

  it('dailyAt: once a day, at or after the time, only when no run is in progress', async () => {
    const ws = workspace({ dailyAt: '03:30' });
    const p = rootPaths(ws.root);
    ensureLayout(p);
    // A current snapshot to merge: a small adapter that fits the workspace's fake base model.
    const adapter = join(ws.dir, 'adapter');
    const Q = 'base_model.model.model.layers.0.self_attn.q_proj';
    mkdirSync(adapter);
    writeFileSync(join(adapter, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj'] }));
    writeSafetensors(join(adapter, 'adapter_model.safetensors'), { [`${Q}.lora_A.weight`]: [4, 64], [`${Q}.lora_B.weight`]: [64, 4] });
    const snap = createSnapshot(p, { runId: 'r1', adapterDir: adapter, baseModel: join(ws.dir, 'model'), dataset: 'a.jsonl', datasetSha256: null, step: 1, loss: 1 });
    assert.ok(snap.ok);
    setCurrent(p, snap.id);
    let s: EngineState = emptyState();
    let running = true;
    const c = new Consolidator({
      paths: p, configFile: ws.config, log: new EngineLog(p.logs), config: () => loadConfig(ws.config, { filesystem: false }),
      state: () => s, apply: (f) => { s = f(s); }, runInProgress: () => running,
    });
    c.tick(new Date(2026, 10, 23, 3, 29));
    assert.equal(s.consolidation ?? null, null, 'not before the time');
    c.tick(new Date(2026, 10, 23, 3, 31));
    assert.equal(s.consolidation ?? null, null, 'not while a run trains');
    running = false;
    c.tick(new Date(2026, 10, 23, 9, 0));
    assert.equal(s.consolidation?.reason, 'daily', 'at the first idle moment after the time');
    await c.drive();
    assert.equal(s.consolidations?.[0]?.ok, true, s.consolidations?.[0]?.message);
    assert.equal(models(ws).length, 1);
    c.tick(new Date(2026, 10, 23, 23, 0));
    assert.equal(s.consolidation ?? null, null, 'once a day');
    c.tick(new Date(2026, 10, 24, 4, 0));
    assert.equal(s.consolidation ?? null, null, 'the next day: nothing new to merge (the live base has no adapter)');
    assert.equal(s.consolidateCounters?.lastDaily, '2026-11-24');
  });
});

describe('consolidate with the real merge command', () => {
  const python = join(REPO, '.venv', 'bin', 'python');
  const tiny = join(REPO, '.cache', 'tiny-model');
  const missing = !existsSync(python) ? `${python} is missing (bash scripts/setup-python.sh)` : !existsSync(join(tiny, 'model.safetensors')) ? `${tiny} is missing (.venv/bin/python scripts/make_tiny_model.py .cache/tiny-model)` : undefined;

  // The trainer double's adapter fits the tiny model's q_proj / v_proj shapes (it reads the base's
  // safetensors header); python -m lora_queue_trainer.merge merges it for real and checks the logits.
  it('merges a snapshot into the tiny model: a loadable model with changed q_proj weights, and the next job trains on it', { ...T, skip: missing }, async () => {
    const ws = workspace();
    const cfg = readJson<Record<string, unknown> & { consolidate: Record<string, unknown> }>(ws.config);
    cfg['baseModel'] = tiny;
    cfg.consolidate = { command: [python, '-m', 'lora_queue_trainer.merge'] };
    writeFileSync(ws.config, JSON.stringify(cfg, null, 2) + '\n');
    const daemons: Daemon[] = [];
    try {
      let d = startDaemon(ws);
      daemons.push(d);
      drop(ws, 'a.jsonl', GOOD('a'));
      await waitFor('run a', settled(ws, 1), 60_000, d.output);
      d.child.kill('SIGTERM');
      await d.exited;
      const r = await lq(ws, ['consolidate']);
      assert.equal(r.code, 0, r.stderr + r.stdout + readdirSync(join(ws.root, 'models')).join(','));
      const [m] = models(ws);
      const dir = join(ws.root, 'models', m!);
      const man = manifest(ws, m!);
      assert.equal((man as unknown as { merge: { summary: { ok: boolean } } }).merge.summary.ok, true);
      for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'chat_template.jinja']) assert.ok(man.files[f], `${f} in the merged model and its manifest`);
      const check = await new Promise<{ code: number | null; out: string }>((res) => {
        const script = [
          'import sys, torch',
          'from safetensors.torch import load_file',
          'b = load_file(sys.argv[1] + "/model.safetensors"); m = load_file(sys.argv[2] + "/model.safetensors")',
          'k = "model.layers.0.self_attn.q_proj.weight"',
          'print("changed" if not torch.equal(b[k], m[k]) else "same", "up_same" if torch.equal(b["model.layers.0.mlp.up_proj.weight"], m["model.layers.0.mlp.up_proj.weight"]) else "up_changed")',
        ].join('\n');
        const p = spawn(python, ['-c', script, tiny, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        p.stdout!.on('data', (x) => (out += x));
        p.stderr!.on('data', (x) => (out += x));
        p.on('close', (code) => res({ code, out }));
      });
      assert.equal(check.code, 0, check.out);
      assert.match(check.out, /^changed up_same/m, 'the adapter went into q_proj, and only into its targets');
      d = startDaemon(ws);
      daemons.push(d);
      drop(ws, 'b.jsonl', GOOD('b'));
      await waitFor('run b on the merged model', settled(ws, 2), 60_000, d.output);
      assert.equal(jobFor(ws, 'b.jsonl')?.base_model, dir);
      assert.equal(st(ws).history.at(-1)?.kind, 'success', 'its adapter was checked against the merged model');
      assert.equal(readJson<{ base: string }>(join(ws.root, 'snapshots', snapOf(ws, 'b.jsonl'), 'manifest.json')).base, m);
    } finally {
      await cleanup(ws, daemons);
    }
  });
});
