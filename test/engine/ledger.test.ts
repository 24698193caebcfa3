/** The usage ledger (durable appends, torn and corrupt lines, sums by day and model, `usage`) and engine log pruning. */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { appendLine, formatUsage, ledgerRecordFor, LedgerWriter, readLedger, summarizeUsage, type LedgerRecord } from '../../server/src/engine/ledger';
import { EngineLog } from '../../server/src/engine/log';
import type { RunRecord } from '../../server/src/engine/types';
import { lq, makeWorkspace, removeTempDirs, tempDir } from './helpers';

after(removeTempDirs);

const rec = (runId: string, over: Partial<LedgerRecord> = {}): LedgerRecord => ({
  v: 1, time: '2026-11-20T10:00:00.000Z', runId, dataset: `${runId}.jsonl`, model: '/models/a', outcome: 'success', to: 'done', attempt: 1,
  startedAt: '2026-11-20T09:00:00.000Z', wallSeconds: 3600, gpus: 1, gpuSeconds: 3600, examples: 10, tokens: 1000, finalLoss: 0.5, ...over,
});

describe('ledger', () => {
  it('appends one durable line per record and reads them back', () => {
    const f = join(tempDir('lq-ledger-'), 'ledger.jsonl');
    const w = new LedgerWriter(f);
    assert.deepEqual(w.append(rec('r1')), []);
    assert.deepEqual(w.append(rec('r2')), []);
    assert.deepEqual(w.append(rec('r1')), [], 'a run settled again after a crash');
    assert.equal(readFileSync(f, 'utf8').split('\n').length, 3, 'two lines, each ending with a newline; r1 not written twice');
    assert.deepEqual(readLedger(f).records.map((r) => r.runId), ['r1', 'r2']);
    assert.deepEqual(readLedger(join(tempDir('lq-ledger-'), 'none.jsonl')), { records: [], warnings: [] });
  });

  it('skips a torn last line and a garbage line with warnings; appending after a torn line yields valid records', () => {
    const f = join(tempDir('lq-ledger-'), 'ledger.jsonl');
    appendLine(f, JSON.stringify(rec('r1')));
    appendFileSync(f, 'garbage that is not json\n{"runId":"x"}\n');
    const full = JSON.stringify(rec('r2'));
    appendFileSync(f, full.slice(0, 40)); // a crash in the middle of a write
    let r = readLedger(f);
    assert.deepEqual(r.records.map((x) => x.runId), ['r1']);
    assert.equal(r.warnings.length, 3);
    assert.match(r.warnings[0]!, /line 2: not a usage record \(corrupt\): skipped/);
    assert.match(r.warnings[1]!, /line 3: not a usage record/);
    assert.match(r.warnings[2]!, /line 4: torn last line \(no newline\)/);
    const w = new LedgerWriter(f);
    assert.deepEqual(w.append(rec('r3')), []);
    r = readLedger(f);
    assert.deepEqual(r.records.map((x) => x.runId), ['r1', 'r3'], 'the new record starts on a new line');
    assert.equal(r.warnings.length, 3, 'the torn bytes stay one bad line');
    assert.ok(readFileSync(f, 'utf8').endsWith('\n'));
    assert.equal(w.append(rec('r4')).length, 0);
    assert.equal(readLedger(f).records.length, 3);
  });

  it('keeps a record it could not write and writes it with the next one', () => {
    const dir = tempDir('lq-ledger-');
    const f = join(dir, 'ledger.jsonl');
    mkdirSync(f); // a folder where the file should be: every append fails
    const w = new LedgerWriter(f);
    const problems = w.append(rec('r1'));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /cannot append run r1 .*EISDIR.*kept in memory/);
    assert.equal(w.backlog, 1);
    const w2 = new LedgerWriter(join(dir, 'ok.jsonl'));
    // (the same writer recovers once the path is writable; simulate with a fresh path)
    (w2 as unknown as { pending: LedgerRecord[] }).pending.push(rec('r1'));
    assert.deepEqual(w2.append(rec('r2')), []);
    assert.deepEqual(readLedger(join(dir, 'ok.jsonl')).records.map((r) => r.runId), ['r1', 'r2']);
  });

  it('builds a record from the run: GPU-seconds, examples and tokens from the events', () => {
    const dir = tempDir('lq-ledger-run-');
    const record: RunRecord = {
      runId: 'run1', dataset: 'd.jsonl', attempt: 2, jobPath: join(dir, 'job.json'), eventsPath: join(dir, 'events.jsonl'), logPath: join(dir, 'trainer.log'),
      startedAt: '2026-11-20T10:00:00.000Z', pid: 1, startTime: null, action: null, oomKillsAtStart: null,
    };
    writeFileSync(record.jobPath, JSON.stringify({ base_model: '/models/qwen' }));
    const ev = (e: object): string => JSON.stringify({ time: Date.parse('2026-11-20T10:00:05Z') / 1000, ...e }) + '\n';
    writeFileSync(record.eventsPath, ev({ type: 'start', world_size: 4, device: 'cuda:0', train_examples: 90 }) + 'torn{\n' + ev({ type: 'done', final_loss: 0.25, tokens: 12345 }));
    const now = new Date('2026-11-20T10:01:40.000Z');
    const r = ledgerRecordFor({ record, kind: 'success', to: 'done', now, exitObserved: true, finalLoss: 0.25, datasetExamples: 100, fallbackModel: 'm' });
    assert.equal(r.model, '/models/qwen');
    assert.equal(r.wallSeconds, 100);
    assert.equal(r.gpus, 4);
    assert.equal(r.gpuSeconds, 400);
    assert.equal(r.examples, 90);
    assert.equal(r.tokens, 12345);
    assert.equal(r.attempt, 2);
    // No start event, no tokens: one GPU assumed, tokens null, examples from the sidecar; unobserved
    // end: the last event's time.
    writeFileSync(record.eventsPath, ev({ type: 'step', step: 1, loss: 1 }));
    const r2 = ledgerRecordFor({ record, kind: 'crash', to: 'queue', now, exitObserved: false, finalLoss: null, datasetExamples: 100, fallbackModel: 'm' });
    assert.deepEqual([r2.gpus, r2.wallSeconds, r2.gpuSeconds, r2.tokens, r2.examples, r2.finalLoss], [1, 5, 5, null, 100, null]);
    writeFileSync(record.eventsPath, ev({ type: 'start', world_size: 1, device: 'cpu' }));
    assert.equal(ledgerRecordFor({ record, kind: 'success', to: 'done', now, exitObserved: true, finalLoss: null, datasetExamples: 1, fallbackModel: 'm' }).gpuSeconds, 0, 'a CPU run uses no GPU');
    // A Slurm job: its own run time (its wait in Slurm's queue not counted) × the GPUs of its
    // allocation where Slurm says them; else × the world size the trainer reported.
    writeFileSync(record.eventsPath, ev({ type: 'start', world_size: 2, device: 'cuda:0' }));
    const slurm = ledgerRecordFor({ record, kind: 'success', to: 'done', now, exitObserved: true, finalLoss: null, datasetExamples: 1, fallbackModel: 'm', allocation: { seconds: 60, gpus: 4 } });
    assert.deepEqual([slurm.wallSeconds, slurm.gpus, slurm.gpuSeconds], [60, 4, 240]);
    const noGres = ledgerRecordFor({ record, kind: 'success', to: 'done', now, exitObserved: true, finalLoss: null, datasetExamples: 1, fallbackModel: 'm', allocation: { seconds: 60, gpus: null } });
    assert.deepEqual([noGres.wallSeconds, noGres.gpus, noGres.gpuSeconds], [60, 2, 120]);
  });

  it('sums by day and model', () => {
    const f = join(tempDir('lq-ledger-'), 'ledger.jsonl');
    for (const r of [
      rec('a1'), rec('a2', { outcome: 'crash', tokens: null, gpuSeconds: 1800 }), rec('b1', { model: '/models/b', tokens: null }),
      rec('a3', { time: '2026-11-21T00:30:00.000Z', gpuSeconds: 7200, examples: 5 }),
    ]) appendLine(f, JSON.stringify(r));
    appendFileSync(f, '{"torn":');
    const s = summarizeUsage(f);
    assert.equal(s.skippedLines, 1);
    assert.deepEqual(s.rows.map((r) => [r.day, r.model, r.runs, r.gpuHours, r.examples, r.tokens, r.outcomes]), [
      ['2026-11-20', '/models/a', 2, 1.5, 20, 1000, { success: 1, crash: 1 }],
      ['2026-11-20', '/models/b', 1, 1, 10, null, { success: 1 }],
      ['2026-11-21', '/models/a', 1, 2, 5, 1000, { success: 1 }],
    ]);
    assert.deepEqual([s.total.runs, s.total.gpuHours, s.total.examples, s.total.tokens], [4, 4.5, 35, 2000]);
    const text = formatUsage(s);
    assert.match(text[0]!, /^day\s+model\s+runs\s+GPU-hours\s+examples\s+tokens\s+outcomes$/);
    assert.match(text[1]!, /^2026-11-20\s+\/models\/a\s+2\s+1\.500\s+20\s+1000\s+crash 1, success 1$/);
    assert.match(text[2]!, /^2026-11-20\s+\/models\/b\s+1\s+1\.000\s+10\s+-\s+success 1$/);
    assert.match(text[4]!, /^total\s+4\s+4\.500\s+35\s+2000\s+crash 1, success 3$/);
  });

  it('lora-queue usage: JSON and text, with no engine running, warning about bad lines', async () => {
    const ws = makeWorkspace();
    mkdirSync(ws.root, { recursive: true });
    const f = join(ws.root, 'ledger.jsonl');
    appendLine(f, JSON.stringify(rec('a1')));
    appendFileSync(f, 'not json\n');
    appendLine(f, JSON.stringify(rec('a2', { model: '/models/b' })));
    const j = await lq(ws, ['usage', '--format', 'json']);
    assert.equal(j.code, 0, j.stderr);
    const u = JSON.parse(j.stdout) as { rows: { day: string; model: string; runs: number; gpuHours: number }[]; total: { runs: number }; warnings: string[] };
    assert.deepEqual(u.rows.map((r) => [r.day, r.model, r.runs, r.gpuHours]), [['2026-11-20', '/models/a', 1, 1], ['2026-11-20', '/models/b', 1, 1]]);
    assert.equal(u.total.runs, 2);
    assert.equal(u.warnings.length, 1);
    assert.match(j.stderr, /warning: ledger\.jsonl line 2: not a usage record/);
    const t = await lq(ws, ['usage']);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /2026-11-20\s+\/models\/b\s+1\s+1\.000/);
    assert.match(t.stdout, /^total\s+2/m);
    const empty = makeWorkspace();
    const e = await lq(empty, ['usage']);
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, /no runs in .*ledger\.jsonl yet/);
  });
});

