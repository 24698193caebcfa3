/** The real CLI as a subprocess: outputs and exit codes of `lora-queue validate`. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it, before } from 'node:test';

const BIN = resolve(__dirname, '..', '..', 'bin', 'lora-queue.js');
const GOOD = '{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]}\n';
const BAD = '{"messages":[{"role":"user","content":"Hi"},{"role":"asistant","content":"Hello"}]}\n\n';

function lq(args: string[], opts: { cwd?: string; input?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', rej);
    p.on('close', (code) => res({ code: code ?? -1, stdout, stderr }));
    p.stdin.end(opts.input ?? '');
  });
}

describe('lora-queue validate', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lq-cli-'));
    writeFileSync(join(dir, 'good.jsonl'), GOOD);
    writeFileSync(join(dir, 'bad.jsonl'), BAD);
    mkdirSync(join(dir, 'more'));
    writeFileSync(join(dir, 'more', 'also-good.jsonl'), GOOD.replace('Hi', 'Hey'));
  });

  it('exits 0 and prints a summary for a clean file', async () => {
    const r = await lq(['validate', 'good.jsonl'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '1 file checked, 1 example: 0 errors, 0 warnings\n');
  });

  it('prints clickable file:line:col lines and exits 1 on errors', async () => {
    const r = await lq(['validate', 'bad.jsonl', 'good.jsonl'], { cwd: dir });
    assert.equal(r.code, 1);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines[0], 'bad.jsonl:1:53: error unknown-role: role "asistant" is not one of system, user, assistant, tool — did you mean "assistant"?');
    assert.equal(lines[1], 'bad.jsonl:2:1: warning blank-line: blank line: JSON Lines has one example per line and no empty lines');
    assert.equal(lines.at(-1), '2 files checked, 2 examples: 1 error, 1 warning');
    // The problem matcher contributed in package.json reads these lines.
    const pkg = require(resolve(__dirname, '..', '..', 'package.json'));
    const re = new RegExp(pkg.contributes.problemMatchers[0].pattern.regexp);
    const m = re.exec(lines[0]!)!;
    assert.deepEqual([m[1], m[2], m[3], m[4], m[5]], ['bad.jsonl', '1', '53', 'error', 'unknown-role']);
  });

  it('--format json prints the contract fields, 1-based', async () => {
    const r = await lq(['validate', '--format', 'json', 'bad.jsonl'], { cwd: dir });
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out[0], {
      file: 'bad.jsonl', line: 1, column: 53, endLine: 1, endColumn: 63, severity: 'error', code: 'unknown-role',
      message: 'role "asistant" is not one of system, user, assistant, tool — did you mean "assistant"?',
    });
    assert.equal(BAD.slice(52, 62), '"asistant"');
    assert.deepEqual(Object.keys(out[1]).sort(), ['code', 'column', 'endColumn', 'endLine', 'file', 'line', 'message', 'severity']);
  });

  it('reports what fuzzing found accepted silently, each at its place, and exits 1 (issue #19)', async () => {
    const u = '{"role":"user","content":"q"}';
    const a = '{"role":"assistant","content":"a"}';
    const lines = [
      `{"messages":[{"role":"user","content":"bad \\ud800 here"},${a}]}`,
      `{"messages": "oops", "messages": [${u},${a}]}`,
      `{"messages":[${u},{"role":"assistant","content":"b","weight":1e400}]}`,
      `{"messages":[${u},\r{"role":"assistant","content":"c"}]}`,
      `\ufeff{"messages":[${u},{"role":"assistant","content":"d"}]}`,
      '{"instruction":"Say hi","input":"","output":"hi"}',
    ];
    writeFileSync(join(dir, 'fuzzed.jsonl'), lines.join('\n') + '\n');
    const r = await lq(['validate', '--format', 'json', 'fuzzed.jsonl'], { cwd: dir });
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as { line: number; column: number; endColumn: number; code: string; message: string }[];
    const at = (d: { line: number; column: number; endColumn: number }): string => lines[d.line - 1]!.slice(d.column - 1, d.endColumn - 1);
    assert.deepEqual(out.map((d) => [d.line, d.code, at(d)]), [
      [1, 'lone-surrogate', '\\ud800'],
      [2, 'duplicate-key', '"messages"'],
      [3, 'bad-field', '1e400'],
      [4, 'lone-cr', '\r'],
      [5, 'json-syntax', '\ufeff'],
      [6, 'missing-messages', '"instruction"'],
    ]);
    assert.equal(out[1]!.column, lines[1]!.lastIndexOf('"messages"') + 1);
    assert.match(out[2]!.message, /overflows/);
    assert.match(out[4]!.message, /byte order mark/);
    assert.match(out[5]!.message, /Alpaca/);
  });

  it('reads standard input for -', async () => {
    const r = await lq(['validate', '--format', 'json', '-'], { cwd: dir, input: BAD });
    assert.equal(r.code, 1);
    assert.deepEqual(JSON.parse(r.stdout).map((d: { file: string; code: string }) => `${d.file} ${d.code}`), ['<stdin> unknown-role', '<stdin> blank-line']);
  });

  it('expands globs and folders', async () => {
    const g = await lq(['validate', '**/*good.jsonl'], { cwd: dir });
    assert.equal(g.code, 0, g.stderr);
    assert.match(g.stdout, /^2 files checked, 2 examples/m);
    const f = await lq(['validate', 'more'], { cwd: dir });
    assert.equal(f.code, 0, f.stderr);
    assert.match(f.stdout, /^1 file checked/m);
  });

  it('exits 2 on a missing file but still checks the others', async () => {
    const r = await lq(['validate', 'nope.jsonl', 'bad.jsonl'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /nope\.jsonl: no such file/);
    assert.match(r.stdout, /bad\.jsonl:1:53: error unknown-role/);
  });

  it('exits 2 on usage errors, with the usage', async () => {
    for (const args of [['validate'], ['validate', '--format', 'xml', 'good.jsonl'], ['frobnicate'], ['validate', '--bogus', 'x']]) {
      const r = await lq(args, { cwd: dir });
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /usage: lora-queue/);
    }
  });

  it('takes roles from lora-queue.json, or --config', async () => {
    const ws = mkdtempSync(join(tmpdir(), 'lq-cfg-'));
    const dev = '{"messages":[{"role":"developer","content":"x"},{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}\n';
    writeFileSync(join(ws, 'dev.jsonl'), dev);
    assert.equal((await lq(['validate', 'dev.jsonl'], { cwd: ws })).code, 1);
    writeFileSync(join(ws, 'lora-queue.json'), JSON.stringify({ roles: { allowDeveloper: true } }));
    assert.equal((await lq(['validate', 'dev.jsonl'], { cwd: ws })).code, 0);
    writeFileSync(join(ws, 'strict.json'), JSON.stringify({ roles: { allowDeveloper: false } }));
    assert.equal((await lq(['validate', '--config', 'strict.json', 'dev.jsonl'], { cwd: ws })).code, 1);
    writeFileSync(join(ws, 'broken.json'), '{"roles": {"allowDeveloper": "yes"}}');
    const broken = await lq(['validate', '--config', 'broken.json', 'dev.jsonl'], { cwd: ws });
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /broken\.json: 1:\d+: roles\.allowDeveloper: must be a boolean/);
  });
});
