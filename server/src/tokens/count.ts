/**
 * Token counts per example: `tokens` as `apply_chat_template(messages, tools=tools, tokenize=True)`
 * gives, `trainable` under the training mask contract, and the loss-mask preview.
 */
import { TemplateError, trainableFlags, trainingSequences, type HistoryRewriting, type MaskRule, type Rendered, type Training } from './mask';
import type { ChatTokenizer, Conversation, Message } from './tokenizer';

export interface TokenCount {
  /** Tokens after the chat template, summed over the example's sequences (what the trainer trains on). */
  readonly tokens: number;
  /** Tokens of the longest sequence (= tokens when the example is one sequence): what maxSeqLength limits. */
  readonly longest: number;
  /** The mask rule when it is not the plain prefix rule (`generation`, `perTurn`, `lastTurn`). */
  readonly rule?: MaskRule;
  /** How many sequences the example trains as, when not one (`perTurn`). */
  readonly sequences?: number;
  /** Tokens that train (assistant turns with weight != 0); null when the template is not prefix-stable (see maskError). */
  readonly trainable: number | null;
  /** Why the trained spans could not be found (the trainer refuses such an example too). */
  readonly maskError?: string;
  /** Trainable tokens past `maxSeqLength` (lost to right-side truncation); 0 when not over. */
  readonly droppedTrainable: number;
}

export interface PreviewSegment {
  readonly text: string;
  readonly trainable: boolean;
  /** Which sequence the segment belongs to, when the example trains as several (`perTurn`). */
  readonly sequence?: number;
}

export class ExampleError extends Error {}

/** The conversation of a parsed dataset line (`messages`, optional `tools`), or an error saying why not. */
export function conversationOf(value: unknown): Conversation {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ExampleError('the line is not a JSON object');
  const v = value as Record<string, unknown>;
  const messages = v['messages'];
  if (!Array.isArray(messages) || messages.length === 0) throw new ExampleError('no "messages" array');
  if (!messages.every((m) => m && typeof m === 'object' && !Array.isArray(m))) throw new ExampleError('a message is not an object');
  const tools = Array.isArray(v['tools']) ? (v['tools'] as unknown[]) : undefined;
  return { messages: messages as Message[], tools };
}

interface Sequence {
  r: Rendered;
  ids: number[];
  flags: Uint8Array | undefined;
  offsets: Int32Array | undefined;
}

interface Analysis {
  rule?: MaskRule;
  sequences: Sequence[];
  maskError?: string;
}

function encodeSequence(tok: ChatTokenizer, r: Rendered): Sequence {
  const enc = tok.encode(r.text);
  if (r.spans.length === 0) return { r, ids: enc.ids, flags: undefined, offsets: undefined };
  const offsets = tok.tokenOffsets(r.text, enc);
  return { r, ids: enc.ids, flags: trainableFlags(offsets, r.spans), offsets };
}

function analyze(tok: ChatTokenizer, conv: Conversation, mode: HistoryRewriting): Analysis {
  let t: Training;
  try {
    t = trainingSequences(tok, conv, mode);
  } catch (e) {
    if (!(e instanceof TemplateError)) throw e;
    const text = tok.render(conv);
    return { sequences: [{ r: { text, spans: [] }, ids: tok.encode(text).ids, flags: undefined, offsets: undefined }], maskError: e.message };
  }
  return { rule: t.rule, sequences: t.sequences.map((r) => encodeSequence(tok, r)) };
}

/**
 * Counts one conversation as the trainer trains it. Throws (the template's own exception) when it
 * cannot be rendered. `mode` is the config's `historyRewriting`.
 */
