// AssemblyScript (compiled to dist/fastLine.wasm by scripts/build.mjs; not part of the tsc build).
//
// Recognises, on the line's bytes, the shape that most dataset lines have and that the validator
// has nothing to say about (and, in checkTools further down, the tool-call shape of agentic data):
//
//   {"messages": [{"role": "system"|"user"|"assistant", "content": "<non-blank string>"}, ...]}
//
// (keys in either order, any JSON whitespace, any valid string escapes, valid UTF-8; a system
// message only first, roles never repeated back to back, the last one the assistant's: the rules
// of isPlainCleanExample in rules.ts). For such a line it returns the duplicate hash that
// exampleHash (line.ts) computes from the parsed example: 53 bits of xxHash64 of the canonical
// form `role \0 content \1` per message, with the content unescaped and encoded as UTF-8 (a lone
// surrogate escape is declined: the rules report it). For anything else it returns -1 and the
// caller runs the full validator, which owns every diagnostic. So this module can only decline or agree; the
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
    const v = load<u8>(UNESCAPE + <usize>c); // \" \\ \/ \b \f \n \r \t: one table look-up, not a chain of tests
    if (v == 0) return 0;
    store<u8>(out, v);
    out++;
    p += 2;
  }
  return 0; // not reached
}

/** The byte each one-character escape stands for, by the character after the backslash; 0: not an escape. */
const UNESCAPE = memory.data<u8>([
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2f,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5c, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00,
  0x00, 0x00, 0x0d, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
]);

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

// ---------------------------------------------------------------------------------------------
// Agentic lines: the tool-call shape.
//
//   {"messages": [...], "tools": [...]}   (either order; "tools" optional)
//
// where each message has "role" (system, user, assistant, tool), and any of "content" (a string;
// null or absent only on an assistant message with tool calls), "tool_calls" (assistant only: a
// non-empty array of {"id", "type": "function", "function": {"name", "arguments"}} with arguments
// a string that holds valid JSON), "tool_call_id" (tool messages only, answering an id made
// earlier in the example), "name"; and the rules of isPlainCleanExample on roles (a system message
// only first, no role twice in a row but tool, the assistant last). "tools" may hold any JSON.
// For such a line it returns exampleHash's value: the canonical form of line.ts, where every part
// that is not a message's role or content is JSON.stringify of the value with object keys sorted
// (`stable`): here strings are unescaped and escaped again as JSON.stringify does, objects' members
// sorted by key, integers copied; anything it cannot write exactly as stable does (a fraction, an
// exponent, a key with an escape or a non-ASCII byte, nesting over 64) is declined. So is a
// duplicate key, a lone surrogate, a CR, or any other key: the rules see those.
// ---------------------------------------------------------------------------------------------

const TOOLS_KEY = memory.data<u8>([0x22, 0x74, 0x6f, 0x6f, 0x6c, 0x73, 0x22]); // "tools"
const TOOL_CALLS = memory.data<u8>([0x22, 0x74, 0x6f, 0x6f, 0x6c, 0x5f, 0x63, 0x61, 0x6c, 0x6c, 0x73, 0x22]); // "tool_calls"
const TOOL_CALL_ID = memory.data<u8>([0x22, 0x74, 0x6f, 0x6f, 0x6c, 0x5f, 0x63, 0x61, 0x6c, 0x6c, 0x5f, 0x69, 0x64, 0x22]); // "tool_call_id"
const NAME = memory.data<u8>([0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22]); // "name"
const TOOL = memory.data<u8>([0x22, 0x74, 0x6f, 0x6f, 0x6c, 0x22]); // "tool"
const ID = memory.data<u8>([0x22, 0x69, 0x64, 0x22]); // "id"
const TYPE = memory.data<u8>([0x22, 0x74, 0x79, 0x70, 0x65, 0x22]); // "type"
const FUNCTION = memory.data<u8>([0x22, 0x66, 0x75, 0x6e, 0x63, 0x74, 0x69, 0x6f, 0x6e, 0x22]); // "function"
const ARGUMENTS = memory.data<u8>([0x22, 0x61, 0x72, 0x67, 0x75, 0x6d, 0x65, 0x6e, 0x74, 0x73, 0x22]); // "arguments"
const NULL = memory.data<u8>([0x6e, 0x75, 0x6c, 0x6c]);
const TRUE = memory.data<u8>([0x74, 0x72, 0x75, 0x65]);
const FALSE = memory.data<u8>([0x66, 0x61, 0x6c, 0x73, 0x65]);
/** Role names without quotes, indexed by role code 1..4 (offset, length). */
const NAMES4 = memory.data<u8>([0x73, 0x79, 0x73, 0x74, 0x65, 0x6d, 0x75, 0x73, 0x65, 0x72, 0x61, 0x73, 0x73, 0x69, 0x73, 0x74, 0x61, 0x6e, 0x74, 0x74, 0x6f, 0x6f, 0x6c]);
/** Literal pieces of the canonical form, without quotes where stable writes none. */
const S_UNDEFINED = memory.data<u8>([0x75, 0x6e, 0x64, 0x65, 0x66, 0x69, 0x6e, 0x65, 0x64]);
// {"function":{"arguments":
const S_CALL_A = memory.data<u8>([0x7b, 0x22, 0x66, 0x75, 0x6e, 0x63, 0x74, 0x69, 0x6f, 0x6e, 0x22, 0x3a, 0x7b, 0x22, 0x61, 0x72, 0x67, 0x75, 0x6d, 0x65, 0x6e, 0x74, 0x73, 0x22, 0x3a]);
// ,"name":
const S_CALL_B = memory.data<u8>([0x2c, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a]);
// },"id":
const S_CALL_C = memory.data<u8>([0x7d, 0x2c, 0x22, 0x69, 0x64, 0x22, 0x3a]);
// ,"type":"function"}
const S_CALL_D = memory.data<u8>([0x2c, 0x22, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0x66, 0x75, 0x6e, 0x63, 0x74, 0x69, 0x6f, 0x6e, 0x22, 0x7d]);

