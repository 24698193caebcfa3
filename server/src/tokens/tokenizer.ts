/**
 * A Hugging Face model folder's tokenizer and chat template, as `transformers` applies them.
 *
 * Tokenization is `@huggingface/tokenizers` (tokenizer.json, pure JS); the template is rendered by
 * `@huggingface/jinja` with the variables `apply_chat_template` passes (messages, tools, documents,
 * add_generation_prompt, the named special tokens; raise_exception and strftime_now are the
 * library's globals, defined as transformers defines them). The rendered text is encoded without
 * adding special tokens, as `apply_chat_template(tokenize=True)` does.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, isAbsolute, join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { enlargeBpeCache, patchByteLevel } from './fastByteLevel';
import { GENERATION_CLOSE, GENERATION_OPEN, hasGenerationMarkers, patchJinja, rewriteGenerationTags, splitGeneration } from './jinjaCompat';

patchJinja();
patchByteLevel();

export class TokenizerLoadError extends Error {}

/** A chat message as datasets hold it; the template sees it as is (null-valued keys dropped). */
export type Message = Record<string, unknown>;

export interface Conversation {
  readonly messages: readonly Message[];
  /** Tool definitions (JSON schemas), passed to the template as `tools`. */
  readonly tools?: readonly unknown[] | undefined;
}

/** The named special tokens transformers passes to every template (`special_tokens_map`). */
const SPECIAL_TOKEN_ATTRIBUTES = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;

/** Names a message's reasoning goes under; transformers aliases them (see `_alias_reasoning_fields`). */
const REASONING_FIELDS = ['reasoning_content', 'thinking', 'reasoning'] as const;

/** Byte-level BPE: each character of a vocabulary token stands for one byte. */
const BYTE_LEVEL = 'byte-level';
type OffsetMode = typeof BYTE_LEVEL | 'search';

export interface Encoded {
  readonly ids: number[];
  readonly tokens: string[];
}

interface LoadedTemplate {
  readonly template: Template;
  /** The template has `{% generation %}` blocks (rewritten to marker characters, see jinjaCompat.ts). */
  readonly generation: boolean;
}

/** Which chat template renders the examples: the model's own, or one the config names. */
export interface TemplateChoice {
  /** `trainingChatTemplate`: an absolute path to a .jinja file, or the name of one of the model's template variants. */
  readonly chatTemplate?: string | undefined;
}

export class ChatTokenizer {
  private readonly templates: Map<string, LoadedTemplate>;
  private readonly specials: Record<string, string>;
  private readonly addedTokens: Set<string>;
  private readonly offsetMode: OffsetMode;
  private readonly normalizeForm: 'NFC' | 'NFD' | 'NFKC' | 'NFKD' | undefined;
  private readonly trimOffsets: boolean;

  constructor(
    readonly folder: string,
    private readonly tokenizer: Tokenizer,
    templates: Map<string, string>,
    specials: Record<string, string>,
    tokenizerJson: TokenizerJson,
    /** Where the template comes from, for the user: "the model's own chat template" or the file / variant chosen. */
    readonly templateOrigin = "the model's own chat template",
  ) {
    this.templates = new Map(
      [...templates].map(([k, v]) => {
        const generation = hasGenerationMarkers(v);
        return [k, { template: new Template(generation ? rewriteGenerationTags(v) : v), generation }];
      }),
    );
    this.specials = specials;
    this.addedTokens = new Set((tokenizerJson.added_tokens ?? []).map((t) => t.content));
    this.offsetMode = usesByteLevel(tokenizerJson) ? BYTE_LEVEL : 'search';
    this.normalizeForm = unicodeNormalizer(tokenizerJson.normalizer);
    this.trimOffsets = byteLevelTrimsOffsets(tokenizerJson.post_processor);
    enlargeBpeCache(tokenizer.model);
  }

  /** The template text that `apply_chat_template` would use (transformers' `get_chat_template`). */
  private template(tools: boolean): LoadedTemplate {
    if (this.templates.size === 1) return this.templates.values().next().value!;
    const t = (tools && this.templates.get('tool_use')) || this.templates.get('default');
    if (!t) throw new TokenizerLoadError(`${this.folder}: several chat templates (${[...this.templates.keys()].join(', ')}) and none is named "default"`);
    return t;
  }

  /** Whether the template that renders `conv` has `{% generation %}` blocks (the mask then comes from them). */
  usesGeneration(conv: Conversation): boolean {
    return this.template(conv.tools !== undefined && conv.tools !== null).generation;
  }

