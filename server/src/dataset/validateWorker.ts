/** Worker thread: takes byte ranges of a file until none is left, and posts each part back (typed arrays transferred). */
import { parentPort, workerData } from 'node:worker_threads';
import { hashingReady } from './hash';
import { takeRanges, type RangeWork } from './stream';

const work = workerData as RangeWork;
void hashingReady().then(() => {
  takeRanges(work, (k, part) => parentPort!.postMessage({ k, part }, [part.hashes.buffer as ArrayBuffer, part.lengths.buffer as ArrayBuffer]));
  parentPort!.postMessage('done');
});