/** Call ids made so far in the example: source offset and length of each (raw, no escapes). */
const MAX_IDS: i32 = 256;
const IDS = memory.data(MAX_IDS * 8);
let idCount: i32 = 0;
/** Members of the objects being sorted (segment start, segment length, key start, key length). */
const MAX_MEMBERS: i32 = 2048;
const MEMBERS = memory.data(MAX_MEMBERS * 16);
let memberTop: i32 = 0;
/** Open containers of the JSON validator (for "arguments"). */
const MAX_DEPTH: i32 = 256;
const JSTACK = memory.data(MAX_DEPTH);

// Scratch regions of one check, each sized from the line's length n.
let rTools: usize = 0; // the tools' canonical form, and room to sort members (2n)
let rStr: usize = 0; // one string unescaped (n)
let rContent: usize = 0; // the current message's content, unescaped (n)
let rCalls: usize = 0; // the current message's tool calls, canonical (n)
let rArgs: usize = 0; // one call's arguments as JSON.stringify writes them (n)

@inline
function put(out: usize, s: usize, n: usize): usize {
  memory.copy(out, s, n);
  return out + n;
}

/**
 * The line [p0, end) as an agentic example; `out0` has room for 2n + 64 bytes, `scratch0` for
 * 6n + 256. Returns hash53 of the canonical form, or -1 (declined: the rules decide).
 */
export function checkTools(p0: usize, end: usize, out0: usize, scratch0: usize): f64 {
  const n = end - p0;
  rTools = scratch0;
  rStr = rTools + 2 * n + 64;
  rContent = rStr + n + 32;
  rCalls = rContent + n + 32;
  rArgs = rCalls + n + 64;
  idCount = 0;
  memberTop = 0;
  let p = ws(p0, end);
  if (!byteAt(p, end, 0x7b)) return -1;
  p = ws(p + 1, end);
  let out = out0;
  let haveMessages = false;
  let toolsLen: usize = 0;
  let haveTools = false;
  while (true) {
    if (lit(p, end, MESSAGES, 10)) {
      if (haveMessages) return -1;
      p = ws(p + 10, end);
      if (!byteAt(p, end, 0x3a)) return -1;
      p = ws(p + 1, end);
      p = messages(p, end, out0);
      if (p == 0) return -1;
      out = outEnd;
      haveMessages = true;
    } else if (lit(p, end, TOOLS_KEY, 7)) {
      if (haveTools) return -1;
      p = ws(p + 7, end);
      if (!byteAt(p, end, 0x3a)) return -1;
      p = ws(p + 1, end);
      if (!byteAt(p, end, 0x5b)) return -1; // "tools" must be an array (bad-field)
      p = canonTools(p, end, rTools);
      if (p == 0) return -1;
      toolsLen = canonEnd - rTools;
      haveTools = true;
    } else return -1;
    p = ws(p, end);
    if (p >= end) return -1;
    const c = load<u8>(p);
    p = ws(p + 1, end);
    if (c == 0x2c) continue;
    if (c == 0x7d) break;
    return -1;
  }
  if (p != end || !haveMessages) return -1;
  if (haveTools) {
    store<u8>(out, 3);
    out = put(out + 1, TOOLS_KEY + 1, 5);
    store<u8>(out, 2);
    out = put(out + 1, rTools, toolsLen);
    store<u8>(out, 1);
    out++;
  }
  // The UTF-16 length and the UTF-8 check, over the whole line at once.
  const less = utf8Less(p0, end);
  if (less < 0) return -1;
  lastLength16 = <i32>(n - <usize>less);
  return hash53(out0, out - out0);
}

