/**
 * Token counts for open datasets, off the hot path: one worker thread per base model does the
 * tokenizing; syntax diagnostics are published first and never wait for it. Counts arrive in
 * batches and are kept per line, so an edit recounts only the lines it touched.
 */
import { dirname, resolve } from 'node:path';
import { checkModelFolder } from '../config/diagnostics';
import type { Config } from '../config/schema';
import { TokenWorker } from '../tokens/client';
import type { WorkerInit } from '../tokens/protocol';
import { workerOptions } from '../config/templateChoice';
import { workerKey } from '../tokens/templateChoice';

export interface TokenSetup {
  readonly modelDir: string;
  readonly maxSeqLength: number;
  /** trainingChatTemplate and historyRewriting, as the worker takes them. */
  readonly options: Omit<WorkerInit, 'modelDir'>;
  /** Equal for two setups that count alike (same model, template and rule). */
  readonly key: string;
}

/** The base model and limit from the configuration in force, or why there are no token counts. */
export function tokenSetup(config: Config | undefined, configFile: string | undefined): TokenSetup | { readonly why: string } {
  if (!config || !configFile) return { why: 'no lora-queue.json in force: set "baseModel" there to see token counts' };
  if (!config.baseModel) return { why: 'set "baseModel" in lora-queue.json to see token counts' };
  const modelDir = resolve(dirname(configFile), config.baseModel);
  const problem = checkModelFolder(modelDir);
  if (problem) return { why: `baseModel ${problem}` };
  const options = workerOptions(config, configFile);
  return { modelDir, maxSeqLength: config.maxSeqLength, options, key: workerKey(modelDir, options) };
}

export class TokenService {
  private readonly workers = new Map<string, { worker: TokenWorker; failed?: string }>();

  constructor(private readonly log: (msg: string) => void) {}

  worker(setup: TokenSetup): TokenWorker | { failed: string } {
    const { modelDir } = setup;
    let w = this.workers.get(setup.key);
    if (!w) {
      const worker = new TokenWorker(modelDir, undefined, setup.options);
      const entry: { worker: TokenWorker; failed?: string } = { worker };
      this.workers.set(setup.key, entry);
      this.log(`token worker started for ${modelDir}`);
      worker.ready.catch((e: Error) => {
        entry.failed = e.message;
        this.log(`token worker for ${modelDir} failed: ${e.message}`);
      });
      w = entry;
    }
    return w.failed ? { failed: w.failed } : w.worker;
  }

  async close(): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => w.worker.close().catch(() => undefined)));
    this.workers.clear();
  }
}
