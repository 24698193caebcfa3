/**
 * Where @huggingface/jinja (0.5.x) renders differently from Python's jinja2 as transformers runs
 * it, patched once at load so the rendered text (and so the token count) is the same:
 *
 * - `s.strip(chars)`, `s.lstrip(chars)`, `s.rstrip(chars)`: the library ignores `chars` and trims
 *   all whitespace; Python strips only the given characters (Qwen 3's template does
 *   `content.lstrip('\n')`, so an answer starting with spaces rendered differently). With no
 *   argument Python strips its own whitespace set (`str.isspace`).
 * - The `trim` filter used JavaScript's whitespace set; jinja2's is Python's (`\x1c`-`\x1f`,
 *   `\x85` are whitespace there, `\ufeff` is not).
 * - A string filter (`trim`, `upper`, `lower`, `title`, `capitalize`, `string`) on an undefined
 *   value: jinja2 treats the undefined as '' (Llama 3's `message['content'] | trim` on a
 *   tool-call message without content); the library throws.
 *
 * The classes are reached through a live Environment because the package exports only
 * Template/Environment/Interpreter.
 */
import { Environment, Interpreter } from '@huggingface/jinja';
import { pyIsSpace } from './pyString';

let patched = false;

type Ctor = new (value: unknown) => { value: unknown; type: string };

function pyStripChars(s: string, chars: string | undefined, left: boolean, right: boolean): string {
  const strip = chars === undefined ? (c: number) => pyIsSpace(c) : (c: number) => chars.includes(String.fromCharCode(c));
  let a = 0;
  let b = s.length;
  if (left) while (a < b && strip(s.charCodeAt(a))) a++;
  if (right) while (b > a && strip(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}

export function patchJinja(): void {
  if (patched) return;
  patched = true;
  const env = new Environment();
  env.set('s', 'x');
  const str = env.lookupVariable('s') as unknown as { value: string; builtins: Map<string, unknown>; constructor: Ctor };
  const StringValue = str.constructor;
  const upper = str.builtins.get('upper') as { constructor: Ctor };
  const FunctionValue = upper.constructor;
  const proto = StringValue.prototype as object;
  const desc = Object.getOwnPropertyDescriptor(proto, 'builtins');
  if (!desc?.get) return; // a library version with another layout: leave it alone
  const original = desc.get;
  const done = new WeakSet<Map<string, unknown>>();
  Object.defineProperty(proto, 'builtins', {
    configurable: true,
    get(this: { value: string }) {
      const map = original.call(this) as Map<string, unknown>;
      if (!done.has(map)) {
        done.add(map);
        const self = this;
        const make = (left: boolean, right: boolean) =>
          new FunctionValue((args: { value: unknown; type: string }[]) => {
            const a = args[0];
            const chars = a && a.type === 'StringValue' ? (a.value as string) : undefined;
            return new StringValue(pyStripChars(self.value, chars, left, right));
          });
        map.set('strip', make(true, true));
        map.set('lstrip', make(true, false));
        map.set('rstrip', make(false, true));
      }
      return map;
    },
  });

  const STRING_FILTERS = new Set(['trim', 'upper', 'lower', 'title', 'capitalize', 'string']);
  const ip = Interpreter.prototype as unknown as { applyFilter: (operand: { type: string }, filter: { type: string; value?: unknown; callee?: { value?: unknown } }, env: unknown) => unknown };
  const applyFilter = ip.applyFilter;
  if (typeof applyFilter !== 'function') return;
  ip.applyFilter = function (this: unknown, operand, filter, e) {
    const name = filter.type === 'Identifier' ? filter.value : filter.callee?.value;
    if (operand?.type === 'UndefinedValue' && typeof name === 'string' && STRING_FILTERS.has(name)) operand = new StringValue('');
    // `trim` is Python's str.strip(): its whitespace set, not JavaScript's.
    if (name === 'trim' && filter.type === 'Identifier' && operand?.type === 'StringValue') {
      return new StringValue(pyStripChars((operand as unknown as { value: string }).value, undefined, true, true));
    }
    return applyFilter.call(this, operand, filter, e);
  };
}

/**
 * `{% generation %}…{% endgeneration %}` (transformers' AssistantTracker extension): the library
 * does not parse the tag. Each tag becomes a block that writes a reserved character, so the
 * rendered text carries the blocks' bounds; `splitGeneration` takes them out again. The tag stays
 * a block tag (`{% if true %}…{% endif %}`) so `lstrip_blocks`/`trim_blocks` and the `-`
 * whitespace controls act on it exactly as jinja2 acts on the original tag.
 */
export const GENERATION_OPEN = '\ufdd0';
export const GENERATION_CLOSE = '\ufdd1';
const GENERATION_TAG = /\{%(-?)\s*(end)?generation\s*(-?)%\}/g;

/** Whether a template uses generation markers (transformers' own test, plus the closing tag). */
export function hasGenerationMarkers(source: string): boolean {
  return /\{%-?\s*generation\s*-?%\}/.test(source);
}

export function rewriteGenerationTags(source: string): string {
  return source.replace(GENERATION_TAG, (_m, left: string, end: string | undefined, right: string) =>
    `{%${left} if true %}{{ '${end ? GENERATION_CLOSE : GENERATION_OPEN}' }}{% endif ${right}%}`,
  );
}

/**
 * The rendered text without the markers, and the character ranges the (outermost) generation
 * blocks covered, in order. Null when the markers do not pair up (a block cut by a filter or a
 * `set`): the caller reports it rather than guess.
 */
export function splitGeneration(marked: string): { text: string; blocks: [number, number][] } | null {
  let text = '';
  const blocks: [number, number][] = [];
  let depth = 0;
  let start = 0;
  let from = 0;
  for (let i = 0; i < marked.length; i++) {
    const c = marked[i];
    if (c !== GENERATION_OPEN && c !== GENERATION_CLOSE) continue;
    text += marked.slice(from, i);
    from = i + 1;
    if (c === GENERATION_OPEN) {
      if (depth++ === 0) start = text.length;
    } else {
      if (depth === 0) return null;
      if (--depth === 0) blocks.push([start, text.length]);
    }
  }
  if (depth !== 0) return null;
  text += marked.slice(from);
  return { text, blocks };
}