/** The messages array at p, its canonical form written at out (outEnd set); returns the offset after it, or 0. */
function messages(p: usize, end: usize, out: usize): usize {
  if (!byteAt(p, end, 0x5b)) return 0;
  p = ws(p + 1, end);
  let prev: i32 = 0;
  let count: i32 = 0;
  while (true) {
    if (!byteAt(p, end, 0x7b)) return 0;
    p = ws(p + 1, end);
    let role: i32 = 0;
    let seen: i32 = 0; // keys seen: 1 role, 2 content, 4 tool_calls, 8 tool_call_id, 16 name
    let contentKind: i32 = 0; // 0 absent, 1 string, 2 null
    let contentAt: usize = 0; // where the content's value was written: in place when the role came first
    let contentEnd: usize = 0;
    let callsEnd: usize = 0;
    let idAt: usize = 0;
    let idLen: usize = 0;
    let nameAt: usize = 0;
    let nameLen: usize = 0;
    if (byteAt(p, end, 0x7d)) return 0; // an empty message
    while (true) {
      if (lit(p, end, ROLE, 6)) {
        if (seen & 1) return 0;
        seen |= 1;
        p = ws(p + 6, end);
        if (!byteAt(p, end, 0x3a)) return 0;
        p = ws(p + 1, end);
        if (lit(p, end, USER, 6)) {
          role = 2;
          p += 6;
        } else if (lit(p, end, ASSISTANT, 11)) {
          role = 3;
          p += 11;
        } else if (lit(p, end, TOOL, 6)) {
          role = 4;
          p += 6;
        } else if (lit(p, end, SYSTEM, 8)) {
          role = 1;
          p += 8;
        } else return 0;
      } else if (lit(p, end, CONTENT, 9)) {
        if (seen & 2) return 0;
        seen |= 2;
        p = ws(p + 9, end);
        if (!byteAt(p, end, 0x3a)) return 0;
        p = ws(p + 1, end);
        if (byteAt(p, end, 0x22)) {
          contentAt = role != 0 ? out + roleLength4(role) + 1 : rContent;
          const q = scanString(p + 1, end, contentAt);
          if (q == 0) return 0;
          contentEnd = outEnd;
          contentKind = 1;
          p = q + 1;
        } else if (lit(p, end, NULL, 4)) {
          contentKind = 2;
          p += 4;
        } else return 0;
      } else if (lit(p, end, TOOL_CALLS, 12)) {
        if (seen & 4) return 0;
        seen |= 4;
        p = ws(p + 12, end);
        if (!byteAt(p, end, 0x3a)) return 0;
        p = ws(p + 1, end);
        p = toolCalls(p, end, rCalls);
        if (p == 0) return 0;
        callsEnd = outEnd;
      } else if (lit(p, end, TOOL_CALL_ID, 14)) {
        if (seen & 8) return 0;
        seen |= 8;
        p = ws(p + 14, end);
        if (!byteAt(p, end, 0x3a)) return 0;
        p = ws(p + 1, end);
        idAt = p;
        p = rawString(p, end);
        if (p == 0) return 0;
        idLen = p - idAt;
      } else if (lit(p, end, NAME, 6)) {
        if (seen & 16) return 0;
        seen |= 16;
        p = ws(p + 6, end);
        if (!byteAt(p, end, 0x3a)) return 0;
        p = ws(p + 1, end);
        nameAt = p;
        p = rawString(p, end);
        if (p == 0) return 0;
        nameLen = p - nameAt;
      } else return 0;
      p = ws(p, end);
      if (p >= end) return 0;
      const c = load<u8>(p);
      p = ws(p + 1, end);
      if (c == 0x2c) continue;
      if (c == 0x7d) break;
      return 0;
    }
    // The rules, for this message.
    if (role == 0) return 0;
    const hasCalls = (seen & 4) != 0;
    if (hasCalls && role != 3) return 0;
    if (!hasCalls && (contentKind != 1 || !nonBlank(contentAt, contentEnd))) return 0;
    if (seen & 8) {
      if (role != 4 || !knownId(idAt, idLen)) return 0;
    }
    if (role == 1 && count > 0) return 0;
    if (role == prev && role != 4) return 0;
    // The canonical form: role \0 content \1, then the other keys in sorted order.
    out = putRole4(out, role);
    if (contentKind == 1) {
      if (contentAt != out) memory.copy(out, contentAt, contentEnd - contentAt); // the content came before the role
      out += contentEnd - contentAt;
    }
    else if (contentKind == 2) out = put(out, NULL, 4);
    else out = put(out, S_UNDEFINED, 9);
    store<u8>(out, 1);
    out++;
    if (seen & 16) out = extra(out, NAME, 6, nameAt, nameLen);
    if (seen & 8) out = extra(out, TOOL_CALL_ID, 14, idAt, idLen);
    if (seen & 4) out = extra(out, TOOL_CALLS, 12, rCalls, callsEnd - rCalls);
    prev = role;
    count++;
    if (p >= end) return 0;
    const c = load<u8>(p);
    p = ws(p + 1, end);
    if (c == 0x2c) continue;
    if (c == 0x5d) break;
    return 0;
  }
  if (prev != 3) return 0;
  outEnd = out;
  return p;
}

