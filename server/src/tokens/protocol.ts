/** Messages between the token worker (worker.ts) and its client (client.ts). */
import type { PreviewSegment } from './count';
import type { HistoryRewriting, MaskRule } from './mask';

export interface WorkerInit {
  /** The Hugging Face model folder (tokenizer.json, tokenizer_config.json, chat template). */
  readonly modelDir: string;
  /** `trainingChatTemplate`: an absolute .jinja path or a template variant's name; the model's own when absent. */
  readonly chatTemplate?: string | undefined;
  /** `historyRewriting`: the rule for templates that rewrite earlier turns (default perTurn). */
  readonly historyRewriting?: HistoryRewriting | undefined;
}

export type WorkerRequest =
  | {
      readonly type: 'count';
      readonly id: number;
      /** Dataset lines (JSON text, one example each). */
      readonly lines: readonly string[];
      readonly maxSeqLength?: number | undefined;
      /** Also return role counts and the duplicate hash (for `stats`). */
      readonly stats?: boolean | undefined;
    }
  | { readonly type: 'preview'; readonly id: number; readonly line: string };

/** The result for one line. */
export type LineCount =
  | {
      readonly tokens: number;
      /** The longest sequence's tokens (= tokens unless the example trains as several sequences). */
      readonly longest: number;
      readonly rule?: MaskRule;
      readonly sequences?: number;
      /** null when no rule can mask the example, see maskError. */
      readonly trainable: number | null;
      readonly droppedTrainable: number;
      readonly maskError?: string;
      readonly roles?: Record<string, number>;
      readonly hash?: number;
    }
  /** The line is blank or not JSON (the validator reports it): not an example. */
  | { readonly skipped: 'blank' | 'json' }
  /** An example that cannot be rendered (no messages, or the template raised). */
  | { readonly error: string; readonly hash?: number };

export type WorkerResponse =
  | { readonly type: 'ready'; readonly templateOrigin: string }
  | { readonly type: 'fatal'; readonly message: string }
  | { readonly type: 'counts'; readonly id: number; readonly results: LineCount[] }
  | { readonly type: 'preview'; readonly id: number; readonly segments: PreviewSegment[] | null; readonly error?: string }
  | { readonly type: 'failed'; readonly id: number; readonly message: string };
