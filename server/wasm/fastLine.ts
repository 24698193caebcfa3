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
// form `role \0 content \1` per message, with the content unescaped and encoded as UTF-8 (a lone
// surrogate escape is declined: the rules report it). For anything else it returns -1 and the caller runs
// the full validator, which owns every diagnostic. So this module can only decline or agree; the
// property tests in test/dataset/fastLine.test.ts hold it to that.
//
// Why by hand: JSON.parse has to build every string of a 1.4 KB example and then the canonical
// form is built and encoded again for the hash; here strings are skipped 16 bytes at a time with
// SIMD and hashed in place. Measured in docs/benchmarks.md.

let lastLength16: i32 = 0;

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

/**
 * The line [p0, end) in memory; `out0` has room for end - p0 + 32 bytes. Returns hash53 of the
 * canonical form, or -1. One pass: each string is checked, unescaped and copied into the
 * canonical form 16 bytes at a time; only strings with raw non-ASCII bytes are read again, to
 * validate their UTF-8.
 */
export function check(p0: usize, end: usize, out0: usize): f64 {
  let less: usize = 0; // bytes of the line that add no UTF-16 unit
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
    let haveContent = false;
    let text: usize = 0; // where the content's value starts in out
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
      } else if (!haveContent && lit(p, end, CONTENT, 9)) {
        p = ws(p + 9, end);
        if (!byteAt(p, end, 0x3a)) return -1;
        p = ws(p + 1, end);
        if (!byteAt(p, end, 0x22)) return -1;
        // After the role's prefix when the role came first; else after room for the longest prefix.
        text = role != 0 ? out + roleLength(role) + 1 : out + 10;
        const q = scanString(p + 1, end, text);
        if (q == 0) return -1;
        if (sawNonAscii) {
          const l = utf8Less(p + 1, q);
          if (l < 0) return -1;
          less += <usize>l;
        }
        haveContent = true;
        p = ws(q + 1, end);
      } else return -1;
    }
    if (!byteAt(p, end, 0x7d)) return -1; // }
    p = ws(p + 1, end);
    if (role == 1 && count > 0) return -1;
    if (role == prev) return -1;
    const textEnd = outEnd;
    if (!nonBlank(text, textEnd)) return -1;
    prev = role;
    count++;
    const at = putRole(out, role);
    if (at != text) memory.copy(at, text, textEnd - text); // the content came first: close the gap
    out = at + (textEnd - text);
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
  lastLength16 = <i32>(end - p0 - less);
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

/** Whether the n bytes at p (4 <= n <= 16) are the literal at s: two overlapping wide compares. */
function lit(p: usize, end: usize, s: usize, n: usize): bool {
  if (p + n > end) return false;
  if (n >= 8) return load<u64>(p) == load<u64>(s) && load<u64>(p + n - 8) == load<u64>(s + n - 8);
  return load<u32>(p) == load<u32>(s) && load<u32>(p + n - 4) == load<u32>(s + n - 4);
}

/**
 * JSON whitespace, less the carriage return: a \r left inside a line (the splitter strips the one
 * of a CRLF) is a lone CR, which the rules report (lone-cr). A \n cannot be inside a line.
 */
function ws(p: usize, end: usize): usize {
  while (p < end) {
    const b = load<u8>(p);
    if (b != 0x20 && b != 0x09 && b != 0x0a) break;
    p++;
  }
  return p;
}

let outEnd: usize = 0;
let sawNonAscii: bool = false;

/**
 * From just after an opening quote: checks the string, writes its value (unescaped, as UTF-8) at
 * `out`, and returns the offset of the closing quote, or 0 when the string is not valid JSON (a
 * raw control character, a bad escape, no end). Sets outEnd, and sawNonAscii when the string has
 * raw bytes over 0x7f (their UTF-8 is checked by the caller). Writes up to 16 bytes past outEnd.
 */
