// AssemblyScript (compiled to dist/fastLine.wasm by scripts/build.mjs; not part of the tsc build).
//
// Recognises, on the line's bytes, the one shape that most dataset lines have and that the
// validator has nothing to say about:
//
//   {"messages": [{"role": "system"|"user"|"assistant", "content": "<non-blank string>"}, ...]}
//
// (keys in either order, any JSON whitespace, any valid string escapes, valid UTF-8; a system
// message only first, roles never repeated back to back, the last one the assistant's: the rules
// of isPlainCleanExample in rules.ts). For such a line it returns the duplicate hash that
// exampleHash (line.ts) computes from the parsed example: 53 bits of xxHash64 of the canonical
// form `role \0 content \1` per message, with the content unescaped and encoded as UTF-8 (lone
// surrogates as U+FFFD, as TextEncoder does). For anything else it returns -1 and the caller runs
// the full validator, which owns every diagnostic. So this module can only decline or agree; the
// property tests in test/dataset/fastLine.test.ts hold it to that.
//
// Why by hand: JSON.parse has to build every string of a 1.4 KB example and then the canonical
// form is built and encoded again for the hash; here strings are skipped 16 bytes at a time with
// SIMD and hashed in place. Measured in docs/benchmarks.md.

let lastLength16: i32 = 0;
let sawEscape: bool = false;

/** UTF-16 length of the last line `check` accepted (the range of a duplicate diagnostic). */
export function utf16Length(): i32 {
  return lastLength16;
}

/** Memory for the caller's buffers, taken once at start (the stub runtime never frees). */
export function alloc(size: usize): usize {
  return heap.alloc(size);
}

/** 53 bits of xxHash64 (seed 0) of [p, p + len), as exampleHash keeps them. */
export function hash53(p: usize, len: usize): f64 {
  return <f64>(xxh64(p, len) & 0x1fffffffffffff);
}

/** The line [p, end) in memory; `out` has room for end - p bytes. Returns hash53 of the canonical form, or -1. */
export function check(p0: usize, end: usize, out0: usize): f64 {
  const n16 = utf16Len(p0, end);
  if (n16 < 0) return -1;
  let p = ws(p0, end);
  if (!byteAt(p, end, 0x7b)) return -1; // {
  p = ws(p + 1, end);
  if (!lit(p, end, MESSAGES, 10)) return -1;
  p = ws(p + 10, end);
  if (!byteAt(p, end, 0x3a)) return -1; // :
  p = ws(p + 1, end);
  if (!byteAt(p, end, 0x5b)) return -1; // [
  p = ws(p + 1, end);
  let out = out0;
  let prev: i32 = 0;
  let count: i32 = 0;
  while (true) {
    if (!byteAt(p, end, 0x7b)) return -1;
    p = ws(p + 1, end);
    let role: i32 = 0;
    let cs: usize = 0;
    let ce: usize = 0;
    let escaped = false;
    for (let k = 0; k < 2; k++) {
      if (k == 1) {
        if (!byteAt(p, end, 0x2c)) return -1; // ,
        p = ws(p + 1, end);
      }
      if (role == 0 && lit(p, end, ROLE, 6)) {
        p = ws(p + 6, end);
        if (!byteAt(p, end, 0x3a)) return -1;
        p = ws(p + 1, end);
        if (lit(p, end, USER, 6)) {
          role = 2;
          p += 6;
        } else if (lit(p, end, ASSISTANT, 11)) {
          role = 3;
          p += 11;
        } else if (lit(p, end, SYSTEM, 8)) {
          role = 1;
          p += 8;
        } else return -1;
        p = ws(p, end);
      } else if (cs == 0 && lit(p, end, CONTENT, 9)) {
        p = ws(p + 9, end);
        if (!byteAt(p, end, 0x3a)) return -1;
        p = ws(p + 1, end);
        if (!byteAt(p, end, 0x22)) return -1;
        const q = scanString(p + 1, end);
        if (q == 0) return -1;
        cs = p + 1;
        ce = q;
        escaped = sawEscape;
        p = ws(q + 1, end);
      } else return -1;
    }
    if (!byteAt(p, end, 0x7d)) return -1; // }
    p = ws(p + 1, end);
    if (role == 1 && count > 0) return -1;
    if (role == prev) return -1;
    if (!nonBlank(cs, ce)) return -1;
    prev = role;
    count++;
    out = putRole(out, role);
    out = escaped ? unescapeInto(out, cs, ce) : copyInto(out, cs, ce);
    store<u8>(out, 1);
    out++;
    if (p >= end) return -1;
    const c = load<u8>(p);
    p = ws(p + 1, end);
    if (c == 0x2c) continue; // ,
    if (c == 0x5d) break; // ]
    return -1;
  }
  if (prev != 3) return -1;
  if (!byteAt(p, end, 0x7d)) return -1;
  p = ws(p + 1, end);
  if (p != end) return -1;
  lastLength16 = n16;
  return hash53(out0, out - out0);
}

