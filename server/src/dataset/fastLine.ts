/**
 * The WebAssembly fast path of the file validator (source: server/wasm/fastLine.ts). For a line of
 * a common clean shape (a plain chat, or a tool-call example with a tools list) it gives the
 * duplicate hash and the line's UTF-16 length without
 * decoding the line or running JSON.parse; for every other line it declines and the caller runs
 * validateLine. It agrees with validateLine wherever it does not decline (property-tested).
 *
 * File chunks are read straight into the module's memory (`chunk`), so a line that lies inside a
 * chunk is checked in place; a line that crosses chunks is copied in first.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// The server's lib has no DOM, and @types/node 20 does not declare WebAssembly: the part used here.
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
};
interface WasmModule {
  readonly __wasmModule?: never;
}

interface Exports {
  memory: { readonly buffer: ArrayBuffer };
  alloc(size: number): number;
  check(p: number, end: number, out: number): number;
  checkTools(p: number, end: number, out: number, scratch: number): number;
  utf16Length(): number;
  hash53(p: number, len: number): number;
}

/** Longest line the fast path takes; longer lines (rare) go to the full validator. */
export const FAST_MAX_LINE = 1 << 20;
/** Longest tool-call line it takes: its scratch memory is six times this. */
export const TOOLS_MAX_LINE = 1 << 18;

/** The compiled module sits beside this file: dist/fastLine.wasm in the bundles, out/server/src/dataset/ for the tests. */
function wasmPath(): string {
  return join(__dirname, 'fastLine.wasm');
}

let compiled: WasmModule | undefined;

function module(): WasmModule {
  if (!compiled) {
    const path = wasmPath();
    if (!existsSync(path)) throw new Error(`${path} is missing: the build (npm run build) compiles it from server/wasm/fastLine.ts`);
    compiled = new WebAssembly.Module(readFileSync(path));
  }
  return compiled;
}

export class FastLines {
  /** Where to read file chunks: a view of the module's memory, `chunkBytes` long. */
  readonly chunk: Buffer;
  private readonly x: Exports;
  private readonly memoryBuffer: ArrayBuffer;
  private readonly chunkAt: number;
  private readonly lineAt: number;
  private readonly line: Buffer;
  private readonly outAt: number;
  private readonly scratchAt: number;

  constructor(chunkBytes: number) {
    const instance = new WebAssembly.Instance(module(), {
      env: {
        abort: () => {
          throw new Error('fastLine.wasm aborted');
        },
      },
    });
    this.x = instance.exports as unknown as Exports;
    this.chunkAt = this.x.alloc(chunkBytes);
    this.lineAt = this.x.alloc(FAST_MAX_LINE);
    this.outAt = this.x.alloc(FAST_MAX_LINE + 64); // the module writes up to 26 bytes past a line's length (a tool-call line: 2n + 64)
    this.scratchAt = this.x.alloc(6 * TOOLS_MAX_LINE + 256);
    // Taken after the last alloc: the module never grows its memory again, so the views stay valid.
    this.memoryBuffer = this.x.memory.buffer;
    this.chunk = Buffer.from(this.memoryBuffer, this.chunkAt, chunkBytes);
    this.line = Buffer.from(this.memoryBuffer, this.lineAt, FAST_MAX_LINE);
  }

  /**
   * The duplicate hash of buf[start, end) when the line has a clean shape (no diagnostics), else
   * -1: first the plain chat shape, then the tool-call shape.
   */
  check(buf: Buffer, start: number, end: number): number {
    const n = end - start;
    if (n > FAST_MAX_LINE) return -1;
    let at: number;
    if (buf === this.chunk) {
      at = this.chunkAt + start;
    } else if (buf.buffer === this.memoryBuffer) {
      at = buf.byteOffset + start;
    } else {
      buf.copy(this.line, 0, start, end);
      at = this.lineAt;
    }
    const h = this.x.check(at, at + n, this.outAt);
    if (h >= 0 || n > TOOLS_MAX_LINE) return h;
    return this.x.checkTools(at, at + n, this.outAt, this.scratchAt);
  }

  /** The UTF-16 length of the line the last successful check accepted. */
  utf16Length(): number {
    return this.x.utf16Length();
  }

  /** 53 bits of xxHash64 of bytes, as the module computes it (for tests against hash53). */
  hashBytes(bytes: Uint8Array): number {
    if (bytes.length > FAST_MAX_LINE) throw new RangeError('too long');
    this.line.set(bytes);
    return this.x.hash53(this.lineAt, bytes.length);
  }
}

let shared: FastLines | undefined;

/** One instance per thread, for lines that do not come from its chunk buffer. */
export function fastLines(): FastLines {
  shared ??= new FastLines(1 << 22);
  return shared;
}