  private renderMarked(conv: Conversation, addGenerationPrompt: boolean): { text: string; generation: boolean } {
    const messages = conv.messages.map(plainMessage);
    const tools = conv.tools === undefined || conv.tools === null ? null : conv.tools;
    const t = this.template(tools !== null);
    const text = t.template.render({
      ...this.specials,
      messages,
      tools,
      documents: null,
      add_generation_prompt: addGenerationPrompt,
    });
    return { text, generation: t.generation };
  }

  /** `apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=…)`. */
  render(conv: Conversation, addGenerationPrompt = false): string {
    const r = this.renderMarked(conv, addGenerationPrompt);
    return r.generation ? r.text.replace(MARKERS, '') : r.text;
  }

  /**
   * The rendering and its `{% generation %}` blocks (character ranges, in order), as transformers'
   * `render_jinja_template(..., return_assistant_tokens_mask=True)` returns them. Null when the
   * blocks cannot be told apart from the text: the markers do not pair up, or the example itself
   * contains one of the two reserved marker characters.
   */
  renderGeneration(conv: Conversation): { text: string; blocks: [number, number][] } | null {
    if (containsMarker(conv.messages) || containsMarker(conv.tools)) return null;
    return splitGeneration(this.renderMarked(conv, false).text);
  }

  /** Encodes rendered text as `tokenizer(text, add_special_tokens=False)` does. */
  encode(text: string): Encoded {
    const e = this.tokenizer.encode(text, { add_special_tokens: false });
    return { ids: e.ids, tokens: e.tokens };
  }

  /**
   * For each token, whether its character range (in `text`, UTF-16) overlaps one of `spans`
   * (sorted, disjoint, UTF-16 ranges of `text`): the trainer's rule over the tokenizer's offsets.
   * Offsets come from the tokens themselves: a byte-level token is one byte per character, an
   * added token is its own text.
   */
  tokenOffsets(text: string, enc: Encoded): Int32Array {
    // Works on UTF-8 byte offsets of the normalized text; returns [start0, end0, start1, end1, ...]
    // in UTF-16 units of the normalized text.
    const norm = this.normalizeForm ? text.normalize(this.normalizeForm) : text;
    const n = enc.tokens.length;
    const bytes = new Int32Array(2 * n);
    const textBytes = Buffer.byteLength(norm, 'utf8');
    let ok = false;
    if (this.offsetMode === BYTE_LEVEL) {
      let pos = 0;
      for (let i = 0; i < n; i++) {
        const t = enc.tokens[i]!;
        const len = this.addedTokens.has(t) ? Buffer.byteLength(t, 'utf8') : t.length;
        bytes[2 * i] = pos;
        pos += len;
        bytes[2 * i + 1] = pos;
      }
      ok = pos === textBytes;
    }
    if (!ok) this.searchOffsets(norm, enc, bytes);
    const offsets = bytesToUtf16(norm, bytes);
    if (this.trimOffsets) trimSpaces(norm, offsets);
    if (norm !== text && this.normalizeForm) return remapToOriginal(text, norm, this.normalizeForm, offsets);
    return offsets;
  }

  /** Aligns tokens to the text by looking for each token's bytes from where the previous one ended. */
  private searchOffsets(norm: string, enc: Encoded, out: Int32Array): void {
    const buf = Buffer.from(norm, 'utf8');
    let pos = 0;
    for (let i = 0; i < enc.tokens.length; i++) {
      const tb = this.tokenBytes(enc.tokens[i]!);
      let at = tb.length ? buf.indexOf(tb, pos) : pos;
      if (at < 0 && tb.length && tb[0] === 0x20) at = buf.indexOf(tb.subarray(1), pos); // a prepended space
      if (at < 0) at = pos; // unknown token or a normalizer we cannot follow: zero-width here
      out[2 * i] = at;
      out[2 * i + 1] = Math.min(buf.length, at + tb.length);
      pos = out[2 * i + 1]!;
    }
  }

