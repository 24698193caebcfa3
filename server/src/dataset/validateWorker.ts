/** Worker thread: validates one byte range of a file and posts its part back (typed arrays transferred). */
import { parentPort, workerData } from 'node:worker_threads';
import type { ValidateOptions } from './file';
import { hashingReady } from './hash';
import { validateRangeSync } from './stream';

const { path, start, end, opts, fastPath } = workerData as { path: string; start: number; end: number; opts: ValidateOptions; fastPath: boolean };
void hashingReady().then(() => {
  const part = validateRangeSync(path, start, end, opts, { fastPath });
  parentPort!.postMessage(part, [part.hashes.buffer as ArrayBuffer, part.lengths.buffer as ArrayBuffer]);
});