/** key \2 value \1, the key without its quotes. */
function extra(out: usize, key: usize, keyLen: usize, value: usize, valueLen: usize): usize {
  out = put(out, key + 1, keyLen - 2);
  store<u8>(out, 2);
  out = put(out + 1, value, valueLen);
  store<u8>(out, 1);
  return out + 1;
}

function roleLength4(role: i32): usize {
  return role == 1 ? 6 : role == 2 ? 4 : role == 3 ? 9 : 4;
}

function putRole4(out: usize, role: i32): usize {
  const at: usize = role == 1 ? 0 : role == 2 ? 6 : role == 3 ? 10 : 19;
  const n: usize = role == 1 ? 6 : role == 2 ? 4 : role == 3 ? 9 : 4;
  out = put(out, NAMES4 + at, n);
  store<u8>(out, 0);
  return out + 1;
}

/**
 * A string at p (its opening quote) with no escape, no control character and at least one byte,
 * as JSON.stringify writes it again unchanged; returns the offset after the closing quote, or 0.
 */
function rawString(p: usize, end: usize): usize {
  if (!byteAt(p, end, 0x22)) return 0;
  const start = p;
  p++;
  while (p < end) {
    const b = load<u8>(p);
    if (b == 0x22) return p - start > 1 ? p + 1 : 0;
    if (b == 0x5c || b < 0x20) return 0;
    p++;
  }
  return 0;
}

/** Whether the raw quoted string [p, p + len) is the id of a call made earlier in the example. */
function knownId(p: usize, len: usize): bool {
  for (let k: i32 = 0; k < idCount; k++) {
    const at = <usize>load<u32>(IDS + <usize>k * 8);
    const n = <usize>load<u32>(IDS + <usize>k * 8 + 4);
    if (n == len && memory.compare(at, p, n) == 0) return true;
  }
  return false;
}

/** The tool_calls array at p, canonical (stable) at out, outEnd set; returns the offset after it, or 0. */
function toolCalls(p: usize, end: usize, out: usize): usize {
  if (!byteAt(p, end, 0x5b)) return 0;
  p = ws(p + 1, end);
  if (byteAt(p, end, 0x5d)) return 0; // empty: the rules judge the content as if there were none
  store<u8>(out, 0x5b);
  out++;
  let first = true;
  while (true) {
    if (!byteAt(p, end, 0x7b)) return 0;
    p = ws(p + 1, end);
    let seen: i32 = 0; // 1 id, 2 type, 4 function
    let idAt: usize = 0;
    let idLen: usize = 0;
    let nameAt: usize = 0;
    let nameLen: usize = 0;
    let argsLen: usize = 0;
    while (true) {
      if (lit(p, end, ID, 4)) {
        if (seen & 1) return 0;
        seen |= 1;
        p = ws(p + 4, end);
        if (!byteAt(p, end, 0x3a)) return 0;
        p = ws(p + 1, end);
        idAt = p;
        p = rawString(p, end);
        if (p == 0) return 0;
        idLen = p - idAt;
      } else if (lit(p, end, TYPE, 6)) {
        if (seen & 2) return 0;
        seen |= 2;
        p = ws(p + 6, end);
        if (!byteAt(p, end, 0x3a)) return 0;
        p = ws(p + 1, end);
        if (!lit(p, end, FUNCTION, 10)) return 0;
        p += 10;
      } else if (lit(p, end, FUNCTION, 10)) {
        if (seen & 4) return 0;
        seen |= 4;
        p = ws(p + 10, end);
        if (!byteAt(p, end, 0x3a)) return 0;
        p = ws(p + 1, end);
        if (!byteAt(p, end, 0x7b)) return 0;
        p = ws(p + 1, end);
        let fseen: i32 = 0; // 1 name, 2 arguments
        while (true) {
          if (lit(p, end, NAME, 6)) {
            if (fseen & 1) return 0;
            fseen |= 1;
            p = ws(p + 6, end);
            if (!byteAt(p, end, 0x3a)) return 0;
            p = ws(p + 1, end);
            nameAt = p;
            p = rawString(p, end);
            if (p == 0) return 0;
            nameLen = p - nameAt;
          } else if (lit(p, end, ARGUMENTS, 11)) {
            if (fseen & 2) return 0;
            fseen |= 2;
            p = ws(p + 11, end);
            if (!byteAt(p, end, 0x3a)) return 0;
            p = ws(p + 1, end);
            if (!byteAt(p, end, 0x22)) return 0; // arguments as an object: the rules' path
            const q = scanString(p + 1, end, rStr);
            if (q == 0) return 0;
            if (!validJson(rStr, outEnd)) return 0;
            argsLen = jsonString(rStr, outEnd, rArgs) - rArgs;
            p = q + 1;
          } else return 0;
          p = ws(p, end);
          if (p >= end) return 0;
          const c = load<u8>(p);
          p = ws(p + 1, end);
          if (c == 0x2c) continue;
          if (c == 0x7d) break;
          return 0;
        }
        if (fseen != 3) return 0;
      } else return 0;
      p = ws(p, end);
      if (p >= end) return 0;
      const c = load<u8>(p);
      p = ws(p + 1, end);
      if (c == 0x2c) continue;
      if (c == 0x7d) break;
      return 0;
    }
    if (seen != 7) return 0;
    if (idCount >= MAX_IDS) return 0;
    store<u32>(IDS + <usize>idCount * 8, <u32>idAt);
    store<u32>(IDS + <usize>idCount * 8 + 4, <u32>idLen);
    idCount++;
    // {"function":{"arguments":A,"name":N},"id":I,"type":"function"}: stable's order of keys.
    if (!first) {
      store<u8>(out, 0x2c);
      out++;
    }
    first = false;
    out = put(out, S_CALL_A, 25);
    out = put(out, rArgs, argsLen);
    out = put(out, S_CALL_B, 8);
    out = put(out, nameAt, nameLen);
    out = put(out, S_CALL_C, 7);
    out = put(out, idAt, idLen);
    out = put(out, S_CALL_D, 19);
    if (p >= end) return 0;
    const c = load<u8>(p);
    p = ws(p + 1, end);
    if (c == 0x2c) continue;
    if (c == 0x5d) break;
    return 0;
  }
  store<u8>(out, 0x5d);
  outEnd = out + 1;
  return p;
}