// The literals, quotes included.
const MESSAGES = memory.data<u8>([0x22, 0x6d, 0x65, 0x73, 0x73, 0x61, 0x67, 0x65, 0x73, 0x22]);
const ROLE = memory.data<u8>([0x22, 0x72, 0x6f, 0x6c, 0x65, 0x22]);
const CONTENT = memory.data<u8>([0x22, 0x63, 0x6f, 0x6e, 0x74, 0x65, 0x6e, 0x74, 0x22]);
const SYSTEM = memory.data<u8>([0x22, 0x73, 0x79, 0x73, 0x74, 0x65, 0x6d, 0x22]);
const USER = memory.data<u8>([0x22, 0x75, 0x73, 0x65, 0x72, 0x22]);
const ASSISTANT = memory.data<u8>([0x22, 0x61, 0x73, 0x73, 0x69, 0x73, 0x74, 0x61, 0x6e, 0x74, 0x22]);
// Without quotes, for the canonical form.
const ROLE_NAMES = memory.data<u8>([0x73, 0x79, 0x73, 0x74, 0x65, 0x6d, 0x75, 0x73, 0x65, 0x72, 0x61, 0x73, 0x73, 0x69, 0x73, 0x74, 0x61, 0x6e, 0x74]);

@inline
function byteAt(p: usize, end: usize, b: u8): bool {
  return p < end && load<u8>(p) == b;
}

function lit(p: usize, end: usize, s: usize, n: usize): bool {
  if (p + n > end) return false;
  for (let i: usize = 0; i < n; i++) if (load<u8>(p + i) != load<u8>(s + i)) return false;
  return true;
}

/** JSON whitespace: space, tab, line feed, carriage return. */
function ws(p: usize, end: usize): usize {
  while (p < end) {
    const b = load<u8>(p);
    if (b != 0x20 && b != 0x09 && b != 0x0d && b != 0x0a) break;
    p++;
  }
  return p;
}

/**
 * From just after an opening quote: the offset of the closing quote, or 0 when the string is not
 * valid JSON (a raw control character, a bad escape, no end). Sets sawEscape.
 */
function scanString(p: usize, end: usize): usize {
  sawEscape = false;
  const quote = i8x16.splat(0x22);
  const backslash = i8x16.splat(0x5c);
  const space = i8x16.splat(0x20);
  while (true) {
    if (p + 16 <= end) {
      const v = v128.load(p);
      const m = i8x16.bitmask(v128.or(v128.or(i8x16.eq(v, quote), i8x16.eq(v, backslash)), i8x16.lt_u(v, space)));
      if (m == 0) {
        p += 16;
        continue;
      }
      p += <usize>ctz(m);
    } else {
      while (p < end) {
        const b = load<u8>(p);
        if (b == 0x22 || b == 0x5c || b < 0x20) break;
        p++;
      }
      if (p >= end) return 0;
    }
    const b = load<u8>(p);
    if (b == 0x22) return p;
    if (b < 0x20) return 0;
    sawEscape = true;
    if (p + 1 >= end) return 0;
    const c = load<u8>(p + 1);
    if (c == 0x75) {
      if (p + 5 >= end) return 0;
      if (hexDigit(load<u8>(p + 2)) < 0 || hexDigit(load<u8>(p + 3)) < 0 || hexDigit(load<u8>(p + 4)) < 0 || hexDigit(load<u8>(p + 5)) < 0) return 0;
      p += 6;
    } else if (c == 0x22 || c == 0x5c || c == 0x2f || c == 0x62 || c == 0x66 || c == 0x6e || c == 0x72 || c == 0x74) {
      p += 2;
    } else return 0;
  }
  return 0; // not reached
}

