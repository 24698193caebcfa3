/**
 * A strict, iterative JSON scanner that records where things are.
 *
 * `JSON.parse` decides what a line means and is the fast path; this scanner runs only on
 * lines that need positions: a syntax error (where exactly, and what kind) or a semantic
 * diagnostic (the range of the offending key or value). It is iterative, so a line nested
 * 100,000 deep cannot overflow the stack (jsonc-parser's parser is recursive and lenient:
 * it accepts comments and trailing commas, which Python's json module rejects).
 *
 * Offsets are UTF-16 code unit offsets into the line, like LSP columns.
 */

export type JsonType = 'object' | 'array' | 'string' | 'number' | 'true' | 'false' | 'null';

export interface JsonProp {
  readonly keyStart: number;
  readonly keyEnd: number;
  readonly value: JsonNode;
}

export interface JsonNode {
  readonly type: JsonType;
  readonly start: number;
  end: number;
  /** Object members, last duplicate wins (as in JSON.parse). */
  readonly props?: Map<string, JsonProp>;
  readonly items?: JsonNode[];
}

export type SyntaxKind =
  | 'trailing-comma'
  | 'nul-byte'
  | 'truncated'
  | 'single-quote'
  | 'comment'
  | 'unquoted-key'
  | 'non-finite'
  | 'extra-data'
  | 'bom'
  | 'other';

export interface JsonSyntaxError {
  readonly offset: number;
  readonly length: number;
  readonly message: string;
  readonly kind: SyntaxKind;
}

/** A key given twice in one object: JSON.parse keeps the second value, pyarrow refuses the file. */
export interface DuplicateKey {
  readonly key: string;
  /** The path of the object that holds the key twice. */
  readonly path: readonly (string | number)[];
  /** The second occurrence of the key (where the diagnostic goes). */
  readonly keyStart: number;
  readonly keyEnd: number;
  readonly first: JsonNode;
  readonly second: JsonNode;
}

export type ScanResult = { ok: true; root: JsonNode; duplicates: DuplicateKey[] } | { ok: false; error: JsonSyntaxError };

interface Frame {
  node: JsonNode;
  /** For objects: expecting the first key / a key after a comma / a comma or close. */
  mode: 'first' | 'afterComma' | 'afterValue';
  pendingKey?: string;
  keyStart: number;
  keyEnd: number;
  /** Offset of the last comma, for trailing-comma errors. */
  commaAt: number;
}

class ScanError extends Error {
  constructor(readonly detail: JsonSyntaxError) {
    super(detail.message);
  }
}

function fail(offset: number, length: number, message: string, kind: SyntaxKind = 'other'): never {
  throw new ScanError({ offset, length: Math.max(1, length), message, kind });
}

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function describeChar(c: number): string {
  if (c === 0) return 'a NUL byte';
  if (c < 0x20 || c === 0x7f) return `control character U+${c.toString(16).padStart(4, '0').toUpperCase()}`;
  if (c === 0xfffd) return 'an undecodable byte (U+FFFD)';
  if (c === 0xfeff) return 'a byte order mark (U+FEFF, invisible)';
  return `'${String.fromCharCode(c)}'`;
}

export function scanJson(text: string): ScanResult {
  try {
    const duplicates: DuplicateKey[] = [];
    return { ok: true, root: scan(text, duplicates), duplicates };
  } catch (e) {
    if (e instanceof ScanError) return { ok: false, error: e.detail };
    throw e;
  }
}

