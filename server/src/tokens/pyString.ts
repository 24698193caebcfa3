/**
 * Python's string semantics where the rendered template must match transformers' to the
 * character. Its own module so that jinjaCompat.ts (loaded by tokenizer.ts) and mask.ts (which
 * uses the tokenizer) share it without importing each other in a cycle.
 */

/** Python's str.isspace() for one UTF-16 unit (every Python whitespace character is in the BMP). */
export function pyIsSpace(c: number): boolean {
  return (
    (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c === 0x85 || c === 0xa0 || c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000
  );
}
