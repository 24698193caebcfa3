/**
 * Token counts per example: `tokens` as `apply_chat_template(messages, tools=tools, tokenize=True)`
 * gives, `trainable` under the training mask contract, and the loss-mask preview.
 */
import { findTrainedSpans, TemplateError, trainableFlags, type Rendered } from './mask';
import type { ChatTokenizer, Conversation, Message } from './tokenizer';

export interface TokenCount {
  /** Tokens after the chat template. */
  readonly tokens: number;
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

interface Analysis {
  r: Rendered;
  ids: number[];
  tokens: string[];
  flags: Uint8Array | undefined;
  offsets: Int32Array | undefined;
  maskError?: string;
}

function analyze(tok: ChatTokenizer, conv: Conversation): Analysis {
  let r: Rendered;
  try {
    r = findTrainedSpans(tok, conv);
  } catch (e) {
    if (!(e instanceof TemplateError)) throw e;
    const text = tok.render(conv);
    const enc = tok.encode(text);
    return { r: { text, spans: [] }, ids: enc.ids, tokens: enc.tokens, flags: undefined, offsets: undefined, maskError: e.message };
  }
  const enc = tok.encode(r.text);
  if (r.spans.length === 0) return { r, ids: enc.ids, tokens: enc.tokens, flags: undefined, offsets: undefined };
  const offsets = tok.tokenOffsets(r.text, enc);
  return { r, ids: enc.ids, tokens: enc.tokens, flags: trainableFlags(offsets, r.spans), offsets };
}

/** Counts one conversation. Throws (the template's own exception) when it cannot be rendered. */
export function countConversation(tok: ChatTokenizer, conv: Conversation, maxSeqLength?: number): TokenCount {
  const { ids, flags, maskError } = analyze(tok, conv);
  if (maskError !== undefined) return { tokens: ids.length, trainable: null, droppedTrainable: 0, maskError };
  let trainable = 0;
  let dropped = 0;
  if (flags) {
    for (let i = 0; i < flags.length; i++) {
      if (flags[i]) {
        trainable++;
        if (maxSeqLength !== undefined && i >= maxSeqLength) dropped++;
      }
    }
  }
  return { tokens: ids.length, trainable, droppedTrainable: dropped };
}

/** Token ids and per-token trainable flags (for fixtures and the trainer cross-check). */
export function encodeConversation(tok: ChatTokenizer, conv: Conversation): { text: string; ids: number[]; trainable: boolean[]; spans: [number, number][]; maskError?: string } {
  const { r, ids, flags, maskError } = analyze(tok, conv);
  const out = { text: r.text, ids, trainable: ids.map((_, i) => !!flags?.[i]), spans: r.spans };
  return maskError === undefined ? out : { ...out, maskError };
}

/**
 * The loss-mask preview: the rendered text cut into runs of consecutive tokens with the same
 * trainable flag. The segments' texts concatenate to exactly the rendered text (a character that
 * two tokens share goes to the first run that reaches it).
 */
export function previewConversation(tok: ChatTokenizer, conv: Conversation): PreviewSegment[] {
  const { r, flags, offsets } = analyze(tok, conv);
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
