/** One key per distinct token-worker setup (config/templateChoice.ts chooses the template and rule). */
import type { WorkerInit } from './protocol';

/** A model folder with another template or history rule is another tokenizer setup. */
export function workerKey(modelDir: string, o: Omit<WorkerInit, 'modelDir'>): string {
  return JSON.stringify([modelDir, o.chatTemplate ?? null, o.historyRewriting ?? 'perTurn']);
}