function hexDigit(c: u8): i32 {
  if (c >= 0x30 && c <= 0x39) return <i32>c - 0x30;
  if (c >= 0x61 && c <= 0x66) return <i32>c - 0x57;
  if (c >= 0x41 && c <= 0x46) return <i32>c - 0x37;
  return -1;
}

/** The code unit of a \uXXXX escape whose four hex digits start at p (already checked). */
function hex4(p: usize): u32 {
  return <u32>((hexDigit(load<u8>(p)) << 12) | (hexDigit(load<u8>(p + 1)) << 8) | (hexDigit(load<u8>(p + 2)) << 4) | hexDigit(load<u8>(p + 3)));
}

/** JavaScript's \s (what String.prototype.trim removes). */
function isSpace(cp: u32): bool {
  return (cp >= 9 && cp <= 13) || cp == 0x20 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
    cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000 || cp == 0xfeff;
}

/** Whether the string body [p, end) (valid escapes, valid UTF-8) holds a character that is not \s. */
function nonBlank(p: usize, end: usize): bool {
  while (p < end) {
    const b = <u32>load<u8>(p);
    if (b == 0x20) {
      p++;
      continue;
    }
    if (b == 0x5c) {
      const c = load<u8>(p + 1);
      if (c == 0x6e || c == 0x74 || c == 0x72 || c == 0x66) {
        p += 2;
        continue;
      }
      if (c == 0x75 && isSpace(hex4(p + 2))) {
        p += 6;
        continue;
      }
      return true;
    }
    if (b < 0x80) return true;
    let cp: u32;
    let n: usize;
    if (b < 0xe0) {
      cp = ((b & 0x1f) << 6) | (<u32>load<u8>(p + 1) & 0x3f);
      n = 2;
    } else if (b < 0xf0) {
      cp = ((b & 0x0f) << 12) | ((<u32>load<u8>(p + 1) & 0x3f) << 6) | (<u32>load<u8>(p + 2) & 0x3f);
      n = 3;
    } else return true;
    if (!isSpace(cp)) return true;
    p += n;
  }
  return false;
}

/** UTF-16 length of the UTF-8 in [p, end), or -1 when it is not valid UTF-8 (the rules of firstInvalidUtf8). */
function utf16Len(p0: usize, end: usize): i32 {
  let p = p0;
  let less: usize = 0; // bytes that add no UTF-16 unit
  while (true) {
    while (p + 16 <= end && i8x16.bitmask(v128.load(p)) == 0) p += 16;
    if (p >= end) break;
    const b = <u32>load<u8>(p);
    if (b < 0x80) {
      p++;
      continue;
    }
    let need: usize;
    let min: u32;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else return -1;
    if (p + need >= end) return -1;
    let cp: u32 = b & (<u32>0x3f >> <u32>need);
    for (let k: usize = 1; k <= need; k++) {
      const c = <u32>load<u8>(p + k);
      if ((c & 0xc0) != 0x80) return -1;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
    less += need == 3 ? 2 : need; // four bytes are a surrogate pair: two units
    p += need + 1;
  }
  return <i32>(end - p0 - less);
}

function putRole(out: usize, role: i32): usize {
  let s: usize = ROLE_NAMES;
  let n: usize = 6;
  if (role == 2) {
    s += 6;
    n = 4;
  } else if (role == 3) {
    s += 10;
    n = 9;
  }
  memory.copy(out, s, n);
  store<u8>(out + n, 0);
  return out + n + 1;
}

function copyInto(out: usize, p: usize, end: usize): usize {
  memory.copy(out, p, end - p);
  return out + (end - p);
}

/** Writes the string body [p, end) unescaped, as UTF-8; returns the new end of out. */
function unescapeInto(out: usize, p: usize, end: usize): usize {
  const backslash = i8x16.splat(0x5c);
  while (p < end) {
    let q = p;
    while (true) {
      if (q + 16 <= end) {
        const m = i8x16.bitmask(i8x16.eq(v128.load(q), backslash));
        if (m == 0) {
          q += 16;
          continue;
        }
        q += <usize>ctz(m);
        break;
      }
      while (q < end && load<u8>(q) != 0x5c) q++;
      break;
    }
    out = copyInto(out, p, q);
    p = q;
    if (p >= end) break;
    const c = load<u8>(p + 1);
    if (c != 0x75) {
      let v: u8 = c; // " \ /
      if (c == 0x62) v = 0x08;
      else if (c == 0x66) v = 0x0c;
      else if (c == 0x6e) v = 0x0a;
      else if (c == 0x72) v = 0x0d;
      else if (c == 0x74) v = 0x09;
      store<u8>(out, v);
      out++;
      p += 2;
      continue;
    }
    let cp = hex4(p + 2);
    p += 6;
    if (cp >= 0xd800 && cp <= 0xdbff && p + 6 <= end && load<u8>(p) == 0x5c && load<u8>(p + 1) == 0x75) {
      const lo = hex4(p + 2);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        p += 6;
      }
    }
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; // a lone surrogate, as TextEncoder writes it
    out = putUtf8(out, cp);
  }
  return out;
}

