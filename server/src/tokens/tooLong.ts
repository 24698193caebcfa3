/** The `too-long` warning: over the configured max sequence length, in the model's own tokens. */
import type { TokenCount } from './count';

export interface TooLong {
  readonly code: 'too-long';
  readonly message: string;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

/** The warning for one example, or undefined when it fits in `maxSeqLength` tokens. */
export function tooLongDiagnostic(count: Pick<TokenCount, 'tokens' | 'trainable' | 'droppedTrainable'>, maxSeqLength: number): TooLong | undefined {
  if (count.tokens <= maxSeqLength) return undefined;
  const over = count.tokens - maxSeqLength;
  let loss: string;
  if (count.trainable === null) loss = 'the trained tokens cannot be located with this chat template';
  else if (count.droppedTrainable === 0) loss = 'truncation (right side) drops no trainable tokens';
  else if (count.droppedTrainable >= count.trainable) loss = `truncation (right side) drops all ${fmt(count.trainable)} trainable tokens: the example trains nothing`;
  else loss = `truncation (right side) drops ${fmt(count.droppedTrainable)} of its ${fmt(count.trainable)} trainable tokens`;
  return {
    code: 'too-long',
    message: `example is ${fmt(count.tokens)} tokens after the chat template, ${fmt(over)} over maxSeqLength ${fmt(maxSeqLength)}; ${loss} (shorten or split it, or raise maxSeqLength)`,
  };
}
