/** A real JSON-RPC client speaking LSP to `lora-queue lsp --stdio`, for tests and the LSP benchmark. */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import type { CodeAction, Diagnostic, PublishDiagnosticsParams, TextDocumentContentChangeEvent } from 'vscode-languageserver-protocol';
import { QueueStateNotification } from '../../common/protocol';

export const BIN = resolve(__dirname, '..', '..', '..', 'bin', 'lora-queue.js');

export class LspClient {
  readonly conn: MessageConnection;
  private readonly proc: ChildProcess;
  private readonly published = new Map<string, PublishDiagnosticsParams>();
  private waiters: (() => void)[] = [];
  stderr = '';
  /** Every `loraQueue/state` notification, in order. */
  readonly states: unknown[] = [];

  constructor(cwd?: string) {
    this.proc = spawn(process.execPath, [BIN, 'lsp', '--stdio'], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stderr!.on('data', (d) => (this.stderr += d));
    this.conn = createMessageConnection(new StreamMessageReader(this.proc.stdout!), new StreamMessageWriter(this.proc.stdin!));
    this.conn.onNotification('textDocument/publishDiagnostics', (p: PublishDiagnosticsParams) => {
      this.published.set(p.uri, p);
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
    this.conn.onRequest('workspace/configuration', () => [{}]);
    this.conn.onNotification(QueueStateNotification.type, (p) => {
      this.states.push(p);
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
    this.conn.listen();
  }

  async initialize(rootUri: string | null = null, initializationOptions?: unknown): Promise<unknown> {
    const r = await this.conn.sendRequest('initialize', { processId: process.pid, rootUri, capabilities: {}, workspaceFolders: null, initializationOptions });
    await this.conn.sendNotification('initialized', {});
    return r;
  }

  open(uri: string, text: string, version = 1): Promise<void> {
    return this.conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'jsonl', version, text } });
  }

  change(uri: string, version: number, changes: TextDocumentContentChangeEvent[]): Promise<void> {
    return this.conn.sendNotification('textDocument/didChange', { textDocument: { uri, version }, contentChanges: changes });
  }

  close(uri: string): Promise<void> {
    return this.conn.sendNotification('textDocument/didClose', { textDocument: { uri } });
  }

  codeActions(uri: string, diagnostics: Diagnostic[]): Promise<CodeAction[]> {
    const range = diagnostics[0]?.range ?? { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
    return this.conn.sendRequest('textDocument/codeAction', { textDocument: { uri }, range, context: { diagnostics } });
  }

  /** Waits for a `loraQueue/state` push that satisfies `pred`. */
  async state<T>(pred: (p: T) => boolean, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = (this.states as T[]).findLast(pred);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching loraQueue/state; last: ${JSON.stringify(this.states.at(-1))?.slice(0, 800)}; stderr: ${this.stderr}`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        this.waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }

  /** Waits until diagnostics for `uri` arrive that satisfy `pred` (version, content). Polls events, never sleeps. */
  async diagnostics(uri: string, pred: (p: PublishDiagnosticsParams) => boolean = () => true, timeoutMs = 10_000): Promise<PublishDiagnosticsParams> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = this.published.get(uri);
      if (p && pred(p)) return p;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching diagnostics for ${uri}; last: ${JSON.stringify(p)?.slice(0, 500)}; stderr: ${this.stderr}`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        this.waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }

  async shutdown(): Promise<void> {
    await this.conn.sendRequest('shutdown');
    await this.conn.sendNotification('exit');
    await new Promise<void>((res) => (this.proc.exitCode !== null ? res() : this.proc.once('exit', () => res())));
    this.conn.dispose();
  }
}
