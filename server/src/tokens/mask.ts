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

/** Renders the conversation and finds the character spans that train. */
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
