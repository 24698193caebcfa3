/**
 * The training mask contract (design notes), the same rule as trainer/lora_queue_trainer/masking.py:
 * a token trains when it lies in the rendered span of an assistant message whose `weight` is not 0
 * (its content and tool calls, and the end-of-turn token that closes it).
 *
 * Spans are found by rendering the chat template on growing prefixes of the conversation:
 *   after  = render(messages[:i+1])                             ends after the turn's end-of-turn token
 *   before = render(messages[:i], add_generation_prompt=True)   ends where the reply starts
 * The span of message i is [len(before), len(after)) with trailing whitespace trimmed. When the
 * generation prompt adds nothing (or renders differently) the start falls back to
 * len(render(messages[:i])) and then to where the message's content begins inside the turn.
 * Offsets are UTF-16 here, code points in Python; both point at the same characters.
 */
import { pyIsSpace } from './pyString';
import type { ChatTokenizer, Conversation, Message } from './tokenizer';

export class TemplateError extends Error {}

export function isTrainedMessage(m: Message): boolean {
  return m['role'] === 'assistant' && m['weight'] !== 0;
}

/** Python's str.strip(). */
export function pyStrip(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && pyIsSpace(s.charCodeAt(a))) a++;
  while (b > a && pyIsSpace(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}

export interface Rendered {
  /** The whole conversation, rendered without a generation prompt. */
  readonly text: string;
  /** Sorted, disjoint UTF-16 ranges of `text` that train. */
  readonly spans: [number, number][];
}

/** Renders the conversation and finds the character spans that train (the prefix rule). */
export function findTrainedSpans(tok: ChatTokenizer, conv: Conversation): Rendered {
  const { messages } = conv;
  const cache = new Map<number, string>(); // each prefix is rendered once per example
  const render = (n: number, gen: boolean): string => {
    if (n === 0) return '';
    const key = 2 * n + (gen ? 1 : 0);
    let s = cache.get(key);
    if (s === undefined) cache.set(key, (s = tok.render({ messages: messages.slice(0, n), tools: conv.tools }, gen)));
    return s;
  };
  const full = render(messages.length, false);
  const spans: [number, number][] = [];
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (!isTrainedMessage(m)) continue;
    const after = render(i + 1, false);
    if (!full.startsWith(after)) throw new TemplateError(`chat template is not prefix-stable: rendering messages[:${i + 1}] is not a prefix of the full conversation`);
    const plainBefore = render(i, false);
    if (!after.startsWith(plainBefore)) throw new TemplateError(`chat template is not prefix-stable: rendering messages[:${i}] is not a prefix of messages[:${i + 1}]`);
    let start = plainBefore.length;
    const promptBefore = render(i, true);
    if (promptBefore.length > plainBefore.length && after.startsWith(promptBefore)) start = promptBefore.length;
    else {
      const content = m['content'];
      if (typeof content === 'string') {
        const stripped = pyStrip(content);
        if (stripped) {
          const found = after.indexOf(stripped, start);
          if (found >= 0) start = found;
        }
      }
    }
    let end = after.length;
    while (end > start && pyIsSpace(after.charCodeAt(end - 1))) end--;
    if (end > start) spans.push([start, end]);
  }
  return { text: full, spans };
}

/** Per-token flags: 1 when the token's range overlaps a trained span. */
export function trainableFlags(offsets: Int32Array, spans: readonly (readonly [number, number])[]): Uint8Array {
  const n = offsets.length / 2;
  const flags = new Uint8Array(n);
  let si = 0;
  for (let t = 0; t < n; t++) {
    const a = offsets[2 * t]!;
    const b = offsets[2 * t + 1]!;
    while (si < spans.length && spans[si]![1] <= a) si++;
    if (si < spans.length && a < spans[si]![1] && b > spans[si]![0]) flags[t] = 1;
  }
  return flags;
}

/**
 * Rule 1 of the contract: a template with `{% generation %}` blocks. The rendering is the one
 * `apply_chat_template` tokenizes; the blocks are the ranges `return_assistant_tokens_mask` marks.
 * A block belongs to the k-th assistant message when it is the k-th block; that pairing is only
 * needed (and checked) when a message has weight 0.
 */
