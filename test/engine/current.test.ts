/**
 * current.json's one owner (current.ts): the pointer's history across the switches every writer
 * makes (a new snapshot, a rollback, a consolidation's base switch, a fall-back's new note), on a
 * real file in a temporary queue root.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { currentAdapter, currentUnreadable, liveBase, readCurrent, setCurrent, setCurrentAside } from '../../server/src/engine/current';
import { ensureLayout, rootPaths } from '../../server/src/engine/paths';
import { removeTempDirs, tempDir } from './helpers';

after(removeTempDirs);

describe('current.json: the pointer module', () => {
  it('keeps one step of history: previous is the snapshot before the last switch to another one, whoever switched', () => {
    const p = rootPaths(tempDir('lq-current-'));
    ensureLayout(p);
    assert.equal(readCurrent(p), undefined, 'no current.json yet');
    const t = (s: number): Date => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
    setCurrent(p, 'a', null, t(1));
    assert.deepEqual(readCurrent(p), { snapshot: 'a', since: t(1).toISOString(), previous: null, adapter: join(p.root, 'snapshots', 'a'), note: null, base: null });
    setCurrent(p, 'b', null, t(2));
    assert.equal(readCurrent(p)?.previous, 'a', 'a new snapshot: the old one is the history');
    // The same snapshot again with a note (a fall-back that lands on it, a rollback to current): the history stays.
    setCurrent(p, 'b', 'rolled back from b', t(3));
    assert.deepEqual([readCurrent(p)?.snapshot, readCurrent(p)?.previous, readCurrent(p)?.note], ['b', 'a', 'rolled back from b']);
    // A consolidation: no adapter on a new base; the adapter it replaced is the history, and the base is kept by later switches.
    setCurrent(p, null, 'consolidated', t(4), 'm1');
    assert.deepEqual([readCurrent(p)?.snapshot, readCurrent(p)?.previous, readCurrent(p)?.base, readCurrent(p)?.adapter], [null, 'b', 'm1', null]);
    setCurrent(p, 'c', null, t(5));
    assert.deepEqual([readCurrent(p)?.snapshot, readCurrent(p)?.previous, readCurrent(p)?.base], ['c', 'b', 'm1'], 'no snapshot in between: the history is still the last adapter');
    setCurrent(p, 'b', 'rolled back', t(6), null);
    assert.deepEqual([readCurrent(p)?.snapshot, readCurrent(p)?.previous, readCurrent(p)?.base], ['b', 'c', null], 'a rollback with its base: the base goes back too');
    assert.equal(liveBase(p, '/models/base').path, '/models/base');
    assert.equal(currentAdapter(p), null, 'snapshot b has no folder with a manifest: no adapter to continue from');
  });

  it('an unreadable current.json is told apart from a missing one and kept aside by name', () => {
    const p = rootPaths(tempDir('lq-current-'));
    ensureLayout(p);
    assert.equal(currentUnreadable(p), false, 'missing is not unreadable');
    writeFileSync(p.current, '{"snapshot": "a", "si');
    assert.equal(currentUnreadable(p), true);
    const aside = setCurrentAside(p, '20260101T000000Z');
    assert.equal(aside, 'current.json.corrupt-20260101T000000Z');
    assert.equal(readFileSync(join(p.root, aside), 'utf8'), '{"snapshot": "a", "si', 'the bad bytes are kept');
    assert.equal(currentUnreadable(p), false);
  });
});