function putUtf8(out: usize, cp: u32): usize {
  if (cp < 0x80) {
    store<u8>(out, <u8>cp);
    return out + 1;
  }
  if (cp < 0x800) {
    store<u8>(out, <u8>(0xc0 | (cp >> 6)));
    store<u8>(out + 1, <u8>(0x80 | (cp & 0x3f)));
    return out + 2;
  }
  if (cp < 0x10000) {
    store<u8>(out, <u8>(0xe0 | (cp >> 12)));
    store<u8>(out + 1, <u8>(0x80 | ((cp >> 6) & 0x3f)));
    store<u8>(out + 2, <u8>(0x80 | (cp & 0x3f)));
    return out + 3;
  }
  store<u8>(out, <u8>(0xf0 | (cp >> 18)));
  store<u8>(out + 1, <u8>(0x80 | ((cp >> 12) & 0x3f)));
  store<u8>(out + 2, <u8>(0x80 | ((cp >> 6) & 0x3f)));
  store<u8>(out + 3, <u8>(0x80 | (cp & 0x3f)));
  return out + 4;
}

// xxHash64 (the reference algorithm, seed 0; wasm loads are little-endian as the reference reads).
const P1: u64 = 11400714785074694791;
const P2: u64 = 14029467366897019727;
const P3: u64 = 1609587929392839161;
const P4: u64 = 9650029242287828579;
const P5: u64 = 2870177450012600261;

@inline
function round(acc: u64, input: u64): u64 {
  return rotl<u64>(acc + input * P2, 31) * P1;
}

@inline
function mergeRound(acc: u64, val: u64): u64 {
  return (acc ^ round(0, val)) * P1 + P4;
}

function xxh64(p: usize, len: usize): u64 {
  const end = p + len;
  let h: u64;
  if (len >= 32) {
    let v1: u64 = P1 + P2;
    let v2: u64 = P2;
    let v3: u64 = 0;
    let v4: u64 = 0 - P1;
    const limit = end - 32;
    do {
      v1 = round(v1, load<u64>(p));
      v2 = round(v2, load<u64>(p + 8));
      v3 = round(v3, load<u64>(p + 16));
      v4 = round(v4, load<u64>(p + 24));
      p += 32;
    } while (p <= limit);
    h = rotl<u64>(v1, 1) + rotl<u64>(v2, 7) + rotl<u64>(v3, 12) + rotl<u64>(v4, 18);
    h = mergeRound(h, v1);
    h = mergeRound(h, v2);
    h = mergeRound(h, v3);
    h = mergeRound(h, v4);
  } else {
    h = P5;
  }
  h += <u64>len;
  while (p + 8 <= end) {
    h ^= round(0, load<u64>(p));
    h = rotl<u64>(h, 27) * P1 + P4;
    p += 8;
  }
  if (p + 4 <= end) {
    h ^= <u64>load<u32>(p) * P1;
    h = rotl<u64>(h, 23) * P2 + P3;
    p += 4;
  }
  while (p < end) {
    h ^= <u64>load<u8>(p) * P5;
    h = rotl<u64>(h, 11) * P1;
    p++;
  }
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}