describe('engine log retention', () => {
  it('deletes engine-YYYYMMDD.log older than keepDays, by the day in the name, and nothing else', () => {
    const dir = tempDir('lq-logs-');
    const now = Date.parse('2026-11-23T06:00:00Z');
    const keep = ['engine-20261123.log', 'engine-20261116.log', 'engine-20261109.log', 'notes.txt', 'engine-20200101.log.gz', 'other-20200101.log', 'engine-current.log'];
    const old = ['engine-20261108.log', 'engine-20200101.log'];
    for (const n of [...keep, ...old]) writeFileSync(join(dir, n), 'x\n');
    mkdirSync(join(dir, 'engine-20000101.log')); // not a file: left alone
    // A recent mtime does not save an old day's log.
    utimesSync(join(dir, 'engine-20261108.log'), new Date(now), new Date(now));
    const log = new EngineLog(dir);
    const deleted = log.prune(14, now);
    assert.deepEqual(deleted.sort(), old.sort());
    const left = readdirSync(dir);
    for (const n of keep) assert.ok(left.includes(n), `${n} kept`);
    assert.ok(left.includes('engine-20000101.log'));
    for (const n of old) assert.ok(!left.includes(n), `${n} deleted`);
    assert.deepEqual(log.prune(14, now), [], 'nothing more the second time');
  });
});