  private tokenBytes(t: string): Buffer {
    if (this.addedTokens.has(t)) return Buffer.from(t, 'utf8');
    if (this.offsetMode === BYTE_LEVEL) {
      const out = Buffer.alloc(t.length);
      for (let i = 0; i < t.length; i++) out[i] = UNICODE_TO_BYTE.get(t.charCodeAt(i)) ?? 0x3f;
      return out;
    }
    const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(t);
    if (m) return Buffer.from([parseInt(m[1]!, 16)]);
    return Buffer.from(t.replace(/\u2581/g, ' ').replace(/^##/, ''), 'utf8');
  }
}

interface TokenizerJson {
  added_tokens?: { content: string; special?: boolean }[];
  normalizer?: unknown;
  pre_tokenizer?: unknown;
  post_processor?: unknown;
  decoder?: unknown;
  model?: { type?: string };
}

function components(c: unknown): Record<string, unknown>[] {
  if (!c || typeof c !== 'object') return [];
  const o = c as Record<string, unknown>;
  const inner = (o['pretokenizers'] ?? o['normalizers'] ?? o['processors'] ?? o['decoders']) as unknown[] | undefined;
  if (Array.isArray(inner)) return inner.flatMap(components);
  return [o];
}

function usesByteLevel(j: TokenizerJson): boolean {
  return components(j.pre_tokenizer).some((c) => c['type'] === 'ByteLevel') || components(j.decoder).some((c) => c['type'] === 'ByteLevel');
}

function unicodeNormalizer(n: unknown): 'NFC' | 'NFD' | 'NFKC' | 'NFKD' | undefined {
  const forms = components(n).map((c) => c['type']).filter((t): t is 'NFC' | 'NFD' | 'NFKC' | 'NFKD' => t === 'NFC' || t === 'NFD' || t === 'NFKC' || t === 'NFKD');
  return forms[forms.length - 1];
}

function byteLevelTrimsOffsets(p: unknown): boolean {
  return components(p).some((c) => c['type'] === 'ByteLevel' && c['trim_offsets'] === true);
}

/** GPT-2's byte-to-unicode table, inverted: which byte a byte-level character stands for. */
const UNICODE_TO_BYTE: Map<number, number> = (() => {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  return new Map(cs.map((c, i) => [c, bs[i]!]));
})();

/**
 * UTF-8 byte ranges to UTF-16 ranges of `text`. A range that starts or ends inside a character
 * covers the whole character, as the Rust tokenizers' char offsets do.
 */
function bytesToUtf16(text: string, bytes: Int32Array): Int32Array {
  const out = new Int32Array(bytes.length);
  // Walk the text once, keeping (byte position, utf16 position) of the current character.
  let bytePos = 0;
  let u16 = 0;
  // Boundaries are non-decreasing in token order for starts and ends alike, so process starts and
  // ends as two monotone sequences.
  const n = bytes.length / 2;
  for (const which of [0, 1]) {
    bytePos = 0;
    u16 = 0;
    for (let i = 0; i < n; i++) {
      const target = bytes[2 * i + which]!;
      if (target < bytePos) {
        // Not monotone (search alignment fallback): restart the walk.
        bytePos = 0;
        u16 = 0;
      }
      // Advance whole characters while the next character ends at or before target (for starts),
      // or starts before target (for ends: the character containing target-1 is included).
      for (;;) {
        if (u16 >= text.length) break;
        const c = text.codePointAt(u16)!;
        const cb = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
        const cu = c >= 0x10000 ? 2 : 1;
        if (which === 0 ? bytePos + cb <= target : bytePos < target) {
          bytePos += cb;
          u16 += cu;
        } else break;
      }
      out[2 * i + which] = u16;
    }
  }
  return out;
}

/** ByteLevel post-processing with trim_offsets: a token's offsets leave out its leading and trailing spaces. */
function trimSpaces(text: string, off: Int32Array): void {
  for (let i = 0; i < off.length; i += 2) {
    let a = off[i]!;
    let b = off[i + 1]!;
    while (a < b && text.charCodeAt(a) === 0x20) a++;
    while (b > a && text.charCodeAt(b - 1) === 0x20) b--;
    off[i] = a;
    off[i + 1] = b;
  }
}

/**
 * Maps offsets in the normalized text back to the original text. The text is cut before every
 * ASCII character (no Unicode normalization composes across one), each piece is normalized on its
 * own, and a position inside a piece maps to the piece's start.
 */
function remapToOriginal(text: string, norm: string, form: 'NFC' | 'NFD' | 'NFKC' | 'NFKD', off: Int32Array): Int32Array {
  const map = new Int32Array(norm.length + 1);
  let o = 0; // original position
  let q = 0; // normalized position
  while (o < text.length) {
    let e = o + 1;
    while (e < text.length && text.charCodeAt(e) >= 0x80) e++;
    const piece = text.slice(o, e).normalize(form);
    for (let k = 0; k < piece.length && q + k <= norm.length; k++) map[q + k] = o;
    q += piece.length;
    o = e;
  }
  for (let k = Math.min(q, norm.length); k <= norm.length; k++) map[k] = text.length;
  return off.map((v) => map[Math.min(v, norm.length)]!);
}

const MARKERS = new RegExp(`[${GENERATION_OPEN}${GENERATION_CLOSE}]`, 'g');

function containsMarker(v: unknown): boolean {
  if (typeof v === 'string') return v.includes(GENERATION_OPEN) || v.includes(GENERATION_CLOSE);
  if (Array.isArray(v)) return v.some(containsMarker);
  if (v && typeof v === 'object') return Object.values(v).some(containsMarker);
  return false;
}

/** The message as the template sees it: null-valued keys dropped, reasoning fields aliased. */
function plainMessage(m: Message): Message {
  const out: Message = {};
  for (const [k, v] of Object.entries(m)) if (v !== null && v !== undefined) out[k] = v;
  const reasoning = REASONING_FIELDS.map((f) => out[f]).find((v) => v !== undefined && v !== null);
  if (reasoning !== undefined) return { thinking: reasoning, ...out, reasoning_content: reasoning };
  return out;
}

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new TokenizerLoadError(`${file}: ${(e as Error).message}`);
  }
}