let canonEnd: usize = 0;

// Tool definitions seen before. Most files repeat the same few definitions on every line (the
// tools an agent has), each a JSON Schema whose members canonObject would sort again. A definition
// whose bytes are exactly those of one canonicalised before is that same JSON value (an object's
// bytes end at its closing brace), so its canonical form is copied instead. The cache only
// remembers what canon computed; a near miss (same start, other bytes later) is compared in full
// and falls back to canon.
const TC_SLOTS: usize = 128; // a power of two
const TC_PROBES: usize = 4; // slots tried from the home slot
const TC_MAX: usize = 4096; // longest source (and canonical form) kept
const TC_KEY_BYTES: usize = 64; // the home slot comes from a hash of the first 64 bytes
/** Per slot: key (u64), source length (u32), canonical length (u32); 0 lengths: empty. */
const TC_META = memory.data(<i32>(TC_SLOTS * 16));
/** Per slot: the source bytes, then the canonical bytes. */
const TC_DATA = memory.data(<i32>(TC_SLOTS * 2 * TC_MAX));
let tcNext: usize = 0; // which probe slot to overwrite when all are full

/** A hash of the 64 bytes at p (p + 64 <= end): the cache's key. */
function prefixKey(p: usize): u64 {
  let h: u64 = P5;
  for (let k: usize = 0; k < TC_KEY_BYTES; k += 8) h = rotl<u64>(h ^ (load<u64>(p + k) * P2), 31) * P1;
  return h ^ (h >> 29);
}

/** Whether the n bytes at a and at b are the same, 16 at a time. */
function sameBytes(a: usize, b: usize, n: usize): bool {
  let i: usize = 0;
  while (i + 16 <= n) {
    if (!i8x16.all_true(i8x16.eq(v128.load(a + i), v128.load(b + i)))) return false;
    i += 16;
  }
  if (i == n) return true;
  if (n >= 16) return i8x16.all_true(i8x16.eq(v128.load(a + n - 16), v128.load(b + n - 16)));
  while (i < n) {
    if (load<u8>(a + i) != load<u8>(b + i)) return false;
    i++;
  }
  return true;
}

/** One element of the tools array (an object at p), canonical at dst as canon writes it, from the cache when its bytes were seen before. */
function toolDefinition(p: usize, end: usize, dst: usize): usize {
  if (p + TC_KEY_BYTES > end) return canon(p, end, dst, 1);
  const key = prefixKey(p);
  const home = <usize>(key ^ (key >> 32)) & (TC_SLOTS - 1);
  let free: usize = TC_SLOTS;
  for (let k: usize = 0; k < TC_PROBES; k++) {
    const slot = (home + k) & (TC_SLOTS - 1);
    const m = TC_META + slot * 16;
    const srcLen = <usize>load<u32>(m + 8);
    if (srcLen == 0) {
      if (free == TC_SLOTS) free = slot;
      continue;
    }
    if (load<u64>(m) != key || p + srcLen > end) continue;
    const data = TC_DATA + slot * 2 * TC_MAX;
    if (!sameBytes(data, p, srcLen)) continue;
    const canonLen = <usize>load<u32>(m + 12);
    memory.copy(dst, data + TC_MAX, canonLen);
    canonEnd = dst + canonLen;
    return p + srcLen;
  }
  const q = canon(p, end, dst, 1);
  if (q == 0) return 0;
  const srcLen = q - p;
  const canonLen = canonEnd - dst;
  if (srcLen <= TC_MAX && canonLen <= TC_MAX) {
    if (free == TC_SLOTS) {
      free = (home + tcNext) & (TC_SLOTS - 1);
      tcNext = (tcNext + 1) & (TC_PROBES - 1);
    }
    const m = TC_META + free * 16;
    const data = TC_DATA + free * 2 * TC_MAX;
    store<u64>(m, key);
    store<u32>(m + 8, <u32>srcLen);
    store<u32>(m + 12, <u32>canonLen);
    memory.copy(data, p, srcLen);
    memory.copy(data + TC_MAX, dst, canonLen);
  }
  return q;
}