function scan(text: string, duplicates: DuplicateKey[]): JsonNode {
  const n = text.length;
  let i = 0;
  const stack: Frame[] = [];
  let root: JsonNode | undefined;

  const skipWs = (): void => {
    while (i < n && isWs(text.charCodeAt(i))) i++;
  };

  const unexpected = (what: string): never => {
    if (i >= n) {
      const open = stack.length;
      const closer = stack.length ? (stack[stack.length - 1]!.node.type === 'object' ? '}' : ']') : 'a value';
      fail(
        Math.max(0, n - 1),
        1,
        open > 0
          ? `the line ends inside ${open === 1 ? 'an unclosed ' + stack[0]!.node.type : open + ' unclosed brackets'} (expected ${closer}); each example must be one complete JSON object on one line — is this pretty-printed JSON rather than JSON Lines?`
          : 'the line ends where a JSON value was expected',
        'truncated',
      );
    }
    const c = text.charCodeAt(i);
    if (c === 0) fail(i, 1, 'NUL byte in the line: the file may be binary or corrupt', 'nul-byte');
    if (c === 0xfeff) {
      fail(i, 1, i === 0
        ? 'a byte order mark (U+FEFF, invisible) starts this line: was the file joined from files saved with a BOM? Only the very start of a file may hold one, and Python\'s json.loads rejects it even there — remove it'
        : `${what}, found a byte order mark (U+FEFF, invisible) — remove it`, 'bom');
    }
    if (c === 0x27) fail(i, 1, `${what}, found a single quote: JSON strings use double quotes`, 'single-quote');
    if (c === 0x2f && (text.charCodeAt(i + 1) === 0x2f || text.charCodeAt(i + 1) === 0x2a)) {
      fail(i, 2, 'comments are not allowed in JSON', 'comment');
    }
    const word = /^[A-Za-z_$][\w$-]*/.exec(text.slice(i, i + 64))?.[0];
    if (word === 'NaN' || word === 'Infinity' || word === 'undefined') {
      fail(i, word.length, `${word} is not valid JSON (Python's json module rejects it in strict mode; use null or a string)`, 'non-finite');
    }
    if (word) fail(i, word.length, `${what}, found ${word}`);
    fail(i, 1, `${what}, found ${describeChar(c)}`);
  };

  const scanString = (): string => {
    // text[i] === '"'
    const start = i;
    i++;
    let simple = true;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        const raw = text.slice(start, i);
        return simple ? raw.slice(1, -1) : (JSON.parse(raw) as string);
      }
      if (c === 0x5c) {
        simple = false;
        const e = text.charCodeAt(i + 1);
        if (e === 0x75) {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail(i, Math.min(6, n - i), 'bad \\u escape: expected four hex digits');
          i += 6;
          continue;
        }
        if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
          i += 2;
          continue;
        }
        if (i + 1 >= n) break;
        fail(i, 2, `bad escape \\${text[i + 1]} in string: JSON allows \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX`);
      }
      if (c < 0x20) {
        if (c === 0) fail(i, 1, 'NUL byte inside a string: the file may be binary or corrupt; write it as \\u0000 if it is meant', 'nul-byte');
        fail(i, 1, `${describeChar(c)} inside a string must be escaped (\\n, \\t, \\u00XX)`);
      }
      i++;
    }
    fail(start, n - start, 'unterminated string: the closing double quote is missing', 'truncated');
  };

  const scanNumber = (): void => {
    const start = i;
    if (text.charCodeAt(i) === 0x2d) i++;
    const digits = (): number => {
      const s = i;
      while (i < n && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) i++;
      return i - s;
    };
    if (text.charCodeAt(i) === 0x30) {
      i++;
      if (i < n && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) fail(start, i - start + 1, 'numbers cannot have leading zeros');
    } else if (digits() === 0) {
      if (text.startsWith('Infinity', i)) fail(start, i - start + 8, 'Infinity is not valid JSON', 'non-finite');
      fail(start, Math.max(1, i - start), 'bad number: expected a digit');
    }
    if (text.charCodeAt(i) === 0x2e) {
      i++;
      if (digits() === 0) fail(start, i - start, 'bad number: expected a digit after the decimal point');
    }
    const e = text.charCodeAt(i);
    if (e === 0x65 || e === 0x45) {
      i++;
      const s = text.charCodeAt(i);
      if (s === 0x2b || s === 0x2d) i++;
      if (digits() === 0) fail(start, i - start, 'bad number: expected a digit in the exponent');
    }
  };

  /** Scans a value starting at i: scalars completely, containers by pushing a frame. */
  const startValue = (): JsonNode | undefined => {
    skipWs();
    if (i >= n) unexpected('expected a value');
    const c = text.charCodeAt(i);
    const start = i;
    switch (c) {
      case 0x7b: {
        const node: JsonNode = { type: 'object', start, end: -1, props: new Map() };
        i++;
        stack.push({ node, mode: 'first', keyStart: -1, keyEnd: -1, commaAt: -1 });
        return undefined;
      }
      case 0x5b: {
        const node: JsonNode = { type: 'array', start, end: -1, items: [] };
        i++;
        stack.push({ node, mode: 'first', keyStart: -1, keyEnd: -1, commaAt: -1 });
        return undefined;
      }
      case 0x22:
        scanString();
        return { type: 'string', start, end: i };
      case 0x74:
      case 0x66:
      case 0x6e: {
        for (const lit of ['true', 'false', 'null'] as const) {
          if (text.startsWith(lit, i)) {
            i += lit.length;
            return { type: lit, start, end: i };
          }
        }
        return unexpected('expected a value');
      }
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
          scanNumber();
          return { type: 'number', start, end: i };
        }
        return unexpected('expected a value');
    }
  };

  const attach = (value: JsonNode): void => {
    const top = stack[stack.length - 1];
    if (!top) {
      root = value;
      return;
    }
    if (top.node.type === 'object') {
      const props = top.node.props!;
      const earlier = props.get(top.pendingKey!);
      if (earlier) {
        // The path of this object: each enclosing frame's key, or its index (the child is not attached yet).
        const path = stack.slice(0, -1).map((f) => (f.node.type === 'object' ? f.pendingKey! : f.node.items!.length));
        duplicates.push({ key: top.pendingKey!, path, keyStart: top.keyStart, keyEnd: top.keyEnd, first: earlier.value, second: value });
      }
      props.set(top.pendingKey!, { keyStart: top.keyStart, keyEnd: top.keyEnd, value });
    } else {
      top.node.items!.push(value);
    }
    top.mode = 'afterValue';
  };

  // The main loop: either we need a value (wantValue) or we are inside a container.
  let wantValue = true;
  for (;;) {
    if (wantValue) {
      const v = startValue();
      if (v) {
        attach(v);
        wantValue = false;
      } else {
        wantValue = false; // a container was opened; its frame decides what comes next
      }
      if (root) break;
      continue;
    }
    const top = stack[stack.length - 1]!;
    skipWs();
    if (i >= n) unexpected('');
    const c = text.charCodeAt(i);
    if (top.node.type === 'object') {
      if (top.mode === 'afterValue') {
        if (c === 0x2c) {
          top.commaAt = i;
          top.mode = 'afterComma';
          i++;
          continue;
        }
        if (c === 0x7d) {
          i++;
          close();
          if (root) break;
          continue;
        }
        if (c === 0x22) fail(i, 1, "expected ',' or '}' after a property value: a comma is missing", 'other');
        unexpected("expected ',' or '}' after a property value");
      }
      // 'first' or 'afterComma': a key, or (first only) the end.
      if (c === 0x7d) {
        if (top.mode === 'afterComma') {
          fail(top.commaAt, 1, "trailing comma before '}': remove it", 'trailing-comma');
        }
        i++;
        close();
        if (root) break;
        continue;
      }
      if (c !== 0x22) {
        if (/[A-Za-z_$]/.test(text[i]!)) {
          const word = /^[A-Za-z_$][\w$]*/.exec(text.slice(i, i + 64))![0];
          fail(i, word.length, `property name ${word} must be in double quotes`, 'unquoted-key');
        }
        unexpected('expected a property name in double quotes');
      }
      const ks = i;
      const key = scanString();
      top.pendingKey = key;
      top.keyStart = ks;
      top.keyEnd = i;
      skipWs();
      if (text.charCodeAt(i) !== 0x3a) unexpected(`expected ':' after property name ${text.slice(ks, Math.min(i, ks + 40))}`);
      i++;
      wantValue = true;
      continue;
    }
    // Arrays.
    if (top.mode === 'afterValue') {
      if (c === 0x2c) {
        top.commaAt = i;
        top.mode = 'afterComma';
        i++;
        wantValue = true;
        // A trailing comma shows up as ']' where a value is expected.
        skipWs();
        if (text.charCodeAt(i) === 0x5d) fail(top.commaAt, 1, "trailing comma before ']': remove it", 'trailing-comma');
        continue;
      }
      if (c === 0x5d) {
        i++;
        close();
        if (root) break;
        continue;
      }
      unexpected("expected ',' or ']' after an array element");
    }
    // 'first'
    if (c === 0x5d) {
      i++;
      close();
      if (root) break;
      continue;
    }
    wantValue = true;
  }

  skipWs();
  if (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0) fail(i, 1, 'NUL byte after the JSON value: the file may be binary or corrupt', 'nul-byte');
    if (c === 0xfeff) fail(i, 1, 'a byte order mark (U+FEFF, invisible) after the JSON value — remove it', 'bom');
    if (c === 0x2f && (text.charCodeAt(i + 1) === 0x2f || text.charCodeAt(i + 1) === 0x2a)) fail(i, 2, 'comments are not allowed in JSON', 'comment');
    if (c === 0x2c) fail(i, 1, 'a comma after the JSON object: JSON Lines has one object per line and no commas between them', 'trailing-comma');
    fail(i, n - i, c === 0x7b || c === 0x5b
      ? 'a second JSON value on the same line: put each example on its own line'
      : `unexpected ${describeChar(c)} after the JSON value`, 'extra-data');
  }
  return root!;

  function close(): void {
    const frame = stack.pop()!;
    frame.node.end = i;
    attach(frame.node);
  }
}

/** Follows a path of keys and indexes through a located tree. */
export function nodeAt(root: JsonNode, path: readonly (string | number)[]): { node: JsonNode; prop?: JsonProp } | undefined {
  let node: JsonNode = root;
  let prop: JsonProp | undefined;
  for (const p of path) {
    if (typeof p === 'number') {
      const next = node.items?.[p];
      if (!next) return undefined;
      node = next;
      prop = undefined;
    } else {
      const next = node.props?.get(p);
      if (!next) return undefined;
      prop = next;
      node = next.value;
    }
  }
  return { node, prop };
}
