/**
 * When the intake takes a file: a file renamed into the inbox at once (the stability window is
 * set to 60 s, so only "renamed in and nobody writes it" can explain a file taken sooner); a file
 * that a process still holds open for writing, or that is written in place, not. Real files, real
 * writer processes, the real fs.watch; then the same through the daemon.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, renameSync, rmSync, symlinkSync, utimesSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { metaPath, SidecarCache, writeMeta } from '../../server/src/engine/datasets';
import { InboxWatcher } from '../../server/src/engine/intake';
import { openWriters, writerKey } from '../../server/src/engine/openWriters';
import { assertInventory, cleanup, datasets, drop, GOOD, lq, makeWorkspace, removeTempDirs, sha, startDaemon, tempDir, waitFor } from './helpers';

after(removeTempDirs);
const T = { timeout: 120_000 };

/**
 * A process that writes `content` to `path` (through `<path>.tmp`, renamed to `path` while the file
 * is still open when `renameWhileOpen`) and keeps it open for writing until told to close it.
 */
function holder(path: string, content: string, renameWhileOpen: boolean): { child: ChildProcess; ready: Promise<void>; close(): Promise<void> } {
  const code = `
    const fs = require('node:fs');
    const [path, content, rename] = process.argv.slice(1);
    const target = rename === '1' ? path + '.tmp' : path;
    const fd = fs.openSync(target, 'w');
    fs.writeSync(fd, content);
    if (rename === '1') fs.renameSync(target, path);
    process.stdout.write('ready\\n');
    process.stdin.on('data', () => { fs.closeSync(fd); process.stdout.write('closed\\n'); });
    process.stdin.on('end', () => process.exit(0));
  `;
  const child = spawn(process.execPath, ['-e', code, path, content, renameWhileOpen ? '1' : '0'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const seen = (word: string): Promise<void> => new Promise((res, rej) => {
    const check = (): void => { if (out.includes(word)) res(); };
    child.stdout!.on('data', (d) => { out += d; check(); });
    child.on('exit', () => (out.includes(word) ? res() : rej(new Error(`writer exited before "${word}"`))));
    check();
  });
  const ready = seen('ready');
  return {
    child,
    ready,
    async close() {
      const closed = seen('closed');
      child.stdin!.write('close\n');
      await closed;
      child.stdin!.end();
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * An inbox with the engine's wiring: fs.watch events go to the watcher. The watch counts for files
 * that arrive after it began, by their ctime, which the kernel keeps coarsely (a jiffy, a few ms
 * behind the clock): a test drops its files a little later, as a user's drops come long after the
 * engine started.
 */
async function inbox(): Promise<{ dir: string; w: InboxWatcher; events: [string, string][]; stop(): void }> {
  const dir = join(tempDir('lq-intake-'), 'inbox');
  mkdirSync(dir);
  const w = new InboxWatcher(dir, () => undefined);
  const events: [string, string][] = [];
  const fsw: FSWatcher = watch(dir, (type, name) => {
    w.noteEvent(type, name);
    events.push([type, String(name)]);
  });
  w.setWatching(true);
  await sleep(50);
  return { dir, w, events, stop: () => fsw.close() };
}

const names = (w: InboxWatcher, stable = 60): string[] => w.scan(stable).map((r) => r.name);

describe('openWriters', () => {
  it('sees a process that holds a file open for writing, and not after it closed it', T, async () => {
    const dir = tempDir('lq-writers-');
    const path = join(dir, 'held.jsonl');
    const h = holder(path, GOOD(1), false);
    try {
      await h.ready;
      const c = { name: 'held.jsonl', st: lstatSync(path) };
      assert.equal(openWriters(dir, [c]).get(writerKey(c.st)), 'open');
      await h.close();
      assert.equal(openWriters(dir, [c]).get(writerKey(c.st)), 'none');
    } finally {
      h.child.kill();
    }
  });

  it('does not count a reader as a writer', T, async () => {
    const dir = tempDir('lq-writers-');
    const path = join(dir, 'read.jsonl');
    writeFileSync(path, GOOD(1));
    const reader = spawn(process.execPath, ['-e', `require('node:fs').openSync(process.argv[1], 'r'); process.stdout.write('ready\\n'); setInterval(() => {}, 1000);`, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((res) => reader.stdout!.once('data', () => res()));
      const c = { name: 'read.jsonl', st: lstatSync(path) };
      assert.equal(openWriters(dir, [c]).get(writerKey(c.st)), 'none');
    } finally {
      reader.kill();
    }
  });
});

describe('InboxWatcher', () => {
  it('takes a file renamed into the inbox at first sight, without waiting for the stability window', T, async () => {
    const ib = await inbox();
    try {
      writeFileSync(join(ib.dir, '.a.jsonl.tmp'), GOOD('a'));
      renameSync(join(ib.dir, '.a.jsonl.tmp'), join(ib.dir, 'a.jsonl'));
      await waitFor('the rename event', () => ib.events.some(([t, n]) => t === 'rename' && n === 'a.jsonl'), 10_000);
      assert.deepEqual(names(ib.w), ['a.jsonl']);
    } finally {
      ib.stop();
    }
  });

  it('waits while the file renamed in is still open for writing, and takes it once closed', T, async () => {
    const ib = await inbox();
    const h = holder(join(ib.dir, 'held.jsonl'), GOOD('held'), true);
    try {
      await h.ready;
      await waitFor('the rename event', () => ib.events.some(([t, n]) => t === 'rename' && n === 'held.jsonl'), 10_000);
      assert.deepEqual(names(ib.w), [], 'open for writing: not taken');
      assert.deepEqual(names(ib.w), [], 'still open: still not taken');
      await h.close();
      assert.deepEqual(names(ib.w), ['held.jsonl'], 'closed, unchanged: taken');
    } finally {
      h.child.kill();
      ib.stop();
    }
  });

  it('keeps the stability window for a file written in place, and for an empty one', T, async () => {
    const ib = await inbox();
    const h = holder(join(ib.dir, 'inplace.jsonl'), GOOD('in place'), false);
    try {
      await h.ready;
      await h.close();
      writeFileSync(join(ib.dir, '.e.tmp'), '');
      renameSync(join(ib.dir, '.e.tmp'), join(ib.dir, 'empty.jsonl'));
      await waitFor('the write and rename events', () => ib.events.some(([t, n]) => t === 'change' && n === 'inplace.jsonl') && ib.events.some(([, n]) => n === 'empty.jsonl'), 10_000);
      assert.deepEqual(names(ib.w), [], 'written in place (closed, but it may be reopened) or empty: the window applies');
      assert.deepEqual(names(ib.w, 0), ['empty.jsonl', 'inplace.jsonl'], 'both taken once the window is over');
    } finally {
      h.child.kill();
      ib.stop();
    }
  });

  it('without the watch, takes a file whose ctime is later than its mtime (renamed after its last write)', T, () => {
    const dir = join(tempDir('lq-intake-'), 'inbox');
    mkdirSync(dir);
    const w = new InboxWatcher(dir, () => undefined);
    writeFileSync(join(dir, '.x.tmp'), GOOD('x'));
    const recent = new Date(Date.now() - 1000);
    utimesSync(join(dir, '.x.tmp'), recent, recent);
    renameSync(join(dir, '.x.tmp'), join(dir, 'renamed.jsonl'));
    writeFileSync(join(dir, 'written.jsonl'), GOOD('y'));
    assert.deepEqual(names(w), ['renamed.jsonl']);
  });
});

describe('intake in the daemon', () => {
  it('queues a renamed file at once but not one a writer still holds; after the writer closes it, that one too', T, async () => {
    const ws = makeWorkspace({ queue: { intakeStableSeconds: 60 } });
    const p = await lq(ws, ['pause']);
    assert.equal(p.code, 0, p.stderr);
    const d = startDaemon(ws);
    // Dropped once the engine watches the inbox (a file that arrived before waits for the window).
    await waitFor('the daemon to own the root', () => /owner of/.test(d.output()), 30_000, d.output);
    await sleep(50);
    const inboxDir = join(ws.root, 'inbox');
    const h = holder(join(inboxDir, 'held.jsonl'), GOOD('held'), true);
    try {
      await h.ready;
      ws.inputs.set(sha(GOOD('held')), 'held.jsonl');
      drop(ws, 'renamed.jsonl', GOOD('renamed'));
      // Within 30 s while the window is 60 s: only the rename rule can have taken it.
      await waitFor('renamed.jsonl queued', () => datasets(ws, 'queue').includes('renamed.jsonl'), 30_000, d.output);
      assert.ok(existsSync(join(inboxDir, 'held.jsonl')), 'a file open for writing stays in the inbox');
      await h.close();
      await waitFor('held.jsonl queued once closed', () => datasets(ws, 'queue').includes('held.jsonl'), 30_000, d.output);
      assert.match(d.output(), /admitted in [\d.]+ ms, validation [\d.]+ ms/);
      assertInventory(ws);
    } finally {
      h.child.kill();
      await cleanup(ws, [d]);
    }
  });
});

describe('inbox entries not taken (issue #14)', () => {
  it('each is reported once in the log and listed by status with why; a hidden name too', T, async () => {
    const ws = makeWorkspace({ queue: { intakeStableSeconds: 0 } });
    const d = startDaemon(ws);
    try {
      await waitFor('the daemon to own the root', () => /owner of/.test(d.output()), 30_000, d.output);
      const inboxDir = join(ws.root, 'inbox');
      const outside = join(ws.dir, 'outside.jsonl');
      writeFileSync(outside, GOOD('out'));
      // Renamed in, like a drop: "..dotdot.jsonl" was left there silently before.
      writeFileSync(join(ws.dir, 'dd'), GOOD('dd'));
      renameSync(join(ws.dir, 'dd'), join(inboxDir, '..dotdot.jsonl'));
      writeFileSync(join(inboxDir, 'notes.txt'), 'n\n');
      writeFileSync(join(inboxDir, 'big.jsonl.part'), GOOD('part'));
      mkdirSync(join(inboxDir, 'folder.jsonl'));
      symlinkSync(outside, join(inboxDir, 'out.jsonl'));
      symlinkSync(join(ws.dir, 'nowhere.jsonl'), join(inboxDir, 'dangling.jsonl'));
      drop(ws, 'ok.jsonl', GOOD('ok'));
      const names = ['..dotdot.jsonl', 'big.jsonl.part', 'dangling.jsonl', 'folder.jsonl', 'notes.txt', 'out.jsonl'];
      const lines = (n: string): number => d.output().split('\n').filter((l) => l.includes(`inbox/${n}: not taken: `)).length;
      // Hidden and partial names are reported once they stayed 5 s (a writer's temporary file is renamed sooner).
      await waitFor('a log line for each', () => names.every((n) => lines(n) >= 1), 30_000, d.output);
      await sleep(1500); // more scans: still once each
      for (const n of names) assert.equal(lines(n), 1, `${n} reported once`);
      assert.match(d.output(), /inbox\/\.\.dotdot\.jsonl: not taken: its name starts with a dot/);
      assert.match(d.output(), /inbox\/dangling\.jsonl: not taken: a symlink whose target does not exist/);
      const st = JSON.parse((await lq(ws, ['status', '--format', 'json'])).stdout) as { inbox: string[]; inboxNotTaken: { name: string; why: string }[] };
      assert.deepEqual(st.inboxNotTaken.map((e) => e.name), names);
      assert.deepEqual(st.inbox, []);
      assert.ok(st.inboxNotTaken.every((e) => e.why.length > 10), JSON.stringify(st.inboxNotTaken));
      const text = (await lq(ws, ['status'])).stdout;
      assert.match(text, /inbox, not taken: 6\n {2}"\.\.dotdot\.jsonl": its name starts with a dot/);
      assert.ok(['queue', 'processing', 'done'].some((f) => datasets(ws, f).includes('ok.jsonl')), 'a good file beside them is taken');
    } finally {
      await cleanup(ws, [d]);
    }
  });
});

describe('SidecarCache (the engine reads every queued sidecar to pick the next run)', () => {
  it('never returns a sidecar older than the file on disk', () => {
    const dir = tempDir('lq-sidecars-');
    const cache = new SidecarCache();
    const base = { priority: 1, attempts: 0, added: new Date(0).toISOString(), sha256: '', size: 1, examples: 1 };
    writeMeta(dir, 'a.jsonl', base);
    // "Later": the 1-second guard against changes within the timestamp granularity is passed.
    const later = Date.now() + 5000;
    assert.equal(cache.read(dir, 'a.jsonl', later)?.priority, 1);
    writeMeta(dir, 'a.jsonl', { ...base, priority: 2 });
    assert.equal(cache.read(dir, 'a.jsonl', later)?.priority, 2, 'a rewrite of the same size is seen at once');
    assert.equal(cache.read(dir, 'a.jsonl', later)?.priority, 2);
    const m = cache.read(dir, 'a.jsonl', later)!;
    m.priority = 9;
    assert.equal(cache.read(dir, 'a.jsonl', later)?.priority, 2, 'a caller changing its copy does not change the cache');
    rmSync(metaPath(dir, 'a.jsonl'));
    assert.equal(cache.read(dir, 'a.jsonl', later), undefined);
  });
});