/** The "tools" array at p, canonical at dst (canonEnd set), as canon writes it; its object elements through the cache. */
function canonTools(p: usize, end: usize, dst: usize): usize {
  let out = dst;
  store<u8>(out, 0x5b);
  out++;
  p = ws(p + 1, end);
  if (byteAt(p, end, 0x5d)) {
    store<u8>(out, 0x5d);
    canonEnd = out + 1;
    return p + 1;
  }
  while (true) {
    p = byteAt(p, end, 0x7b) ? toolDefinition(p, end, out) : canon(p, end, out, 1);
    if (p == 0) return 0;
    out = canonEnd;
    p = ws(p, end);
    if (p >= end) return 0;
    const d = load<u8>(p);
    store<u8>(out, d);
    out++;
    p = ws(p + 1, end);
    if (d == 0x5d) break;
    if (d != 0x2c) return 0;
  }
  canonEnd = out;
  return p;
}

/**
 * The JSON value at p written at dst as line.ts's `stable` writes the parsed value (JSON.stringify
 * with object keys sorted); canonEnd set. Returns the offset after the value, or 0 to decline.
 * An object's members are written in source order, then copied in key order into the room after
 * them and back, so dst needs twice the value's length.
 */
function canon(p: usize, end: usize, dst: usize, depth: i32): usize {
  if (p >= end || depth > 64) return 0;
  const c = load<u8>(p);
  if (c == 0x22) {
    const q = scanString(p + 1, end, rStr);
    if (q == 0) return 0;
    canonEnd = jsonString(rStr, outEnd, dst);
    return q + 1;
  }
  if (c == 0x7b) return canonObject(p, end, dst, depth);
  if (c == 0x5b) {
    let out = dst;
    store<u8>(out, 0x5b);
    out++;
    p = ws(p + 1, end);
    if (byteAt(p, end, 0x5d)) {
      store<u8>(out, 0x5d);
      canonEnd = out + 1;
      return p + 1;
    }
    while (true) {
      p = canon(p, end, out, depth + 1);
      if (p == 0) return 0;
      out = canonEnd;
      p = ws(p, end);
      if (p >= end) return 0;
      const d = load<u8>(p);
      store<u8>(out, d);
      out++;
      p = ws(p + 1, end);
      if (d == 0x5d) break;
      if (d != 0x2c) return 0;
    }
    canonEnd = out;
    return p;
  }
  if (lit(p, end, TRUE, 4) || lit(p, end, NULL, 4)) {
    store<u32>(dst, load<u32>(p));
    canonEnd = dst + 4;
    return p + 4;
  }
  if (p + 5 <= end && load<u32>(p) == load<u32>(FALSE) && load<u8>(p + 4) == 0x65) {
    memory.copy(dst, p, 5);
    canonEnd = dst + 5;
    return p + 5;
  }
  // Numbers: only integers that JSON.stringify writes back the same (no -0, at most 15 digits).
  const start = p;
  if (c == 0x2d) p++;
  if (p >= end) return 0;
  const first = load<u8>(p);
  if (first < 0x30 || first > 0x39) return 0;
  if (first == 0x30) {
    if (c == 0x2d) return 0; // -0 is written 0
    p++;
  } else {
    while (p < end && load<u8>(p) >= 0x30 && load<u8>(p) <= 0x39) p++;
  }
  if (p - start > 15) return 0;
  if (p < end) {
    const d = load<u8>(p);
    if (d == 0x2e || d == 0x65 || d == 0x45 || (d >= 0x30 && d <= 0x39)) return 0; // a fraction, an exponent, a leading zero
  }
  memory.copy(dst, start, p - start);
  canonEnd = dst + (p - start);
  return p;
}

