/** Worker thread: takes byte ranges of a file until none is left, and posts each part back on its port (typed arrays transferred), then 'done'. */
import { type MessagePort, workerData } from 'node:worker_threads';
import { hashingReady } from './hash';
import { takeRanges, type RangeWork } from './stream';

const { work, port } = workerData as { work: RangeWork; port: MessagePort };
void hashingReady().then(() => {
  takeRanges(work, (k, part) => port.postMessage({ k, part }, [part.hashes.buffer as ArrayBuffer, part.lengths.buffer as ArrayBuffer]));
  port.postMessage('done');
});
