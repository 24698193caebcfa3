/** Which chat template and history rule the token workers use, from the config in force. */
import { dirname, resolve } from 'node:path';
import type { WorkerInit } from './protocol';

export interface TemplateKeys {
  readonly trainingChatTemplate?: string | undefined;
  readonly historyRewriting?: 'perTurn' | 'lastTurn' | 'refuse' | undefined;
}

/**
 * `trainingChatTemplate` is a file when it looks like a path (a `/` or a `.jinja` ending),
 * resolved against the config's folder as the engine resolves it for job.json; otherwise the name
 * of one of the model's template variants.
 */
export function workerOptions(config: TemplateKeys, configFile: string): Omit<WorkerInit, 'modelDir'> {
  const t = config.trainingChatTemplate;
  const chatTemplate = t === undefined ? undefined : isTemplatePath(t) ? resolve(dirname(configFile), t) : t;
  return { chatTemplate, historyRewriting: config.historyRewriting ?? 'perTurn' };
}

export function isTemplatePath(t: string): boolean {
  return t.includes('/') || t.includes('\\') || t.endsWith('.jinja');
}

/** One key per distinct worker setup (a model folder with another template is another tokenizer). */
export function workerKey(modelDir: string, o: Omit<WorkerInit, 'modelDir'>): string {
  return JSON.stringify([modelDir, o.chatTemplate ?? null, o.historyRewriting ?? 'perTurn']);
}