export function countConversation(tok: ChatTokenizer, conv: Conversation, maxSeqLength?: number, mode: HistoryRewriting = 'perTurn'): TokenCount {
  const { sequences, maskError, rule } = analyze(tok, conv, mode);
  const tokens = sequences.reduce((n, s) => n + s.ids.length, 0);
  const longest = sequences.reduce((n, s) => Math.max(n, s.ids.length), 0);
  if (maskError !== undefined) return { tokens, longest, trainable: null, droppedTrainable: 0, maskError };
  let trainable = 0;
  let dropped = 0;
  for (const { flags } of sequences) {
    if (!flags) continue;
    for (let i = 0; i < flags.length; i++) {
      if (flags[i]) {
        trainable++;
        // Each sequence is truncated on its own (right side).
        if (maxSeqLength !== undefined && i >= maxSeqLength) dropped++;
      }
    }
  }
  const out: TokenCount = { tokens, longest, trainable, droppedTrainable: dropped };
  return rule && rule !== 'prefix' ? { ...out, rule, ...(sequences.length !== 1 ? { sequences: sequences.length } : {}) } : out;
}

/** Token ids and per-token trainable flags of each sequence (for fixtures and the trainer cross-check). */
export function encodeSequences(tok: ChatTokenizer, conv: Conversation, mode: HistoryRewriting = 'perTurn'): { rule?: MaskRule; maskError?: string; sequences: { text: string; ids: number[]; trainable: boolean[]; spans: [number, number][] }[] } {
  const { sequences, maskError, rule } = analyze(tok, conv, mode);
  const seqs = sequences.map(({ r, ids, flags }) => ({ text: r.text, ids, trainable: ids.map((_, i) => !!flags?.[i]), spans: r.spans }));
  return { ...(rule ? { rule } : {}), ...(maskError !== undefined ? { maskError } : {}), sequences: seqs };
}

/** Token ids and per-token trainable flags of a one-sequence example. */
export function encodeConversation(tok: ChatTokenizer, conv: Conversation, mode: HistoryRewriting = 'perTurn'): { text: string; ids: number[]; trainable: boolean[]; spans: [number, number][]; maskError?: string } {
  const e = encodeSequences(tok, conv, mode);
  if (e.sequences.length !== 1) throw new Error(`the example trains as ${e.sequences.length} sequences (${e.rule}); use encodeSequences`);
  const out = e.sequences[0]!;
  return e.maskError === undefined ? out : { ...out, maskError: e.maskError };
}

/**
 * The loss-mask preview: the rendered text cut into runs of consecutive tokens with the same
 * trainable flag. The segments' texts concatenate to exactly the rendered text (a character that
 * two tokens share goes to the first run that reaches it).
 */
export function previewConversation(tok: ChatTokenizer, conv: Conversation, mode: HistoryRewriting = 'perTurn'): PreviewSegment[] {
  const { sequences } = analyze(tok, conv, mode);
  const out: PreviewSegment[] = [];
  sequences.forEach((s, k) => {
    for (const seg of previewSequence(s)) out.push(sequences.length > 1 ? { ...seg, sequence: k } : seg);
  });
  return out;
}

function previewSequence({ r, flags, offsets }: Sequence): PreviewSegment[] {
  const text = r.text;
  if (!flags || !offsets) return text ? [{ text, trainable: false }] : [];
  const segs: PreviewSegment[] = [];
  let pos = 0;
  let runFlag = flags.length ? !!flags[0] : false;
  const push = (end: number, trainable: boolean): void => {
    if (end <= pos) return;
    const last = segs[segs.length - 1];
    if (last && last.trainable === trainable) segs[segs.length - 1] = { text: last.text + text.slice(pos, end), trainable };
    else segs.push({ text: text.slice(pos, end), trainable });
    pos = end;
  };
  for (let t = 1; t <= flags.length; t++) {
    const f = t < flags.length ? !!flags[t] : !runFlag;
    if (f !== runFlag) {
      push(Math.max(offsets[2 * (t - 1) + 1]!, pos), runFlag);
      runFlag = f;
    }
  }
  push(text.length, false);
  return segs;
}
