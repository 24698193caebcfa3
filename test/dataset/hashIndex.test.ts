/** The duplicate index: the first line of each hash, whatever the keys' low bits and however full it gets. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HashIndex } from '../../server/src/dataset/hashIndex';

describe('HashIndex', () => {
  it('returns the first value of a key seen again, across growth and colliding low bits', () => {
    for (const expected of [0, 100, 50_000]) {
      const index = new HashIndex(expected);
      const first = new Map<number, number>();
      // 53-bit keys: many share their low 32 bits (the slot), some differ only there.
      const keys: number[] = [];
      for (let i = 0; i < 20_000; i++) keys.push(i * 2 ** 32 + (i % 7), (i * 2654435761) % 2 ** 53, i);
      keys.push(2 ** 53 - 1, 0);
      keys.forEach((k, line) => {
        const got = index.getOrInsert(k, line);
        assert.equal(got, first.get(k), `key ${k}`);
        if (!first.has(k)) first.set(k, line);
      });
      // And every key once more: each gives its first line.
      for (const [k, line] of first) assert.equal(index.getOrInsert(k, -5), line);
      assert.equal(index.size, first.size);
    }
  });
});
