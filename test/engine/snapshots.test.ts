/**
 * Verified snapshots, current.json, rollback, pruning and `inspect`: the module in process for the
 * adapter checks and pruning, the engine as a subprocess (daemon + trainer double + CLI) for the
 * rest. The trainer double writes a small fake PEFT adapter whose shapes fit the fake base model
 * every workspace gets (helpers.ts: FAKE_BASE_WEIGHTS).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkAdapter, readSafetensorsHeader } from '../../server/src/engine/adapterCheck';
import { readCurrent, setCurrent } from '../../server/src/engine/current';
import { rootPaths, snapshotsDir } from '../../server/src/engine/paths';
import { rollbackToSnapshot as rollbackTo } from '../../server/src/engine/rollback';
import { createSnapshot, listSnapshots, pruneSnapshots, verifySnapshot, verifySnapshotsAtStart } from '../../server/src/engine/snapshots';
import {
  assertInventory, cleanup, datasets, drop, GOOD, lq, makeWorkspace, readJson, removeTempDirs, runDirs, startDaemon, state, tempDir, waitFor, writeFakeBaseModel, writeSafetensors, type Daemon,
} from './helpers';

const T = { timeout: 120_000 };
after(removeTempDirs);

/** A PEFT adapter folder: adapter_config.json + adapter_model.safetensors with the given factors. */
function fakeAdapter(dir: string, targets: string[], tensors: Record<string, number[]>, base = 'model'): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: targets, base_model_name_or_path: base }) + '\n');
  writeSafetensors(join(dir, 'adapter_model.safetensors'), tensors);
  return dir;
}
const Q = 'base_model.model.model.layers.0.self_attn.q_proj';
const GOOD_TENSORS = { [`${Q}.lora_A.weight`]: [4, 64], [`${Q}.lora_B.weight`]: [64, 4] };

const snapshotIds = (root: string): string[] => {
  try {
    return readdirSync(join(root, 'snapshots')).filter((n) => !n.startsWith('.') && !n.endsWith('.tmp') && !n.includes('.corrupt-') && n !== 'verified.json').sort();
  } catch {
    return [];
  }
};
type Job = { init_adapter: string | null; run_id: string; dataset: string };
const readJsonQuiet = <T>(f: string): T | undefined => { try { return readJson<T>(f); } catch { return undefined; } };
const jobOf = (root: string, runId: string): Job => readJson<Job>(join(root, 'runs', runId, 'job.json'));
const jobFor = (root: string, dataset: string): Job | undefined => runDirs({ root } as never).map((r) => jobOf(root, r)).find((j) => j.dataset.endsWith(`/${dataset}`));
/** The snapshot of the run that trained `dataset` (a snapshot's id is its run's id; run ids of one second do not sort by time). */
const snapOf = (root: string, dataset: string): string => {
  const id = jobFor(root, dataset)?.run_id;
  assert.ok(id && snapshotIds(root).includes(id), `a snapshot of the run on ${dataset}: ${snapshotIds(root)}`);
  return id;
};
const current = (root: string): { snapshot: string | null; previous: string | null; adapter: string | null; note?: string | null } => readJson(join(root, 'current.json'));