function canonObject(p: usize, end: usize, dst: usize, depth: i32): usize {
  p = ws(p + 1, end);
  store<u8>(dst, 0x7b);
  if (byteAt(p, end, 0x7d)) {
    store<u8>(dst + 1, 0x7d);
    canonEnd = dst + 2;
    return p + 1;
  }
  const base = memberTop;
  let out = dst + 1;
  while (true) {
    // "key": only keys that need no escape and are ASCII, so that byte order is JavaScript's order.
    if (!byteAt(p, end, 0x22)) return 0;
    const keyAt = p + 1;
    let k = keyAt;
    while (k < end) {
      const b = load<u8>(k);
      if (b == 0x22) break;
      if (b == 0x5c || b < 0x20 || b >= 0x80) return 0;
      k++;
    }
    if (k >= end) return 0;
    const keyLen = k - keyAt;
    p = ws(k + 1, end);
    if (!byteAt(p, end, 0x3a)) return 0;
    p = ws(p + 1, end);
    if (memberTop >= MAX_MEMBERS) return 0;
    const seg = out;
    out = put(out, keyAt - 1, keyLen + 2);
    store<u8>(out, 0x3a);
    p = canon(p, end, out + 1, depth + 1);
    if (p == 0) return 0;
    out = canonEnd;
    const m = MEMBERS + <usize>memberTop * 16;
    store<u32>(m, <u32>seg);
    store<u32>(m + 4, <u32>(out - seg));
    store<u32>(m + 8, <u32>keyAt);
    store<u32>(m + 12, <u32>keyLen);
    memberTop++;
    p = ws(p, end);
    if (p >= end) return 0;
    const d = load<u8>(p);
    p = ws(p + 1, end);
    if (d == 0x7d) break;
    if (d != 0x2c) return 0;
  }
  // Sort the members by key (insertion sort: objects are small); equal keys are a duplicate.
  for (let i = base + 1; i < memberTop; i++) {
    const mi = MEMBERS + <usize>i * 16;
    const r0 = load<u64>(mi);
    const r1 = load<u64>(mi + 8);
    let j = i - 1;
    while (j >= base) {
      const cmp = compareKeys(MEMBERS + <usize>j * 16 + 8, <usize>(r1 & 0xffffffff), <usize>(r1 >> 32));
      if (cmp == 0) return 0;
      if (cmp < 0) break;
      const mj = MEMBERS + <usize>j * 16;
      store<u64>(mj + 16, load<u64>(mj));
      store<u64>(mj + 24, load<u64>(mj + 8));
      j--;
    }
    const mk = MEMBERS + <usize>(j + 1) * 16;
    store<u64>(mk, r0);
    store<u64>(mk + 8, r1);
  }
  // Copy the segments in key order into the room after them, then back.
  const tmp = out;
  let t = tmp;
  for (let i = base; i < memberTop; i++) {
    const m = MEMBERS + <usize>i * 16;
    if (i > base) {
      store<u8>(t, 0x2c);
      t++;
    }
    t = put(t, <usize>load<u32>(m), <usize>load<u32>(m + 4));
  }
  memory.copy(dst + 1, tmp, t - tmp);
  out = dst + 1 + (t - tmp);
  store<u8>(out, 0x7d);
  canonEnd = out + 1;
  memberTop = base;
  return p;
}

/** Compares the key of member record m (key start at m, length at m + 4) with [b, b + bn): <0, 0, >0 as bytes. */
function compareKeys(m: usize, b: usize, bn: usize): i32 {
  const a = <usize>load<u32>(m);
  const an = <usize>load<u32>(m + 4);
  const n = an < bn ? an : bn;
  const c = memory.compare(a, b, n);
  if (c != 0) return c;
  return an < bn ? -1 : an > bn ? 1 : 0;
}

/** The string value [p, end) (unescaped UTF-8) written at dst as JSON.stringify writes it; returns the end. */
function jsonString(p: usize, end: usize, dst: usize): usize {
  store<u8>(dst, 0x22);
  dst++;
  const quote = i8x16.splat(0x22);
  const backslash = i8x16.splat(0x5c);
  const space = i8x16.splat(0x20);
  while (p < end) {
    // Runs with nothing to escape go 16 bytes at a time (dst has room for 16 past the end).
    if (p + 16 <= end) {
      const v = v128.load(p);
      v128.store(dst, v);
      const m = i8x16.bitmask(v128.or(v128.or(i8x16.eq(v, quote), i8x16.eq(v, backslash)), i8x16.lt_u(v, space)));
      if (m == 0) {
        p += 16;
        dst += 16;
        continue;
      }
      const k = <usize>ctz(m);
      p += k;
      dst += k;
    }
    const b = load<u8>(p);
    p++;
    if (b == 0x22 || b == 0x5c) {
      store<u8>(dst, 0x5c);
      store<u8>(dst + 1, b);
      dst += 2;
    } else if (b < 0x20) {
      store<u8>(dst, 0x5c);
      let e: u8 = 0;
      if (b == 0x08) e = 0x62;
      else if (b == 0x0c) e = 0x66;
      else if (b == 0x0a) e = 0x6e;
      else if (b == 0x0d) e = 0x72;
      else if (b == 0x09) e = 0x74;
      if (e != 0) {
        store<u8>(dst + 1, e);
        dst += 2;
      } else {
        store<u8>(dst + 1, 0x75);
        store<u8>(dst + 2, 0x30);
        store<u8>(dst + 3, 0x30);
        store<u8>(dst + 4, HEX_LOWER[b >> 4]);
        store<u8>(dst + 5, HEX_LOWER[b & 15]);
        dst += 6;
      }
    } else {
      store<u8>(dst, b);
      dst++;
    }
  }
  store<u8>(dst, 0x22);
  return dst + 1;
}

const HEX_LOWER: StaticArray<u8> = [0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66];