function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

/**
 * Loads `folder`'s tokenizer.json, tokenizer_config.json (and special_tokens_map.json when
 * present) and chat template: `chat_template.jinja`, else `chat_template` from
 * tokenizer_config.json (a string, or a list of {name, template}).
 */
export function loadChatTokenizer(folder: string, choice: TemplateChoice = {}): ChatTokenizer {
  const tokFile = join(folder, 'tokenizer.json');
  if (!existsSync(tokFile)) throw new TokenizerLoadError(`${folder}: no tokenizer.json (only fast tokenizers are supported)`);
  const tj = readJson(tokFile) as TokenizerJson & Record<string, unknown>;
  const cfgFile = join(folder, 'tokenizer_config.json');
  const cfg = existsSync(cfgFile) ? readJson(cfgFile) : {};
  const stmFile = join(folder, 'special_tokens_map.json');
  const stm = existsSync(stmFile) ? readJson(stmFile) : {};

  const templates = new Map<string, string>();
  const jinjaFile = join(folder, 'chat_template.jinja');
  if (existsSync(jinjaFile)) templates.set('default', readFileSync(jinjaFile, 'utf8'));
  else {
    const ct = cfg['chat_template'];
    if (typeof ct === 'string') templates.set('default', ct);
    else if (Array.isArray(ct)) {
      for (const t of ct as { name?: unknown; template?: unknown }[]) {
        if (typeof t?.name === 'string' && typeof t.template === 'string') templates.set(t.name, t.template);
      }
    }
  }
  // Named variants beside the default, as transformers saves them (additional_chat_templates/NAME.jinja).
  const extraDir = join(folder, 'additional_chat_templates');
  if (existsSync(extraDir)) {
    for (const f of readdirSync(extraDir)) if (f.endsWith('.jinja') && !templates.has(f.slice(0, -6))) templates.set(f.slice(0, -6), readFileSync(join(extraDir, f), 'utf8'));
  }
  let origin: string | undefined;
  if (choice.chatTemplate) {
    // trainingChatTemplate: the one template used for every example (tools or not), as the trainer
    // passes it to apply_chat_template(chat_template=…).
    const c = choice.chatTemplate;
    let source: string;
    if (isAbsolute(c)) {
      try {
        source = readFileSync(c, 'utf8');
      } catch (e) {
        throw new TokenizerLoadError(`trainingChatTemplate ${c}: ${(e as Error).message}`);
      }
      origin = `the training chat template ${basename(c)}`;
    } else {
      const named = templates.get(c);
      if (named === undefined) throw new TokenizerLoadError(`trainingChatTemplate "${c}": ${folder} has no chat template of that name (it has ${[...templates.keys()].join(', ') || 'none'})`);
      source = named;
      origin = `the model's "${c}" chat template`;
    }
    templates.clear();
    templates.set('default', source);
  }
  if (templates.size === 0) throw new TokenizerLoadError(`${folder}: no chat template (neither chat_template.jinja nor "chat_template" in tokenizer_config.json)`);

  const specials: Record<string, string> = {};
  for (const k of SPECIAL_TOKEN_ATTRIBUTES) {
    const v = tokenText(cfg[k]) ?? tokenText(stm[k]);
    if (v !== undefined) specials[k] = v;
  }
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(tj, cfg);
  } catch (e) {
    throw new TokenizerLoadError(`${tokFile}: ${(e as Error).message}`);
  }
  return new ChatTokenizer(folder, tokenizer, templates, specials, tj, origin);
}
