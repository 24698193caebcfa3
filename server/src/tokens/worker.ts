/**
 * The token worker: a worker_threads thread that owns one model's tokenizer and answers batches
 * of dataset lines, so tokenization never delays the language server's syntax diagnostics or the
 * CLI's reading. Bundled as dist/tokenWorker.js; compiled by tsc as out/server/src/tokens/worker.js.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { exampleHash } from '../dataset/line';
import { conversationOf, countConversation, previewConversation } from './count';
import type { LineCount, WorkerInit, WorkerRequest, WorkerResponse } from './protocol';
import type { HistoryRewriting } from './mask';
import { loadChatTokenizer, type ChatTokenizer } from './tokenizer';
import { hashingReady } from '../dataset/hash';

const BLANK = /^[ \t\r\f\v\u00a0\ufeff]*$/;

export function countLine(tok: ChatTokenizer, line: string, maxSeqLength: number | undefined, stats: boolean, mode: HistoryRewriting = 'perTurn'): LineCount {
  if (BLANK.test(line)) return { skipped: 'blank' };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { skipped: 'json' };
  }
  const hash = stats ? exampleHash(value) : undefined;
  try {
    const conv = conversationOf(value);
    const c = countConversation(tok, conv, maxSeqLength, mode);
    if (!stats) return c;
    const roles: Record<string, number> = {};
    for (const m of conv.messages) {
      const r = typeof m['role'] === 'string' ? m['role'] : '(none)';
      roles[r] = (roles[r] ?? 0) + 1;
    }
    return hash === undefined ? { ...c, roles } : { ...c, roles, hash };
  } catch (e) {
    const error = (e as Error).message ?? String(e);
    return hash === undefined ? { error } : { error, hash };
  }
}

async function serve(): Promise<void> {
  const port = parentPort;
  if (!port) return;
  const { modelDir, chatTemplate, historyRewriting } = workerData as WorkerInit;
  const mode = historyRewriting ?? 'perTurn';
  let tok: ChatTokenizer;
  try {
    await hashingReady(); // the duplicate hash of `stats`
    tok = loadChatTokenizer(modelDir, { chatTemplate });
  } catch (e) {
    port.postMessage({ type: 'fatal', message: (e as Error).message } satisfies WorkerResponse);
    return;
  }
  port.postMessage({ type: 'ready', templateOrigin: tok.templateOrigin } satisfies WorkerResponse);
  port.on('message', (req: WorkerRequest) => {
    let res: WorkerResponse;
    try {
      if (req.type === 'count') {
        res = { type: 'counts', id: req.id, results: req.lines.map((l) => countLine(tok, l, req.maxSeqLength, !!req.stats, mode)) };
      } else {
        try {
          res = { type: 'preview', id: req.id, segments: previewConversation(tok, conversationOf(JSON.parse(req.line)), mode) };
        } catch (e) {
          res = { type: 'preview', id: req.id, segments: null, error: (e as Error).message };
        }
      }
    } catch (e) {
      res = { type: 'failed', id: req.id, message: (e as Error).message };
    }
    port.postMessage(res);
  });
}

void serve();