describe('adapter checks', () => {
  it('reads safetensors headers and accepts an adapter that fits', () => {
    const dir = tempDir('lq-adapter-');
    writeFakeBaseModel(join(dir, 'model'));
    const h = readSafetensorsHeader(join(dir, 'model', 'model.safetensors'));
    assert.deepEqual(h.get('model.layers.0.self_attn.q_proj.weight')?.shape, [64, 64]);
    const r = checkAdapter(fakeAdapter(join(dir, 'a'), ['q_proj'], GOOD_TENSORS), join(dir, 'model'));
    assert.equal(r.ok, true, JSON.stringify(r.problems));
    assert.equal(r.tensors, 2);
    assert.equal(r.modules, 1);
  });

  it('reads a sharded base model (model.safetensors.index.json)', () => {
    const dir = tempDir('lq-adapter-');
    const model = join(dir, 'model');
    mkdirSync(model);
    writeFileSync(join(model, 'config.json'), '{}\n');
    writeSafetensors(join(model, 'model-00001-of-00002.safetensors'), { 'model.layers.0.self_attn.q_proj.weight': [64, 64] });
    writeSafetensors(join(model, 'model-00002-of-00002.safetensors'), { 'model.layers.0.self_attn.v_proj.weight': [32, 64] });
    writeFileSync(join(model, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'model.layers.0.self_attn.q_proj.weight': 'model-00001-of-00002.safetensors', 'model.layers.0.self_attn.v_proj.weight': 'model-00002-of-00002.safetensors' } }));
    const V = 'base_model.model.model.layers.0.self_attn.v_proj';
    const r = checkAdapter(fakeAdapter(join(dir, 'a'), ['q_proj', 'v_proj'], { ...GOOD_TENSORS, [`${V}.lora_A.weight`]: [4, 64], [`${V}.lora_B.weight`]: [32, 4] }), model);
    assert.equal(r.ok, true, JSON.stringify(r.problems));
    assert.equal(r.modules, 2);
  });

  it('reports a truncated adapter file', () => {
    const dir = tempDir('lq-adapter-');
    writeFakeBaseModel(join(dir, 'model'));
    const a = fakeAdapter(join(dir, 'a'), ['q_proj'], GOOD_TENSORS);
    const f = join(a, 'adapter_model.safetensors');
    writeFileSync(f, readFileSync(f).subarray(0, readFileSync(f).length - 10));
    const r = checkAdapter(a, join(dir, 'model'));
    assert.equal(r.ok, false);
    assert.ok(r.problems.some((p) => p.code === 'adapter-weights-invalid' && /truncated|cover/.test(p.message)), JSON.stringify(r.problems));
  });

  it('inspect: exit 1 with a shape mismatch and a missing target module, 0 when it fits, 2 on usage', T, async () => {
    const ws = makeWorkspace();
    const bad = fakeAdapter(join(ws.dir, 'bad'), ['q_proj', 'o_proj'], { [`${Q}.lora_A.weight`]: [4, 65], [`${Q}.lora_B.weight`]: [64, 4] });
    const r = await lq(ws, ['inspect', bad]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /shape-mismatch: .*lora_A\.weight is \[4, 65\].*needs \[4, 64\]/);
    assert.match(r.stdout, /missing-target-module: target module o_proj/);
    const j = JSON.parse((await lq(ws, ['inspect', '--format', 'json', bad])).stdout) as { ok: boolean; problems: { code: string }[] };
    assert.equal(j.ok, false);
    assert.deepEqual(j.problems.map((p) => p.code).sort(), ['missing-target-module', 'shape-mismatch']);
    const good = fakeAdapter(join(ws.dir, 'good'), ['q_proj'], GOOD_TENSORS);
    const ok = await lq(ws, ['inspect', '--base', join(ws.dir, 'model'), good]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /ok/);
    assert.equal((await lq(ws, ['inspect'])).code, 2);
  });
});

describe('snapshot pruning', () => {
  it('keeps the newest N, the current one and the last verified good one', () => {
    const dir = tempDir('lq-prune-');
    writeFakeBaseModel(join(dir, 'model'));
    const p = rootPaths(join(dir, 'root'));
    mkdirSync(p.root);
    const a = fakeAdapter(join(dir, 'a'), ['q_proj'], GOOD_TENSORS);
    const ids = [1, 2, 3, 4].map((i) => {
      const r = createSnapshot(p, { runId: `run${i}`, adapterDir: a, baseModel: join(dir, 'model'), dataset: `d${i}.jsonl`, datasetSha256: null, step: i, loss: 1 / i }, new Date(Date.UTC(2026, 0, i)));
      assert.ok(r.ok, JSON.stringify(r));
      return r.id;
    });
    assert.deepEqual(verifySnapshot(join(snapshotsDir(p), ids[0]!)), []);
    setCurrent(p, ids[0]!);
    // run3 and run4 failed their last verification (as if a disk went bad); run2 is the last good one.
    writeFileSync(join(snapshotsDir(p), 'verified.json'), JSON.stringify({ run1: { ok: true, at: 'x' }, run2: { ok: true, at: 'x' }, run3: { ok: false, at: 'x' }, run4: { ok: false, at: 'x' } }));
    assert.deepEqual(pruneSnapshots(p, 1), ['run3']);
    assert.deepEqual(listSnapshots(p).map((s) => s.id), ['run4', 'run2', 'run1']);
    assert.equal(readCurrent(p)?.snapshot, 'run1');
  });
});

