/**
 * The cgroup OOM killer, for real (issue #14): a trainer that puts itself into a memory-limited
 * cgroup of its own (as `systemd-run --scope -p MemoryMax=…` or a container would) and allocates
 * until the kernel kills it. The engine must say it was the OOM killer (the cgroup's oom_kill
 * counter rose), not an unexplained SIGKILL. Needs a writable cgroup v1 memory hierarchy
 * (/sys/fs/cgroup/memory, as root) with an oom_kill counter; skipped with the reason elsewhere.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { assertInventory, cleanup, datasets, drop, GOOD, makeWorkspace, readJson, removeTempDirs, startDaemon, state, waitFor, type Daemon } from './helpers';

after(removeTempDirs);
const MEM = '/sys/fs/cgroup/memory';
const MIB = 1024 * 1024;

/** A memory cgroup limited to `limit` bytes, or why there cannot be one here. */
function memoryCgroup(limit: number): { dir: string } | { why: string } {
  let oc: string;
  try {
    oc = readFileSync(join(MEM, 'memory.oom_control'), 'utf8');
  } catch (e) {
    return { why: `no cgroup v1 memory hierarchy at ${MEM} (${(e as NodeJS.ErrnoException).code})` };
  }
  if (!/^oom_kill \d+$/m.test(oc)) return { why: 'the kernel does not count oom_kill in memory.oom_control' };
  const dir = join(MEM, `lq-oom-test-${process.pid}`);
  try {
    mkdirSync(dir);
    writeFileSync(join(dir, 'memory.limit_in_bytes'), String(limit));
    // Without swap accounting the limit alone holds; with it, swap must not dodge the limit.
    if (existsSync(join(dir, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(dir, 'memory.memsw.limit_in_bytes'), String(limit));
  } catch (e) {
    return { why: `cannot create a memory cgroup (needs root): ${(e as Error).message}` };
  }
  return { dir };
}

describe('the cgroup OOM killer', () => {
  it('a trainer killed by the OOM killer of its own memory cgroup is "killed" by the OOM killer, with the count', { timeout: 120_000 }, async (t) => {
    const cg = memoryCgroup(160 * MIB);
    if ('why' in cg) {
      t.skip(cg.why);
      return;
    }
    const ws = makeWorkspace({ queue: { maxAttempts: 1 } });
    const daemons: Daemon[] = [];
    try {
      // TEST DOUBLE of a trainer: joins the limited cgroup, starts, then (after the engine has seen
      // it there) allocates and touches memory until the kernel kills it.
      const trainer = join(ws.dir, 'hog-trainer.cjs');
      writeFileSync(trainer, `
const fs = require('node:fs');
const job = JSON.parse(fs.readFileSync(process.argv[process.argv.indexOf('--job') + 1], 'utf8'));
fs.writeFileSync(${JSON.stringify(join(cg.dir, 'cgroup.procs'))}, String(process.pid));
const emit = (e) => fs.appendFileSync(job.events, JSON.stringify({ time: Date.now() / 1000, ...e }) + '\\n');
emit({ type: 'start', total_steps: 1000, world_size: 1, device: 'cpu' });
const keep = [];
let step = 0;
setTimeout(() => setInterval(() => { const b = Buffer.alloc(16 * 1024 * 1024); b.fill(step & 255); keep.push(b); emit({ type: 'step', step: ++step, loss: 1 }); }, 20), 2500);
`);
      const cfg = readJson<Record<string, Record<string, unknown>>>(ws.config);
      cfg['trainer']!['command'] = [process.execPath, trainer];
      writeFileSync(ws.config, JSON.stringify(cfg, null, 2) + '\n');
      const d = startDaemon(ws);
      daemons.push(d);
      drop(ws, 'hog.jsonl', GOOD('hog'));
      await waitFor('the run to be settled', () => state(ws).history.length === 1 && !state(ws).current, 60_000, d.output);
      assert.equal(state(ws).history[0]!.kind, 'killed');
      assert.deepEqual(datasets(ws, 'failed'), ['hog.jsonl']);
      const reason = readJson<{ kind: string; message: string; exit: unknown }>(join(ws.root, 'failed', 'hog.jsonl.reason.json'));
      assert.match(reason.message, /OOM killer \(the memory cgroup's oom_kill count rose by [1-9]/, 'named the OOM killer, from the counter');
      assert.deepEqual(reason.exit, { code: null, signal: 'SIGKILL' });
      assertInventory(ws);
    } finally {
      await cleanup(ws, daemons);
      // The cgroup goes once its processes are gone.
      for (let i = 0; i < 50; i++) {
        try { rmdirSync(cg.dir); break; } catch { await new Promise((r) => setTimeout(r, 100)); }
      }
    }
  });
});
