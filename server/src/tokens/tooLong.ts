/** The `too-long` warning: over the configured max sequence length, in the model's own tokens. */
import type { TokenCount } from './count';

export interface TooLong {
  readonly code: 'too-long';
  readonly message: string;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

/** The warning for one example, or undefined when it fits in `maxSeqLength` tokens. */
export function tooLongDiagnostic(count: Pick<TokenCount, 'tokens' | 'trainable' | 'droppedTrainable'> & Partial<Pick<TokenCount, 'longest' | 'sequences'>>, maxSeqLength: number): TooLong | undefined {
  // maxSeqLength limits each sequence the trainer trains on; with several (perTurn) the longest.
  const longest = count.longest ?? count.tokens;
  if (longest <= maxSeqLength) return undefined;
  const over = longest - maxSeqLength;
  let loss: string;
  if (count.trainable === null) loss = 'the trained tokens cannot be located with this chat template';
  else if (count.droppedTrainable === 0) loss = 'truncation (right side) drops no trainable tokens';
  else if (count.droppedTrainable >= count.trainable) loss = `truncation (right side) drops all ${fmt(count.trainable)} trainable tokens: the example trains nothing`;
  else loss = `truncation (right side) drops ${fmt(count.droppedTrainable)} of its ${fmt(count.trainable)} trainable tokens`;
  return {
    code: 'too-long',
    message: `${count.sequences && count.sequences > 1 ? `the longest of the example's ${fmt(count.sequences)} sequences (one per assistant turn) is ${fmt(longest)} tokens` : `example is ${fmt(longest)} tokens`} after the chat template, ${fmt(over)} over maxSeqLength ${fmt(maxSeqLength)}; ${loss} (shorten or split it, or raise maxSeqLength)`,
  };
}