/** A queue root beside a fake base model, and `mk(i)`, which snapshots one fitting adapter as run i (created on day i). */
function snapshotRoot(prefix: string): { p: ReturnType<typeof rootPaths>; mk: (i: number) => string } {
  const dir = tempDir(prefix);
  writeFakeBaseModel(join(dir, 'model'));
  const p = rootPaths(join(dir, 'root'));
  mkdirSync(p.root);
  const a = fakeAdapter(join(dir, 'a'), ['q_proj'], GOOD_TENSORS);
  const mk = (i: number): string => {
    const r = createSnapshot(p, { runId: `run${i}`, adapterDir: a, baseModel: join(dir, 'model'), dataset: 'd.jsonl', datasetSha256: null, step: i, loss: 1 }, new Date(Date.UTC(2026, 0, i)));
    assert.ok(r.ok, JSON.stringify(r));
    return r.id;
  };
  return { p, mk };
}

describe('rollback', () => {
  it('refuses a corrupt snapshot, moves it aside and leaves current alone', () => {
    const { p, mk } = snapshotRoot('lq-rollback-');
    const [s1, s2] = [mk(1), mk(2)];
    setCurrent(p, s2);
    writeFileSync(join(snapshotsDir(p), s1, 'adapter_config.json'), '{"tampered": true}\n');
    const r = rollbackTo(p, s1);
    assert.equal(r.ok, false);
    assert.match(r.message, /corrupt.*moved aside/);
    assert.equal(readCurrent(p)?.snapshot, s2);
    assert.deepEqual(listSnapshots(p).map((x) => x.id), [s2]);
    assert.deepEqual(rollbackTo(p, s2), { ok: true, message: `${s2} is already the current snapshot` });
  });
});

describe('verification at start', () => {
  it('a torn or garbage current.json is rebuilt from the newest verified snapshot, the bad file kept aside', () => {
    const { p, mk } = snapshotRoot('lq-current-');
    const [, s2] = [mk(1), mk(2)];
    setCurrent(p, s2);
    verifySnapshotsAtStart(p, new Date(Date.UTC(2026, 0, 9)));
    for (const bad of ['', '{"snapshot":"', 'garbage \u0000']) {
      writeFileSync(p.current, bad);
      const msgs = verifySnapshotsAtStart(p, new Date(Date.UTC(2026, 0, 10)));
      assert.ok(msgs.some((m) => /current\.json was unreadable .* rebuilt as snapshot/.test(m)), msgs.join('\n'));
      assert.equal(readCurrent(p)?.snapshot, s2, JSON.stringify(bad));
    }
    assert.ok(readdirSync(p.root).some((n) => n.startsWith('current.json.corrupt-')));
  });


  it('hashes again only the current snapshot and those whose files changed; a quiet tamper is caught before use', () => {
    const { p, mk } = snapshotRoot('lq-verify-');
    const [s1, s2, s3] = [mk(1), mk(2), mk(3)];
    setCurrent(p, s3);
    const verified = (): Record<string, { ok: boolean; at: string }> => readJson(join(snapshotsDir(p), 'verified.json'));
    // Give s1's config a whole-second mtime, and let a first start record that.
    const cfg1 = join(snapshotsDir(p), s1, 'adapter_config.json');
    utimesSync(cfg1, 1_700_000_000, 1_700_000_000);
    assert.deepEqual(verifySnapshotsAtStart(p, new Date(Date.UTC(2026, 0, 9))), []);
    const before = verified();
    assert.equal(before[s1]!.at, '2026-01-09T00:00:00.000Z', 'a snapshot whose files changed is hashed again');
    // s2 is changed the ordinary way (its mtime moves); s1 is changed and its size and mtime put back.
    const cfg2 = join(snapshotsDir(p), s2, 'adapter_config.json');
    writeFileSync(cfg2, readFileSync(cfg2, 'utf8').replace('"r":4', '"r":5'));
    writeFileSync(cfg1, readFileSync(cfg1, 'utf8').replace('"r":4', '"r":6'));
    utimesSync(cfg1, 1_700_000_000, 1_700_000_000);
    const msgs = verifySnapshotsAtStart(p, new Date(Date.UTC(2026, 0, 10)));
    const after = verified();
    assert.equal(after[s3]!.at, '2026-01-10T00:00:00.000Z', 'the current snapshot is hashed at every start');
    assert.equal(after[s1]!.at, before[s1]!.at, 'an unchanged-looking snapshot is not hashed again');
    assert.ok(msgs.some((m) => m.includes(`snapshot ${s2} is corrupt`)), msgs.join('\n'));
    assert.deepEqual(listSnapshots(p).map((x) => x.id).sort(), [s1, s3].sort());
    // The quiet tamper is found when s1 is about to be used.
    const r = rollbackTo(p, s1);
    assert.equal(r.ok, false);
    assert.match(r.message, /corrupt.*moved aside/);
    assert.equal(readCurrent(p)?.snapshot, s3);
  });
});

