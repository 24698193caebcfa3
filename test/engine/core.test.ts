/** The engine's pure core and its small file-level pieces: order, decisions, classification, lock, state, control, names. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { END_KIND_NAMES, RETRYABLE_END_KINDS, TRAINER_ERROR_KINDS, type EndKind } from '../../common/endKinds';
import { classifyEnd, type EndFacts } from '../../server/src/engine/classify';
import { checkCommand, pendingCommands, sendCommand } from '../../server/src/engine/control';
import { safeName } from '../../server/src/engine/datasets';
import { Engine } from '../../server/src/engine/engine';
import { applyEvents, emptyProgress, etaSeconds, EventTail, type Progress } from '../../server/src/engine/events';
import { ignoredName } from '../../server/src/engine/intake';
import { myLockRecord, readLock, release, stillOwner, tryAcquire, type LockRecord } from '../../server/src/engine/lock';
import { ensureLayout, rootPaths } from '../../server/src/engine/paths';
import { processStartTime } from '../../server/src/engine/proc';
import { loadState, saveState } from '../../server/src/engine/state';
import { decideAfterEnd, emptyState, orderQueue, pickNext, withApplied, withStop } from '../../server/src/engine/transitions';
import type { DatasetMeta, QueueEntry } from '../../server/src/engine/types';
import { makeWorkspace, readJson, removeTempDirs, tempDir } from './helpers';

const meta = (m: Partial<DatasetMeta> = {}): DatasetMeta => ({ priority: 0, attempts: 0, added: '2026-01-01T00:00:00.000Z', sha256: 'x', size: 1, examples: 1, ...m });
const entry = (name: string, m: Partial<DatasetMeta> = {}): QueueEntry => ({ name, meta: meta(m) });
const tmp = (): string => tempDir('lq-core-');
after(removeTempDirs);

describe('queue order and scheduling', () => {
  it('puts an interrupted dataset first, then priority, then age, then name', () => {
    const order = orderQueue([
      entry('old-low.jsonl', { added: '2026-01-01T00:00:00.000Z' }),
      entry('new-high.jsonl', { priority: 5, added: '2026-01-03T00:00:00.000Z' }),
      entry('b.jsonl', { added: '2026-01-02T00:00:00.000Z' }),
      entry('a.jsonl', { added: '2026-01-02T00:00:00.000Z' }),
      entry('resumed.jsonl', { interrupted: true, priority: -3, added: '2026-01-09T00:00:00.000Z' }),
    ]).map((e) => e.name);
    assert.deepEqual(order, ['resumed.jsonl', 'new-high.jsonl', 'old-low.jsonl', 'a.jsonl', 'b.jsonl']);
  });

  it('skips a dataset waiting out its back-off, but not one whose wait is absurdly long (clock jumped back)', () => {
    const now = Date.parse('2026-01-10T00:00:00.000Z');
    const waiting = entry('waiting.jsonl', { interrupted: true, notBefore: new Date(now + 30_000).toISOString() });
    assert.equal(pickNext([waiting, entry('other.jsonl')], now, 60_000)?.name, 'other.jsonl');
    assert.equal(pickNext([waiting], now, 60_000), undefined);
    assert.equal(pickNext([waiting], now + 31_000, 60_000)?.name, 'waiting.jsonl');
    assert.equal(pickNext([waiting], now, 10_000)?.name, 'waiting.jsonl');
  });
});

describe('where a dataset goes after its run', () => {
  const opts = { maxAttempts: 3, retryBackoffSeconds: 10, lastCheckpoint: '/r/ck/step-5', now: 1_000_000, runId: 'r1', message: 'm' };

  it('success → done, without resume point', () => {
    const d = decideAfterEnd('success', meta({ resumeFrom: '/x', interrupted: true }), opts);
    assert.equal(d.outcome, 'done');
    assert.equal(d.meta.resumeFrom, null);
    assert.deepEqual(d.meta.runs, ['r1']);
  });

  it('stopped → head of the queue, resuming from the checkpoint, attempts kept', () => {
    const d = decideAfterEnd('stopped', meta({ attempts: 1 }), opts);
    assert.equal(d.outcome, 'queue');
    assert.equal(d.meta.interrupted, true);
    assert.equal(d.meta.resumeFrom, '/r/ck/step-5');
    assert.equal(d.meta.attempts, 1);
    assert.equal(d.pause, undefined);
  });

  it('retryable ends back off exponentially, then fail', () => {
    const a = decideAfterEnd('crash', meta(), opts);
    assert.equal(a.outcome, 'queue');
    assert.equal(a.meta.attempts, 1);
    assert.equal(a.meta.notBefore, new Date(1_000_000 + 10_000).toISOString());
    assert.equal(a.meta.resumeFrom, '/r/ck/step-5');
    const b = decideAfterEnd('hang', a.meta, { ...opts, runId: 'r2' });
    assert.equal(b.meta.notBefore, new Date(1_000_000 + 20_000).toISOString());
    assert.deepEqual(b.meta.runs, ['r1', 'r2']);
    const c = decideAfterEnd('nan_loss', b.meta, { ...opts, runId: 'r3' });
    assert.equal(c.outcome, 'failed');
    assert.equal(c.meta.attempts, 3);
    for (const k of ['cuda_oom', 'killed'] as const) assert.equal(decideAfterEnd(k, meta(), opts).outcome, 'queue');
  });

  it('a data error fails at once; config and GPU errors pause the queue and keep the dataset', () => {
    assert.equal(decideAfterEnd('data', meta(), opts).outcome, 'failed');
    for (const k of ['config', 'gpu_unavailable'] as const) {
      const d = decideAfterEnd(k, meta({ attempts: 1 }), opts);
      assert.equal(d.outcome, 'queue');
      assert.equal(d.meta.attempts, 1);
      assert.ok(d.pause);
    }
  });

  it('every stop mode pauses; after-job waits for the run', () => {
    const s = emptyState();
    assert.equal(withStop(s, 'now').pause?.kind, 'stop');
    assert.equal(withStop(s, 'afterStep').pause?.kind, 'stop');
    assert.equal(withStop(s, 'afterJob').pause?.kind, 'stop');
    const running = { ...s, current: {} as never };
    const aj = withStop(running, 'afterJob');
    assert.equal(aj.pause, null);
    assert.equal(aj.stopAfterJob, true);
  });

  it('records an applied command once', () => {
    let s = withApplied(emptyState(), 'a', true, 'ok', new Date());
    s = withApplied(s, 'a', true, 'ok', new Date());
    assert.deepEqual(s.applied, ['a']);
  });
});

describe('classifying the end of a run', () => {
  const p = (events: object[]): Progress => applyEvents(emptyProgress(), events as never);
  const facts = (f: Partial<EndFacts>): EndFacts => ({ progress: emptyProgress(), exit: { code: 0, signal: null }, action: null, oomKills: 0, hangTimeoutSeconds: 60, logTail: '', ...f });
  const cases: [string, Partial<EndFacts>, string][] = [
    ['done', { progress: p([{ type: 'done', stopped: false, final_loss: 1 }]) }, 'success'],
    ['done stopped', { progress: p([{ type: 'done', stopped: true }]) }, 'stopped'],
    ['error nan_loss', { progress: p([{ type: 'error', kind: 'nan_loss', message: 'x' }]), exit: { code: 4, signal: null } }, 'nan_loss'],
    ['error cuda_oom', { progress: p([{ type: 'error', kind: 'cuda_oom', message: 'x' }]) }, 'cuda_oom'],
    ['error gpu_unavailable', { progress: p([{ type: 'error', kind: 'gpu_unavailable', message: 'x' }]) }, 'gpu_unavailable'],
    ['error data', { progress: p([{ type: 'error', kind: 'data', message: 'x' }]) }, 'data'],
    ['error config', { progress: p([{ type: 'error', kind: 'config', message: 'x' }]) }, 'config'],
    ['error other', { progress: p([{ type: 'error', kind: 'other', message: 'x' }]) }, 'crash'],
    ['hang kill', { action: 'hang-kill', exit: { code: null, signal: 'SIGKILL' } }, 'hang'],
    ['stop now, killed after grace', { action: 'stop-now', exit: { code: null, signal: 'SIGKILL' } }, 'stopped'],
    ['SIGKILL not sent by the engine', { exit: { code: null, signal: 'SIGKILL' } }, 'killed'],
    ['OOM counter rose', { exit: { code: 137, signal: null }, oomKills: 1 }, 'killed'],
    ['exit 3', { exit: { code: 3, signal: null } }, 'crash'],
    ['exit 0 without done', { exit: { code: 0, signal: null } }, 'crash'],
    ['SIGSEGV', { exit: { code: null, signal: 'SIGSEGV' } }, 'crash'],
    ['gone unobserved', { exit: null, oomKills: null }, 'crash'],
    ['spawn failure', { spawnError: 'python3 was not found', exit: { code: null, signal: null } }, 'config'],
  ];
  for (const [name, f, kind] of cases) {
    it(`${name} → ${kind}`, () => {
      const c = classifyEnd(facts(f));
      assert.equal(c.kind, kind, c.message);
      assert.ok(c.message.length > 0);
    });
  }

  it('an error kind protocol v1 does not have is the trainer\'s catch-all (other → crash), its text kept', () => {
    const c = classifyEnd(facts({ progress: p([{ type: 'error', kind: 'gpu_xid_error', message: 'Xid 79: GPU has fallen off the bus' }]), exit: { code: 1, signal: null } }));
    assert.equal(c.kind, 'crash');
    assert.match(c.message, /unknown kind "gpu_xid_error".*Xid 79: GPU has fallen off the bus/);
  });
});

describe('the end-kind table', () => {
  const opts = { maxAttempts: 3, retryBackoffSeconds: 10, lastCheckpoint: '/r/ck/step-5', now: 1_000_000, runId: 'r1', message: 'boom' };

  it('every end kind settles without throwing, as its table entry says', () => {
    const outcomes = Object.fromEntries(END_KIND_NAMES.map((k) => [k, decideAfterEnd(k, meta(), opts).outcome]));
    assert.deepEqual(outcomes, {
      success: 'done', stopped: 'queue', nan_loss: 'queue', cuda_oom: 'queue', gpu_unavailable: 'queue', data: 'failed',
      config: 'queue', killed: 'queue', crash: 'queue', hang: 'queue', disk_full: 'queue', disk_unwritable: 'queue', bad_adapter: 'queue',
      timeout: 'queue', timeout_no_checkpoint: 'queue', requeued: 'queue',
    });
    assert.deepEqual([...RETRYABLE_END_KINDS].sort(), ['crash', 'cuda_oom', 'hang', 'killed', 'nan_loss', 'timeout_no_checkpoint']);
    // Slurm's ends (docs/slurm.md): a timeout after a checkpoint and a requeue by the cluster use no attempt.
    for (const k of ['timeout', 'requeued'] as const) {
      const d = decideAfterEnd(k, meta(), opts);
      assert.deepEqual([d.meta.attempts, d.meta.resumeFrom, d.meta.notBefore, d.pause], [0, '/r/ck/step-5', null, undefined], k);
    }
    assert.equal(decideAfterEnd('timeout_no_checkpoint', meta(), opts).meta.attempts, 1);
    assert.deepEqual(TRAINER_ERROR_KINDS, ['nan_loss', 'cuda_oom', 'gpu_unavailable', 'data', 'config', 'other']);
  });

  it('a kind the table does not know (state from a newer engine) is settled as a crash would be, never thrown on', () => {
    const d = decideAfterEnd('gpu_xid_error' as EndKind, meta(), opts);
    assert.deepEqual(d, decideAfterEnd('crash', meta(), opts));
    assert.equal(d.meta.attempts, 1);
  });

  it('pause reasons use the table\'s words', () => {
    assert.deepEqual(decideAfterEnd('gpu_unavailable', meta(), opts).pause, { kind: 'run', reason: 'the GPU is unavailable: boom (fix it, then resume)' });
    assert.equal(decideAfterEnd('disk_full', meta(), opts).pause?.kind, 'disk');
    assert.match(decideAfterEnd('disk_full', meta(), opts).pause?.reason ?? '', /^waiting for resources: the disk filled up during run r1: boom/);
  });
});

describe('events.jsonl', () => {
  it('holds back a torn last line, skips garbage, and computes an ETA', () => {
    const dir = tmp();
    const file = join(dir, 'events.jsonl');
    const tail = new EventTail(file);
    assert.deepEqual(tail.read(), []);
    writeFileSync(file, '{"type":"start","time":100,"total_steps":10}\n{"type":"step","time":100,"step":1,"loss":2}\n{"type":"st');
    const p = applyEvents(emptyProgress(), tail.read());
    assert.equal(p.events, 2);
    appendFileSync(file, 'ep","time":110,"step":3,"loss":1.5}\nnot json\n{"type":"checkpoint","time":110,"step":3,"path":"/c/3"}\n');
    applyEvents(p, tail.read());
    assert.equal(p.step, 3);
    assert.equal(p.loss, 1.5);
    assert.equal(p.lastCheckpoint, '/c/3');
    assert.equal(tail.skipped, 1);
    assert.equal(etaSeconds(p), 35);
  });
});

describe('names', () => {
  it('makes names safe', () => {
    assert.equal(safeName('a\nb\u0000c.jsonl'), 'a_b_c.jsonl');
    assert.equal(safeName('../../etc/passwd'), 'passwd.jsonl');
    assert.equal(safeName('..\\..\\x.jsonl'), 'x.jsonl');
    assert.equal(safeName('...hidden.jsonl'), 'hidden.jsonl');
    assert.equal(safeName('.jsonl'), 'jsonl.jsonl');
    assert.equal(safeName(''), 'dataset.jsonl');
    assert.equal(safeName('Cafe\u0301.jsonl'), 'Caf\u00e9.jsonl');
    assert.ok(Buffer.byteLength(safeName('é'.repeat(300) + '.jsonl')) <= 180);
    assert.ok(safeName('é'.repeat(300) + '.jsonl').endsWith('.jsonl'));
  });

  it('ignores partial, hidden and non-jsonl names in the inbox', () => {
    for (const n of ['.x.jsonl', 'x.jsonl.part', 'x.tmp', 'x.jsonl~', 'x.crdownload', 'notes.txt']) assert.ok(ignoredName(n), n);
    assert.equal(ignoredName('x.jsonl'), undefined);
    assert.equal(ignoredName('X.JSONL'), undefined);
  });
});

describe('engine.lock', () => {
  const deadPid = (): number => {
    const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    return Number(r.stdout);
  };

  it('is taken once; a live holder makes the next one a follower', () => {
    const file = join(tmp(), 'engine.lock');
    const a = tryAcquire(file);
    assert.equal(a.owner, true);
    const other: LockRecord = { ...myLockRecord(), since: 'later' };
    const b = tryAcquire(file, other);
    assert.equal(b.owner, false);
    assert.equal(!b.owner && b.holder?.pid, process.pid);
    assert.ok(a.owner && stillOwner(file, a.record));
    if (a.owner) release(file, a.record);
    assert.equal(existsSync(file), false);
  });

  it('breaks a lock whose process is gone, or whose pid now belongs to another process', () => {
    const dir = tmp();
    const file = join(dir, 'engine.lock');
    writeFileSync(file, JSON.stringify({ pid: deadPid(), startTime: '1', host: hostname(), since: 'x' }));
    assert.equal(tryAcquire(file).owner, true);
    writeFileSync(file, JSON.stringify({ pid: process.pid, startTime: 'not-' + processStartTime(process.pid), host: hostname(), since: 'x' }));
    const r = tryAcquire(file);
    assert.equal(r.owner, true);
    assert.equal(readLock(file)?.since, r.owner ? r.record.since : '');
    assert.deepEqual(readdirSync(dir).filter((n) => n !== 'engine.lock'), [], 'no temporary files left');
  });

  it('never breaks a lock from another host', () => {
    const file = join(tmp(), 'engine.lock');
    writeFileSync(file, JSON.stringify({ pid: deadPid(), startTime: '1', host: 'elsewhere.invalid', since: 'x' }));
    assert.equal(tryAcquire(file).owner, false);
  });
});

describe('state.json and control/', () => {
  it('rebuilds from a corrupt state.json and keeps the bad file aside', () => {
    const p = rootPaths(tmp());
    ensureLayout(p);
    assert.equal(loadState(p).rebuilt, 'missing');
    writeFileSync(p.state, '{"version":1,"paus');
    const l = loadState(p);
    assert.ok(l.rebuilt && l.rebuilt !== 'missing');
    assert.ok(readdirSync(p.root).some((n) => n.startsWith('state.json.corrupt-')));
    saveState(p, { ...l.state, pause: { kind: 'request', reason: 'paused (resume to continue)', since: '2026-01-01T00:00:00.000Z' } });
    assert.equal(loadState(p).state.pause?.kind, 'request');
  });

  it('lists commands oldest first and checks them', () => {
    const dir = tmp();
    const a = sendCommand(dir, { type: 'pause' }, new Date('2026-01-01T00:00:00Z'));
    const b = sendCommand(dir, { type: 'resume' }, new Date('2026-01-01T00:00:01Z'));
    assert.deepEqual(pendingCommands(dir).map((c) => c.parsed?.id), [a.id, b.id]);
    assert.equal(checkCommand({ type: 'stop', mode: 'later' }), 'stop mode must be now, afterStep or afterJob');
    assert.equal(checkCommand({ type: 'retry' }), 'retry needs a name');
    assert.equal(checkCommand({ type: 'enqueue', path: '/x', priority: 1.5 }), 'priority must be an integer');
    assert.equal(checkCommand({ type: 'priority', name: 'x', priority: 2 }), undefined);
  });
});

describe('recovery when an owner starts', () => {
  it('puts a dataset left in processing/ back at the head of the queue with its attempts, and applies a waiting command once', async () => {
    const ws = makeWorkspace();
    const p = rootPaths(ws.root);
    ensureLayout(p);
    writeFileSync(join(p.processing, 'left.jsonl'), '{}\n');
    writeFileSync(join(p.processing, 'left.jsonl.meta.json'), JSON.stringify(meta({ attempts: 1 })));
    writeFileSync(p.state, 'garbage');
    const cmd = sendCommand(p.control, { type: 'pause' });
    const e = new Engine({ configFile: ws.config });
    assert.equal(e.ownOnce(), true);
    await e.drainControl();
    await e.close();
    const m = readJson<DatasetMeta>(join(p.queue, 'left.jsonl.meta.json'));
    assert.equal(m.attempts, 1);
    assert.equal(m.interrupted, true);
    assert.deepEqual(readdirSync(p.processing), []);
    assert.ok(readdirSync(p.root).some((n) => n.startsWith('state.json.corrupt-')));
    const s = readJson<{ paused: boolean; applied: string[] }>(p.state);
    assert.equal(s.paused, true);
    assert.deepEqual(s.applied, [cmd.id]);
    assert.deepEqual(readdirSync(p.control), []);

    // The same command file again (as if the owner died before deleting it): not applied twice.
    writeFileSync(p.state, JSON.stringify({ ...readJson(p.state), paused: false }));
    mkdirSync(p.control, { recursive: true });
    writeFileSync(join(p.control, `20260101-000000000Z-${cmd.id}.json`), JSON.stringify(cmd));
    const e2 = new Engine({ configFile: ws.config });
    assert.equal(e2.ownOnce(), true);
    await e2.drainControl();
    await e2.close();
    assert.equal(readJson<{ paused: boolean }>(p.state).paused, false);
    assert.deepEqual(readdirSync(p.control), []);
    assert.equal(existsSync(p.lock), false);
  });
  it('puts back a run that was prepared but never spawned, without counting an attempt', async () => {
    const ws = makeWorkspace();
    const p = rootPaths(ws.root);
    ensureLayout(p);
    writeFileSync(join(p.processing, 'p.jsonl'), '{}\n');
    writeFileSync(join(p.processing, 'p.jsonl.meta.json'), JSON.stringify(meta({ attempts: 1 })));
    mkdirSync(join(p.runs, 'r0'));
    writeFileSync(join(p.runs, 'r0', 'events.jsonl'), '');
    const current = { runId: 'r0', dataset: 'p.jsonl', attempt: 2, jobPath: join(p.runs, 'r0', 'job.json'), eventsPath: join(p.runs, 'r0', 'events.jsonl'), logPath: join(p.runs, 'r0', 'trainer.log'), startedAt: new Date().toISOString(), pid: null, startTime: null, action: null, oomKillsAtStart: null };
    saveState(p, { ...emptyState(), current });
    const e = new Engine({ configFile: ws.config });
    assert.equal(e.ownOnce(), true);
    await e.close();
    assert.equal(readJson<{ current: unknown }>(p.state).current, null);
    assert.equal(readJson<DatasetMeta>(join(p.queue, 'p.jsonl.meta.json')).attempts, 1);
  });

  it('says why nothing trains when the config cannot train', async () => {
    const ws = makeWorkspace();
    const cfg = readJson<Record<string, unknown>>(ws.config);
    delete cfg['baseModel'];
    writeFileSync(ws.config, JSON.stringify(cfg));
    const p = rootPaths(ws.root);
    ensureLayout(p);
    writeFileSync(join(p.queue, 'q.jsonl'), '{}\n');
    writeFileSync(join(p.queue, 'q.jsonl.meta.json'), JSON.stringify(meta()));
    const e = new Engine({ configFile: ws.config, pollMs: 50 });
    e.start();
    try {
      const deadline = Date.now() + 30_000;
      while (!readJson<{ blocked?: string }>(p.state).blocked && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    } finally {
      await e.close();
    }
    assert.match(readJson<{ blocked: string }>(p.state).blocked, /baseModel is not set/);
    assert.deepEqual(readdirSync(p.runs), []);
  });
});