export function generationSpans(tok: ChatTokenizer, conv: Conversation): Rendered {
  const r = tok.renderGeneration(conv);
  if (!r) throw new TemplateError('the {% generation %} blocks of the chat template cannot be located in this rendering (unpaired markers, or the example contains U+FDD0/U+FDD1)');
  const assistants = conv.messages.filter((m) => m['role'] === 'assistant');
  const zero = assistants.some((m) => m['weight'] === 0);
  if (zero && r.blocks.length !== assistants.length) {
    throw new TemplateError(`the chat template wrote ${r.blocks.length} {% generation %} blocks for ${assistants.length} assistant messages, so the weight-0 message's block cannot be told apart`);
  }
  const spans = r.blocks.filter(([a, b], k) => b > a && !(zero && assistants[k]!['weight'] === 0));
  return { text: r.text, spans };
}

/** What to do with a template that rewrites history (config `historyRewriting`). */
export type HistoryRewriting = 'perTurn' | 'lastTurn' | 'refuse';

/** Which rule of the mask contract produced an example's sequences. */
export type MaskRule = 'generation' | 'prefix' | 'perTurn' | 'lastTurn';

export interface Training {
  readonly rule: MaskRule;
  /** The token sequences the trainer trains on: one, or one per trained assistant turn (`perTurn`). */
  readonly sequences: Rendered[];
}

/**
 * The span of message i inside the rendering of messages[:i+1] (that rendering ends with it, so
 * only its own prefix has to be stable: the earlier turns are rendered as inference renders them
 * when message i is the reply being generated).
 */
function lastTurnSpan(tok: ChatTokenizer, conv: Conversation, i: number): Rendered {
  const messages = conv.messages.slice(0, i + 1).map((m, k) => (k < i && isTrainedMessage(m) ? { ...m, weight: 0 } : m));
  try {
    return findTrainedSpans(tok, { messages, tools: conv.tools });
  } catch (e) {
    if (!(e instanceof TemplateError)) throw e;
    throw new TemplateError(`${e.message}, even with messages[:${i + 1}] rendered on their own: ${TRAINING_TEMPLATE_HINT}`);
  }
}

/** What to do when no rule can mask an example (masking.py says the same). */
export const TRAINING_TEMPLATE_HINT = 'the template renders this turn differently once it is answered; point trainingChatTemplate at a prefix-preserving training template with {% generation %} markers (e.g. TRL\'s chat_templates/*_training.jinja)';

/**
 * The sequences an example trains as, by the mask contract (docs/tokens.md):
 *  1. generation markers → the one rendering, its blocks;
 *  2. prefix-stable for this example → the one rendering, spans by the prefix rule;
 *  3. otherwise the template rewrites history: `perTurn` renders messages[:i+1] for each trained
 *     assistant message i (inference's own view of that turn) and trains only its last turn;
 *     `lastTurn` keeps the full rendering and trains only the last trained assistant turn;
 *     `refuse` raises the prefix rule's TemplateError.
 */
export function trainingSequences(tok: ChatTokenizer, conv: Conversation, mode: HistoryRewriting = 'perTurn'): Training {
  if (tok.usesGeneration(conv)) return { rule: 'generation', sequences: [generationSpans(tok, conv)] };
  try {
    return { rule: 'prefix', sequences: [findTrainedSpans(tok, conv)] };
  } catch (e) {
    if (!(e instanceof TemplateError) || mode === 'refuse') throw e;
  }
  const trained: number[] = [];
  conv.messages.forEach((m, i) => {
    if (isTrainedMessage(m)) trained.push(i);
  });
  if (mode === 'perTurn') return { rule: 'perTurn', sequences: trained.map((i) => lastTurnSpan(tok, conv, i)) };
  const last = trained[trained.length - 1]!;
  const seq = lastTurnSpan(tok, conv, last);
  const full = tok.render(conv);
  if (!full.startsWith(seq.text)) throw new TemplateError(`chat template is not prefix-stable: rendering messages[:${last + 1}] is not a prefix of the full conversation, so its last turn cannot be located (historyRewriting "lastTurn")`);
  return { rule: 'lastTurn', sequences: [{ text: full, spans: seq.spans }] };
}