describe('snapshots in the engine', { concurrency: true }, () => {
  it('snapshots each success, continues from it, and falls back when it is corrupt at restart', T, async () => {
    const ws = makeWorkspace();
    const daemons: Daemon[] = [];
    try {
      const d1 = startDaemon(ws);
      daemons.push(d1);
      drop(ws, 'a.jsonl', GOOD('a'));
      drop(ws, 'b.jsonl', GOOD('b'));
      await waitFor('two runs', () => state(ws).history.length === 2 && !state(ws).current, 60_000, d1.output);
      const [s1, s2] = [snapOf(ws.root, 'a.jsonl'), snapOf(ws.root, 'b.jsonl')];
      const m1 = readJson<{ runId: string; dataset: string; datasetSha256: string; step: number; loss: number; files: Record<string, { sha256: string; size: number }>; baseModel: string }>(join(ws.root, 'snapshots', s1, 'manifest.json'));
      assert.equal(m1.dataset, 'a.jsonl');
      assert.equal(m1.step, 20);
      assert.equal(typeof m1.loss, 'number');
      assert.match(m1.datasetSha256, /^[0-9a-f]{64}$/);
      assert.equal(m1.baseModel, join(ws.dir, 'model'));
      assert.deepEqual(Object.keys(m1.files).sort(), ['adapter_config.json', 'adapter_model.safetensors']);
      // The first run started from nothing; the second from the first's snapshot (absolute path).
      assert.equal(jobFor(ws.root, 'a.jsonl')?.init_adapter, null);
      assert.equal(jobFor(ws.root, 'b.jsonl')?.init_adapter, join(ws.root, 'snapshots', s1));
      assert.equal(current(ws.root).snapshot, s2);
      assert.equal(current(ws.root).previous, s1);
      const st = JSON.parse((await lq(ws, ['status', '--format', 'json'])).stdout) as { snapshot: { snapshot: string; verified: boolean; dataset: string } };
      assert.equal(st.snapshot.snapshot, s2);
      assert.equal(st.snapshot.verified, true);
      assert.equal(st.snapshot.dataset, 'b.jsonl');
      const list = JSON.parse((await lq(ws, ['snapshots', '--format', 'json'])).stdout) as { id: string; current: boolean; verified: boolean; step: number; loss: number; dataset: string; created: string }[];
      assert.deepEqual(list.map((s) => [s.id, s.current, s.verified, s.dataset]), [[s2, true, true, 'b.jsonl'], [s1, false, true, 'a.jsonl']]);
      assert.match((await lq(ws, ['snapshots'])).stdout, new RegExp(`\\* ${s2} +verified, step 20`));

      // Flip a byte of the current snapshot while no engine runs: the next start moves it aside.
      d1.child.kill('SIGTERM');
      await d1.exited;
      const f = join(ws.root, 'snapshots', s2, 'adapter_model.safetensors');
      const buf = readFileSync(f);
      buf[buf.length - 1] = buf[buf.length - 1]! ^ 0xff;
      writeFileSync(f, buf);
      const d2 = startDaemon(ws);
      daemons.push(d2);
      await waitFor('the corrupt snapshot to be reported', () => /snapshot .* is corrupt/.test(d2.output()) && /fell back to/.test(d2.output()), 30_000, d2.output);
      assert.deepEqual(snapshotIds(ws.root), [s1]);
      assert.ok(readdirSync(join(ws.root, 'snapshots')).some((n) => n.startsWith(`${s2}.corrupt-`)), 'kept aside');
      assert.equal(current(ws.root).snapshot, s1);
      assert.match(current(ws.root).note ?? '', /fell back/);
      const st2 = JSON.parse((await lq(ws, ['status', '--format', 'json'])).stdout) as { snapshot: { snapshot: string; note: string } };
      assert.equal(st2.snapshot.snapshot, s1);
      assert.match(st2.snapshot.note, new RegExp(`${s2} is corrupt: fell back to ${s1}`));
      // b.jsonl's training was only in s2: it goes back to the queue and trains again on the
      // fallback (issue #14: done/ means "in the live adapter").
      assert.match(d2.output(), /done\/b\.jsonl is not in the live adapter any more \(snapshot [^)]*\): back in the queue/);
      await waitFor('b trained again', () => state(ws).history.length === 3 && !state(ws).current, 60_000, d2.output);
      assert.equal(state(ws).history[2]!.dataset, 'b.jsonl');
      assert.deepEqual(datasets(ws, 'done'), ['a.jsonl', 'b.jsonl']);
      const s3 = current(ws.root).snapshot!;
      assert.notEqual(s3, s1);
      const lineage = readJson<{ lineage: { dataset: string }[] }>(join(ws.root, 'snapshots', s3, 'manifest.json')).lineage.map((l) => l.dataset);
      assert.deepEqual(lineage, ['a.jsonl', 'b.jsonl'], 'the new snapshot continued from the fallback, a then b');
      assert.equal(existsSync(join(ws.root, 'snapshots', s2)), false);
      assertInventory(ws);
    } finally {
      await cleanup(ws, daemons);
    }
  });

  it('a run that continued a current snapshot damaged meanwhile is not filed as done: it trains again on the fallback', T, async () => {
    const ws = makeWorkspace({ env: { TRAINER_DOUBLE_HOLD_AT: '3' } });
    const daemons: Daemon[] = [];
    // Every run holds at step 3 and is released at once, but b's while holdB is set.
    let holdB = true;
    const releaser = setInterval(() => {
      for (const r of runDirs(ws)) {
        const job = readJsonQuiet<Job>(join(ws.root, 'runs', r, 'job.json'));
        if (!job || (holdB && job.dataset.endsWith('/b.jsonl')) || existsSync(join(ws.root, 'runs', r, 'release'))) continue;
        writeFileSync(join(ws.root, 'runs', r, 'release'), '');
      }
    }, 100);
    try {
      const d1 = startDaemon(ws);
      daemons.push(d1);
      drop(ws, 'a.jsonl', GOOD('a'));
      await waitFor('a done', () => state(ws).history.length === 1 && !state(ws).current, 60_000, d1.output);
      const s1 = snapOf(ws.root, 'a.jsonl');
      drop(ws, 'b.jsonl', GOOD('b'));
      const heldRun = await waitFor('b started', () => runDirs(ws).find((r) => readJsonQuiet<Job>(join(ws.root, 'runs', r, 'job.json'))?.dataset.endsWith('/b.jsonl')), 30_000, d1.output);
      await waitFor('b held', () => readFileSync(join(ws.root, 'runs', heldRun, 'events.jsonl'), 'utf8').includes('held_at'), 30_000, d1.output);
      d1.child.kill('SIGKILL');
      await d1.exited;
      const f = join(ws.root, 'snapshots', s1, 'adapter_model.safetensors');
      const buf = readFileSync(f);
      buf[buf.length - 1] = buf[buf.length - 1]! ^ 0xff;
      writeFileSync(f, buf);
      const d2 = startDaemon(ws);
      daemons.push(d2);
      await waitFor('the fallback', () => /no verified snapshot .* is left/.test(d2.output()) && /adopted trainer pid/.test(d2.output()), 30_000, d2.output);
      holdB = false;
      await waitFor('both trained on the fallback', () => datasets(ws, 'done').length === 2 && datasets(ws, 'queue').length === 0 && !state(ws).current, 60_000, d2.output);
      assert.match(d2.output(), /continued an adapter the live one no longer holds .*: its snapshot is kept aside and the dataset trains again/);
      assert.match(d2.output(), /done\/a\.jsonl is not in the live adapter any more/);
      const lineage = readJson<{ lineage: { dataset: string }[] }>(join(ws.root, 'snapshots', current(ws.root).snapshot!, 'manifest.json')).lineage.map((l) => l.dataset).sort();
      assert.deepEqual(lineage, ['a.jsonl', 'b.jsonl'], 'the live adapter holds both again');
      assert.deepEqual(state(ws).history.filter((h) => h.dataset === 'b.jsonl').map((h) => h.outcome), ['queue', 'done']);
      assertInventory(ws);
    } finally {
      clearInterval(releaser);
      await cleanup(ws, daemons);
    }
  });

  it('rollback switches current (through the engine and without one); the next run continues from it; keep prunes', T, async () => {
    const ws = makeWorkspace({ snapshots: { keep: 2 } });
    const daemons: Daemon[] = [];
    try {
      const d = startDaemon(ws);
      daemons.push(d);
      drop(ws, 'a.jsonl', GOOD('a'));
      drop(ws, 'b.jsonl', GOOD('b'));
      await waitFor('two runs', () => state(ws).history.length === 2 && !state(ws).current, 60_000, d.output);
      const [s1, s2] = [snapOf(ws.root, 'a.jsonl'), snapOf(ws.root, 'b.jsonl')];
      assert.equal(current(ws.root).snapshot, s2);
      const r = await lq(ws, ['rollback', s1]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`current snapshot: ${s1} \\(was ${s2}\\)`));
      assert.doesNotMatch(r.stdout, /applied directly/);
      assert.equal(current(ws.root).snapshot, s1);
      assert.equal((await lq(ws, ['rollback', 'nope'])).code, 1);
      drop(ws, 'c.jsonl', GOOD('c'));
      await waitFor('the third run', () => state(ws).history.length === 3 && !state(ws).current, 60_000, d.output);
      assert.equal(jobFor(ws.root, 'c.jsonl')?.init_adapter, join(ws.root, 'snapshots', s1));
      const ids = snapshotIds(ws.root);
      const s3 = ids.find((x) => x !== s1 && x !== s2)!;
      assert.equal(current(ws.root).snapshot, s3);
      // keep 2: the two newest (s3, s2); s1 is neither current nor the last good one any more.
      assert.deepEqual(ids, [s2, s3].sort());
      d.child.kill('SIGTERM');
      await d.exited;
      const r2 = await lq(ws, ['rollback', s2]);
      assert.equal(r2.code, 0, r2.stderr);
      assert.match(r2.stdout, /applied directly/);
      assert.equal(current(ws.root).snapshot, s2);
      assert.equal(current(ws.root).previous, s3);
      assertInventory(ws);
    } finally {
      await cleanup(ws, daemons);
    }
  });

  it('a rollback during a run wins: that run is snapshotted but does not become current', T, async () => {
    const ws = makeWorkspace({ env: { TRAINER_DOUBLE_MODE: 'slow', TRAINER_DOUBLE_STEPS: '6', TRAINER_DOUBLE_SLOW_MS: '20', TRAINER_DOUBLE_HOLD_AT: '3' } });
    const d = startDaemon(ws);
    const release = async (dataset: string): Promise<string> => {
      const runId = await waitFor(`the run on ${dataset} to start`, () => jobFor(ws.root, dataset)?.run_id, 30_000, d.output);
      writeFileSync(join(ws.root, 'runs', runId, 'release'), '');
      return runId;
    };
    try {
      drop(ws, 'a.jsonl', GOOD('a'));
      await release('a.jsonl');
      await waitFor('run 1', () => state(ws).history.length === 1 && !state(ws).current, 60_000, d.output);
      drop(ws, 'b.jsonl', GOOD('b'));
      await release('b.jsonl');
      await waitFor('run 2', () => state(ws).history.length === 2 && !state(ws).current, 60_000, d.output);
      const [s1, s2] = [snapOf(ws.root, 'a.jsonl'), snapOf(ws.root, 'b.jsonl')];
      assert.equal(current(ws.root).snapshot, s2);
      drop(ws, 'c.jsonl', GOOD('c'));
      const run3 = await waitFor('run 3 to start', () => jobFor(ws.root, 'c.jsonl')?.run_id, 30_000, d.output);
      assert.equal(jobOf(ws.root, run3).init_adapter, join(ws.root, 'snapshots', s2));
      const r = await lq(ws, ['rollback', s1]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /run in progress keeps the adapter it started from/);
      writeFileSync(join(ws.root, 'runs', run3, 'release'), '');
      await waitFor('run 3', () => state(ws).history.length === 3 && !state(ws).current, 60_000, d.output);
      await waitFor('the log line', () => /kept but not made current/.test(d.output()), 10_000, d.output);
      assert.equal(snapshotIds(ws.root).length, 3, 'run 3 was snapshotted');
      assert.equal(current(ws.root).snapshot, s1, 'the rollback stands');
      assertInventory(ws);
    } finally {
      await cleanup(ws, [d]);
    }
  });

  it('an adapter that does not fit the base model is not snapshotted: current stays, the dataset waits at the head of the queue, paused', T, async () => {
    const ws = makeWorkspace();
    const d = startDaemon(ws);
    try {
      drop(ws, 'a.jsonl', GOOD('a'));
      await waitFor('the first run', () => state(ws).history.length === 1 && !state(ws).current, 60_000, d.output);
      const s1 = snapOf(ws.root, 'a.jsonl');
      drop(ws, 'x__badadapter.jsonl', GOOD('x'));
      await waitFor('the bad adapter to pause the queue', () => state(ws).paused, 60_000, d.output);
      assert.deepEqual(snapshotIds(ws.root), [s1]);
      assert.equal(current(ws.root).snapshot, s1);
      assert.ok(!readdirSync(join(ws.root, 'snapshots')).some((n) => n.endsWith('.tmp')), 'no temporary folder left');
      const st = JSON.parse((await lq(ws, ['status', '--format', 'json'])).stdout) as { pauseReason: string };
      assert.match(st.pauseReason, /^the adapter failed the snapshot checks: .*shape-mismatch/);
      // done/ means "in the live adapter": the rejected run's dataset is not there (issue #14).
      assert.deepEqual(datasets(ws, 'done'), ['a.jsonl']);
      assert.deepEqual(datasets(ws, 'queue'), ['x__badadapter.jsonl']);
      const meta = readJson<{ attempts: number; resumeFrom: string | null; interrupted: boolean }>(join(ws.root, 'queue', 'x__badadapter.jsonl.meta.json'));
      assert.deepEqual([meta.attempts, meta.resumeFrom, meta.interrupted], [0, null, true], 'no attempt used; trained again from the start, first in line');
      assert.equal(state(ws).history.at(-1)!.kind, 'bad_adapter');
      // After resume it trains again (from the current snapshot), and is rejected again.
      assert.equal((await lq(ws, ['resume'])).code, 0);
      await waitFor('the second rejection', () => state(ws).history.length === 3 && state(ws).paused, 60_000, d.output);
      assert.deepEqual(datasets(ws, 'done'), ['a.jsonl']);
      assert.equal(current(ws.root).snapshot, s1);
      assertInventory(ws);
    } finally {
      await cleanup(ws, [d]);
    }
  });
});
