/**
 * The duplicate hash: xxHash64 (WebAssembly, xxhash-wasm) of the example's canonical form, 53
 * bits kept. Measured on the benchmark data it costs a sixth of SHA-1 through node:crypto, whose
 * per-call overhead dominates on lines of a few KB (docs/benchmarks.md); duplicates are not an
 * adversarial setting, so a non-cryptographic hash is enough. WebAssembly starts asynchronously:
 * every entry point awaits `hashingReady()` before validating. Hashing before that throws, rather
 * than mixing two hash functions in one run and silently missing duplicates.
 */
import xxhash from 'xxhash-wasm';

let h64: ((input: string, seed?: bigint) => bigint) | undefined;
let ready: Promise<void> | undefined;

export function hashingReady(): Promise<void> {
  ready ??= xxhash().then((api) => {
    h64 = api.h64;
  });
  return ready;
}

const MASK53 = (1n << 53n) - 1n;

export function hash53(s: string): number {
  if (!h64) throw new Error('hashing is not initialised: await hashingReady() before validating');
  return Number(h64(s) & MASK53);
}