function scanString(p: usize, end: usize, out: usize): usize {
  const quote = i8x16.splat(0x22);
  const backslash = i8x16.splat(0x5c);
  const space = i8x16.splat(0x20);
  let high: i32 = 0;
  while (true) {
    if (p + 16 <= end) {
      const v = v128.load(p);
      v128.store(out, v);
      const m = i8x16.bitmask(v128.or(v128.or(i8x16.eq(v, quote), i8x16.eq(v, backslash)), i8x16.lt_u(v, space)));
      if (m == 0) {
        high |= i8x16.bitmask(v);
        p += 16;
        out += 16;
        continue;
      }
      const n = ctz(m);
      high |= i8x16.bitmask(v) & ((1 << n) - 1);
      p += <usize>n;
      out += <usize>n;
    } else {
      while (p < end) {
        const b = load<u8>(p);
        if (b == 0x22 || b == 0x5c || b < 0x20) break;
        high |= <i32>b & 0x80;
        store<u8>(out, b);
        p++;
        out++;
      }
      if (p >= end) return 0;
    }
    const b = load<u8>(p);
    if (b == 0x22) {
      outEnd = out;
      sawNonAscii = high != 0;
      return p;
    }
    if (b < 0x20) return 0;
    if (p + 1 >= end) return 0;
    const c = load<u8>(p + 1);
    if (c == 0x75) {
      if (!isHex4(p + 2, end)) return 0;
      let cp = hex4(p + 2);
      p += 6;
      if (cp >= 0xd800 && cp <= 0xdbff && p + 1 < end && load<u8>(p) == 0x5c && load<u8>(p + 1) == 0x75 && isHex4(p + 2, end)) {
        const lo = hex4(p + 2);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          p += 6;
        }
      }
      if (cp >= 0xd800 && cp <= 0xdfff) return 0; // a lone surrogate: the rules report it (lone-surrogate)
      out = putUtf8(out, cp);
      continue;
    }
    let v: u8 = c; // " \ /
    if (c == 0x6e) v = 0x0a;
    else if (c == 0x74) v = 0x09;
    else if (c == 0x72) v = 0x0d;
    else if (c == 0x62) v = 0x08;
    else if (c == 0x66) v = 0x0c;
    else if (c != 0x22 && c != 0x5c && c != 0x2f) return 0;
    store<u8>(out, v);
    out++;
    p += 2;
  }
  return 0; // not reached
}

/** Whether four hex digits lie at [p, p + 4) before end. */
function isHex4(p: usize, end: usize): bool {
  return p + 4 <= end && hexDigit(load<u8>(p)) >= 0 && hexDigit(load<u8>(p + 1)) >= 0 && hexDigit(load<u8>(p + 2)) >= 0 && hexDigit(load<u8>(p + 3)) >= 0;
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

/** Whether the string value [p, end) (valid UTF-8, no escapes left) holds a character that is not \s. */
function nonBlank(p: usize, end: usize): bool {
  while (p < end) {
    const b = <u32>load<u8>(p);
    if (b < 0x80) {
      if (!isSpace(b)) return true;
      p++;
      continue;
    }
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

/**
 * For the raw bytes [p, end) of a string: how many bytes add no UTF-16 unit (a two-byte character
 * is one unit, four bytes are a surrogate pair), or -1 when they are not valid UTF-8 (the rules
 * of firstInvalidUtf8 in stream.ts). Escapes are ASCII and pass through.
 */
function utf8Less(p: usize, end: usize): i32 {
  let less: usize = 0;
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
    less += need == 3 ? 2 : need;
    p += need + 1;
  }
  return <i32>less;
}

function roleLength(role: i32): usize {
  return role == 1 ? 6 : role == 2 ? 4 : 9;
}

/** Writes the role's name and a 0 byte at out (exactly that: the content may follow already). */
function putRole(out: usize, role: i32): usize {
  if (role == 3) {
    store<u64>(out, load<u64>(ROLE_NAMES + 10));
    store<u8>(out + 8, load<u8>(ROLE_NAMES + 18));
    store<u8>(out + 9, 0);
    return out + 10;
  }
  const s: usize = role == 1 ? ROLE_NAMES : ROLE_NAMES + 6;
  const n: usize = role == 1 ? 6 : 4;
  store<u32>(out, load<u32>(s));
  store<u32>(out + n - 4, load<u32>(s + n - 4));
  store<u8>(out + n, 0);
  return out + n + 1;
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