/** JSON whitespace as JSON.parse reads it inside a value (a CR included: "arguments" is a document of its own). */
function wsj(p: usize, end: usize): usize {
  while (p < end) {
    const b = load<u8>(p);
    if (b != 0x20 && b != 0x09 && b != 0x0a && b != 0x0d) break;
    p++;
  }
  return p;
}

/** Whether [p, end) (UTF-8) is one JSON document that JSON.parse accepts; strict, iterative, nesting up to MAX_DEPTH. */
function validJson(p: usize, end: usize): bool {
  let depth: i32 = 0;
  p = wsj(p, end);
  while (true) {
    // A value at p.
    if (p >= end) return false;
    const c = load<u8>(p);
    if (c == 0x7b || c == 0x5b) {
      if (depth >= MAX_DEPTH) return false;
      store<u8>(JSTACK + <usize>depth, c);
      depth++;
      p = wsj(p + 1, end);
      if (p >= end) return false;
      const d = load<u8>(p);
      if ((c == 0x7b && d == 0x7d) || (c == 0x5b && d == 0x5d)) {
        depth--;
        p++;
      } else {
        if (c == 0x7b) {
          p = jsonKey(p, end);
          if (p == 0) return false;
        }
        continue;
      }
    } else if (c == 0x22) {
      p = jsonStringEnd(p + 1, end);
      if (p == 0) return false;
    } else if (lit(p, end, TRUE, 4) || lit(p, end, NULL, 4)) {
      p += 4;
    } else if (p + 5 <= end && load<u32>(p) == load<u32>(FALSE) && load<u8>(p + 4) == 0x65) {
      p += 5;
    } else {
      p = jsonNumberEnd(p, end);
      if (p == 0) return false;
    }
    // After a value: close containers, or a comma and the next member.
    while (true) {
      p = wsj(p, end);
      if (depth == 0) return p == end;
      if (p >= end) return false;
      const top = load<u8>(JSTACK + <usize>(depth - 1));
      const d = load<u8>(p);
      if (d == 0x2c) {
        p = wsj(p + 1, end);
        if (top == 0x7b) {
          p = jsonKey(p, end);
          if (p == 0) return false;
        }
        break;
      }
      if ((top == 0x7b && d == 0x7d) || (top == 0x5b && d == 0x5d)) {
        depth--;
        p++;
        continue;
      }
      return false;
    }
  }
  return false; // not reached
}

/** A key and its colon at p; returns where the value starts, or 0. */
function jsonKey(p: usize, end: usize): usize {
  if (!byteAt(p, end, 0x22)) return 0;
  p = jsonStringEnd(p + 1, end);
  if (p == 0) return 0;
  p = wsj(p, end);
  if (!byteAt(p, end, 0x3a)) return 0;
  return wsj(p + 1, end);
}

/** From after an opening quote: the offset after the closing one, or 0 when the string is not valid JSON. */
function jsonStringEnd(p: usize, end: usize): usize {
  const quote = i8x16.splat(0x22);
  const backslash = i8x16.splat(0x5c);
  const space = i8x16.splat(0x20);
  while (p < end) {
    if (p + 16 <= end) {
      const v = v128.load(p);
      const m = i8x16.bitmask(v128.or(v128.or(i8x16.eq(v, quote), i8x16.eq(v, backslash)), i8x16.lt_u(v, space)));
      if (m == 0) {
        p += 16;
        continue;
      }
      p += <usize>ctz(m);
    }
    const b = load<u8>(p);
    if (b == 0x22) return p + 1;
    if (b < 0x20) return 0;
    if (b == 0x5c) {
      if (p + 1 >= end) return 0;
      const e = load<u8>(p + 1);
      if (e == 0x75) {
        if (!isHex4(p + 2, end)) return 0;
        p += 6;
        continue;
      }
      if (e != 0x22 && e != 0x5c && e != 0x2f && e != 0x62 && e != 0x66 && e != 0x6e && e != 0x72 && e != 0x74) return 0;
      p += 2;
      continue;
    }
    p++;
  }
  return 0;
}

/** A JSON number at p: the offset after it, or 0. */
function jsonNumberEnd(p: usize, end: usize): usize {
  if (byteAt(p, end, 0x2d)) p++;
  if (p >= end) return 0;
  let b = load<u8>(p);
  if (b == 0x30) p++;
  else if (b >= 0x31 && b <= 0x39) {
    while (p < end && isDigit(load<u8>(p))) p++;
  } else return 0;
  if (byteAt(p, end, 0x2e)) {
    p++;
    const s = p;
    while (p < end && isDigit(load<u8>(p))) p++;
    if (p == s) return 0;
  }
  if (p < end && (load<u8>(p) == 0x65 || load<u8>(p) == 0x45)) {
    p++;
    if (p < end && (load<u8>(p) == 0x2b || load<u8>(p) == 0x2d)) p++;
    const s = p;
    while (p < end && isDigit(load<u8>(p))) p++;
    if (p == s) return 0;
  }
  return p;
}

@inline
function isDigit(b: u8): bool {
  return b >= 0x30 && b <= 0x39;
}
