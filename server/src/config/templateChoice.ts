/**
 * Which chat template and history rule training uses, from the config in force: what the engine
 * puts in job.json and what the token workers are started with (the editor, `stats`). In config/
 * because it reads config keys; tokens/ takes the result and never reads the config.
 */
import { dirname, resolve } from 'node:path';

export interface TemplateKeys {
  readonly trainingChatTemplate?: string | undefined;
  readonly historyRewriting?: 'perTurn' | 'lastTurn' | 'refuse' | undefined;
}

export interface TemplateOptions {
  /** An absolute .jinja path, or the name of one of the model's template variants; undefined: the model's own. */
  readonly chatTemplate?: string | undefined;
  readonly historyRewriting: 'perTurn' | 'lastTurn' | 'refuse';
}

/**
 * `trainingChatTemplate` is a file when it looks like a path (a `/` or a `.jinja` ending),
 * resolved against the config's folder as the engine resolves it for job.json; otherwise the name
 * of one of the model's template variants.
 */
export function workerOptions(config: TemplateKeys, configFile: string): TemplateOptions {
  const t = config.trainingChatTemplate;
  const chatTemplate = t === undefined ? undefined : isTemplatePath(t) ? resolve(dirname(configFile), t) : t;
  return { chatTemplate, historyRewriting: config.historyRewriting ?? 'perTurn' };
}

export function isTemplatePath(t: string): boolean {
  return t.includes('/') || t.includes('\\') || t.endsWith('.jinja');
}
