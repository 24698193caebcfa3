/** The engine inside the language server: owner, follower, untrusted; state pushed, commands applied. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { QueueCommandRequest, type QueueStateNotification } from '../../common/protocol';
import { makeWorkspace, removeTempDirs } from '../engine/helpers';
import { LspClient } from './client';

const DOUBLE = resolve(__dirname, '..', '..', '..', 'test', 'engine', 'fixtures', 'trainer-double.mjs');
const MERGE = resolve(__dirname, '..', '..', '..', 'test', 'engine', 'fixtures', 'merge-double.mjs');
const ex = (n: number): string => `{"messages":[{"role":"user","content":"Q${n}"},{"role":"assistant","content":"A${n}"}]}`;
type State = QueueStateNotification.Params;

function workspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lq-lspeng-'));
  // The trainer double reads no weights; the engine only checks that the model folder looks like one.
  mkdirSync(join(dir, 'model'));
  writeFileSync(join(dir, 'model', 'config.json'), '{}');
  writeFileSync(join(dir, 'model', 'tokenizer.json'), '{}');
  writeFileSync(join(dir, 'lora-queue.json'), JSON.stringify({ baseModel: 'model', trainer: { command: [process.execPath, DOUBLE], hangTimeoutSeconds: 60, stopGraceSeconds: 5 }, queue: { intakeStableSeconds: 0 } }));
  writeFileSync(join(dir, 'first.jsonl'), [ex(1), ex(2), ex(3)].join('\n') + '\n');
  return dir;
}

describe('the engine in the language server', () => {
  const clients: LspClient[] = [];
  after(async () => {
    for (const c of clients) await c.shutdown();
    removeTempDirs();
  });

  it('owns the queue in a trusted workspace, trains an enqueued dataset, and pushes the state', async () => {
    const dir = workspace();
    const owner = new LspClient(dir);
    clients.push(owner);
    await owner.initialize(pathToFileURL(dir).href, { trusted: true });
    const first = await owner.state<State>((s) => s.engine === 'owner');
    assert.equal(first.status!.root, join(dir, '.lora-queue'));

    const r = await owner.conn.sendRequest(QueueCommandRequest.type, { type: 'enqueue', path: join(dir, 'first.jsonl') });
    assert.ok(r.ok, r.message);
    const done = await owner.state<State>((s) => s.status?.done === 1 && s.status.current === null, 60_000);
    assert.equal(done.status!.queue.length, 0);
    assert.deepEqual(readdirSync(join(dir, '.lora-queue', 'done')).filter((f) => f.endsWith('.jsonl')), ['first.jsonl']);
    assert.ok(owner.states.some((s) => (s as State).status?.current?.dataset === 'first.jsonl'), 'the run was pushed while it trained');

    // A second window on the same folder follows, and its commands reach the owner.
    const follower = new LspClient(dir);
    clients.push(follower);
    await follower.initialize(pathToFileURL(dir).href, { trusted: true });
    await follower.state<State>((s) => s.engine === 'follower' && s.status?.done === 1);
    const paused = await follower.conn.sendRequest(QueueCommandRequest.type, { type: 'pause' });
    assert.ok(paused.ok, paused.message);
    await owner.state<State>((s) => s.status?.paused === true);

    // A file dropped into the inbox changes no state.json, only queue/: both windows show it queued.
    const staged = join(dir, 'second.jsonl.part');
    writeFileSync(staged, [ex(4), ex(5)].join('\n') + '\n');
    renameSync(staged, join(dir, '.lora-queue', 'inbox', 'second.jsonl'));
    for (const w of [owner, follower]) await w.state<State>((s) => s.status?.queue.some((q) => q.name === 'second.jsonl') === true, 10_000);
  });

  it('starts no engine in an untrusted workspace, and says why', async () => {
    const dir = workspace();
    const c = new LspClient(dir);
    clients.push(c);
    await c.initialize(pathToFileURL(dir).href, { trusted: false });
    const s = await c.state<State>((x) => x.engine === 'off');
    assert.match(s.why!, /not trusted/);
    const r = await c.conn.sendRequest(QueueCommandRequest.type, { type: 'enqueue', path: join(dir, 'first.jsonl') });
    assert.equal(r.ok, false);
    assert.deepEqual(readdirSync(dir).sort(), ['first.jsonl', 'lora-queue.json', 'model'], 'no queue root was created');
  });

  it('consolidates the current snapshot on request from the editor: a new base model in models/', async () => {
    // The engine tests' workspace (a fake base model whose shapes the double's adapters fit), with
    // the merge TEST DOUBLE as the merge command.
    const ws = makeWorkspace();
    const cfg = JSON.parse(readFileSync(ws.config, 'utf8')) as Record<string, unknown>;
    cfg['consolidate'] = { command: [process.execPath, MERGE] };
    writeFileSync(ws.config, JSON.stringify(cfg, null, 2));
    writeFileSync(join(ws.dir, 'first.jsonl'), [ex(1), ex(2)].join('\n') + '\n');
    const c = new LspClient(ws.dir);
    clients.push(c);
    await c.initialize(pathToFileURL(ws.dir).href, { trusted: true });
    await c.state<State>((s) => s.engine === 'owner');
    const r = await c.conn.sendRequest(QueueCommandRequest.type, { type: 'enqueue', path: join(ws.dir, 'first.jsonl') });
    assert.ok(r.ok, r.message);
    await c.state<State>((s) => s.status?.done === 1 && s.status.current === null, 60_000);
    const snapshot = (JSON.parse(readFileSync(join(ws.root, 'current.json'), 'utf8')) as { snapshot: string }).snapshot;
    assert.ok(snapshot);
    const m = await c.conn.sendRequest(QueueCommandRequest.type, { type: 'consolidate' });
    assert.ok(m.ok, m.message);
    const models = (): string[] => {
      try {
        // A published model, not models/<id>.tmp while the merge writes it (it gets its manifest before the rename).
        return readdirSync(join(ws.root, 'models')).filter((n) => !n.endsWith('.tmp') && existsSync(join(ws.root, 'models', n, 'manifest.json')));
      } catch {
        return [];
      }
    };
    const deadline = Date.now() + 60_000;
    while (!models().length && Date.now() < deadline) await new Promise((res) => setTimeout(res, 200));
    const [id] = models();
    assert.ok(id, 'a merged model in models/');
    const manifest = JSON.parse(readFileSync(join(ws.root, 'models', id, 'manifest.json'), 'utf8')) as { adapter: { snapshot: string } };
    assert.equal(manifest.adapter.snapshot, snapshot);
    const deadline2 = Date.now() + 30_000;
    const base = (): string | null => (JSON.parse(readFileSync(join(ws.root, 'current.json'), 'utf8')) as { base: string | null }).base;
    while (base() !== id && Date.now() < deadline2) await new Promise((res) => setTimeout(res, 200));
    assert.equal(base(), id, 'the merged model is the live base');
  });
});
