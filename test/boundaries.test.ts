/**
 * scripts/check-boundaries.mjs, run as a subprocess on small trees laid out like the repository:
 * each rule of docs/architecture.md it enforces is broken once, and the real tree passes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';

const REPO = resolve(__dirname, '..', '..');
const SCRIPT = join(REPO, 'scripts', 'check-boundaries.mjs');
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function check(files: Record<string, string>, cwd?: string): { code: number | null; stderr: string } {
  let root = cwd;
  if (!root) {
    root = mkdtempSync(join(tmpdir(), 'lq-bounds-'));
    dirs.push(root);
    for (const d of ['common', 'server/src', 'client/src']) mkdirSync(join(root, d), { recursive: true });
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
  }
  const r = spawnSync(process.execPath, [SCRIPT], { cwd: root, encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

describe('check-boundaries', () => {
  it('passes the repository as it is', () => {
    const r = check({}, REPO);
    assert.equal(r.code, 0, r.stderr);
  });

  it('passes a tree that keeps the rules (type-only protocol imports below lsp/ included)', () => {
    const r = check({
      'common/protocol.ts': "import { RequestType } from 'vscode-languageserver-protocol';\nexport const T = new RequestType('x');\nexport interface Q { a: number }\n",
      'server/src/dataset/line.ts': 'export const line = 1;\n',
      'server/src/engine/types.ts': "import type { Q } from '../../../common/protocol';\nimport { line } from '../dataset/line';\nexport const q: Q = { a: line };\n",
      'server/src/lsp/server.ts': "import { T } from '../../../common/protocol';\nimport { q } from '../engine/types';\nexport const s = [T, q];\n",
    });
    assert.equal(r.code, 0, r.stderr);
  });

  const broken: [string, Record<string, string>, RegExp][] = [
    ['vscode outside the client', { 'server/src/engine/a.ts': "const v = require('vscode');\n" }, /server\/src\/engine\/a\.ts imports vscode/],
    ['a lower folder importing a higher one', { 'server/src/dataset/a.ts': "import { e } from '../engine/e';\n", 'server/src/engine/e.ts': 'export const e = 1;\n' }, /dataset\/a\.ts imports server\/src\/engine\/e\.ts: server\/src\/dataset\/ may import only/],
    ['the client importing the server', { 'client/src/a.ts': "import { e } from '../../server/src/engine/e';\n", 'server/src/engine/e.ts': 'export const e = 1;\n' }, /client\/src\/a\.ts imports server\/src\/engine\/e\.ts/],
    ['the CLI importing the language server', { 'server/src/cli/a.ts': "import { s } from '../lsp/s';\n", 'server/src/lsp/s.ts': 'export const s = 1;\n' }, /cli\/a\.ts imports server\/src\/lsp\/s\.ts/],
    ['LSP server libraries outside lsp/', { 'server/src/config/a.ts': "import { TextDocument } from 'vscode-languageserver-textdocument';\n" }, /config\/a\.ts imports vscode-languageserver-textdocument/],
    ['values from protocol.ts below lsp/', { 'common/protocol.ts': 'export const X = 1;\n', 'server/src/config/a.ts': "import { X } from '../../../common/protocol';\n" }, /config\/a\.ts imports values from common\/protocol\.ts/],
    ['Node in the webview page', { 'client/src/lossChartPage.ts': "import { readFileSync } from 'node:fs';\n" }, /lossChartPage\.ts runs in a webview and imports node:fs/],
    ['an import cycle, type-only edges included', {
      'server/src/tokens/a.ts': "import { b } from './b';\nexport const a = b;\n",
      'server/src/tokens/b.ts': "import type { C } from './c';\nexport const b = 1;\n",
      'server/src/tokens/c.ts': "import { a } from './a';\nexport type C = typeof a;\n",
    }, /import cycle: server\/src\/tokens\/a\.ts → server\/src\/tokens\/b\.ts → server\/src\/tokens\/c\.ts → server\/src\/tokens\/a\.ts/],
  ];
  for (const [name, files, message] of broken) {
    it(`fails on ${name}`, () => {
      const r = check(files);
      assert.equal(r.code, 1);
      assert.match(r.stderr, message);
    });
  }
});
