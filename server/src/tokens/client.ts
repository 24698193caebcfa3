/** Talks to a token worker (worker.ts) from the language server or the CLI. */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { PreviewSegment } from './count';
import type { LineCount, WorkerInit, WorkerRequest, WorkerResponse } from './protocol';

/**
 * The worker script next to this code: dist/tokenWorker.js when bundled (this module is then part
 * of dist/server.js or dist/cli.js), out/server/src/tokens/worker.js under tsc.
 */
export function workerScript(): string {
  for (const name of ['tokenWorker.js', 'worker.js']) {
    const p = join(__dirname, name);
    if (existsSync(p)) return p;
  }
  throw new Error(`token worker script not found next to ${__dirname} (expected tokenWorker.js or worker.js)`);
}

export class TokenWorkerError extends Error {}

/**
 * The worker's old-generation heap limit. Without one V8 lets garbage pile up (the BPE word cache
 * churns): a worker's RSS grew to ~450 MB over 125 MB of data while it retained ~95 MB (Llama 3).
 * With a limit it collects sooner and stays flat. The limit scales with tokenizer.json (retained
 * heap is about 10x its size), never under 256 MB. LORA_QUEUE_TOKEN_WORKER_HEAP_MB overrides it.
 */
export function heapLimitMb(modelDir: string): number {
  const env = Number(process.env['LORA_QUEUE_TOKEN_WORKER_HEAP_MB']);
  if (Number.isInteger(env) && env > 0) return env;
  let size = 0;
  try {
    size = statSync(join(modelDir, 'tokenizer.json')).size;
  } catch {
    // the worker reports the missing file
  }
  return Math.max(256, Math.ceil((size / 2 ** 20) * 28));
}

type Pending = { resolve: (r: WorkerResponse) => void; reject: (e: Error) => void };

export class TokenWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;
  /** Resolves when the tokenizer is loaded; rejects (TokenWorkerError) when it cannot be. */
  readonly ready: Promise<void>;

  /** Which template renders the examples, for the user (known once `ready` resolves). */
  templateOrigin = "the model's own chat template";

  constructor(readonly modelDir: string, script: string = workerScript(), readonly options: Omit<WorkerInit, 'modelDir'> = {}) {
    // Referenced while loading and while requests are out, so a caller awaiting `ready` or a
    // count keeps the process alive; unreferenced when idle, so an idle worker never does.
    this.worker = new Worker(script, {
      workerData: { modelDir, ...options } satisfies WorkerInit,
      resourceLimits: { maxOldGenerationSizeMb: heapLimitMb(modelDir) },
    });
    this.ready = new Promise<void>((resolve, reject) => {
      const onMessage = (m: WorkerResponse): void => {
        if (m.type === 'ready') {
          this.templateOrigin = m.templateOrigin;
          if (this.pending.size === 0) this.worker.unref();
          resolve();
        }
        else if (m.type === 'fatal') {
          this.fail(new TokenWorkerError(m.message));
          reject(this.failure);
        } else {
          const p = this.pending.get(m.id);
          if (!p) return;
          this.pending.delete(m.id);
          if (this.pending.size === 0) this.worker.unref();
          if (m.type === 'failed') p.reject(new TokenWorkerError(m.message));
          else p.resolve(m);
        }
      };
      this.worker.on('message', onMessage);
      this.worker.on('error', (e) => {
        this.fail(e);
        reject(e);
      });
      this.worker.on('exit', (code) => {
        this.fail(new TokenWorkerError(`token worker exited (code ${code})`));
        reject(this.failure);
      });
    });
    this.ready.catch(() => undefined); // callers see the failure through their own requests
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }

  private request(req: WorkerRequest): Promise<WorkerResponse> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.set(req.id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage(req);
    });
  }

  /** Requests waiting for an answer (for back-pressure). */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Counts a batch of dataset lines; one result per line, in order. */
  async count(lines: readonly string[], opts: { maxSeqLength?: number | undefined; stats?: boolean } = {}): Promise<LineCount[]> {
    await this.ready;
    const r = await this.request({ type: 'count', id: this.nextId++, lines, maxSeqLength: opts.maxSeqLength, stats: opts.stats });
    if (r.type !== 'counts') throw new TokenWorkerError(`unexpected answer ${r.type}`);
    return r.results;
  }

  /** The loss-mask preview of one line: segments that reassemble the rendered conversation. */
  async preview(line: string): Promise<PreviewSegment[]> {
    await this.ready;
    const r = await this.request({ type: 'preview', id: this.nextId++, line });
    if (r.type !== 'preview') throw new TokenWorkerError(`unexpected answer ${r.type}`);
    if (!r.segments) throw new TokenWorkerError(r.error ?? 'cannot render the example');
    return r.segments;
  }

  async close(): Promise<void> {
    this.fail(new TokenWorkerError('token worker closed'));
    await this.worker.terminate();
  }
}
