/**
 * The exit recorder as a real process: it starts the command, passes signals on, and leaves
 * exit.json saying how the command ended, then ends the same way.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readExitRecord } from '../../server/src/engine/exitRecord';

const RECORDER = join(__dirname, '..', '..', 'server', 'src', 'engine', 'exitRecorder.js');
const outputs = new Map<string, string>();
const dir = mkdtempSync(join(tmpdir(), 'lq-exit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function record(name: string, command: string[], whenStarted?: (pid: number) => void): Promise<{ code: number | null; signal: string | null; file: string }> {
  const file = join(dir, `${name}.json`);
  const child = spawn(process.execPath, [RECORDER, file, ...command], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    outputs.set(name, out);
    if (whenStarted && out.includes('ready')) whenStarted(child.pid!);
  });
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, file })));
}

describe('exit recorder', () => {
  it('records an exit code and exits with it', async () => {
    const r = await record('code', [process.execPath, '-e', 'process.exit(7)']);
    assert.equal(r.code, 7);
    const rec = readExitRecord(r.file)!;
    assert.equal(rec.code, 7);
    assert.equal(rec.signal, null);
    assert.equal(typeof rec.pid, 'number');
  });

  it('passes SIGTERM on to the command, which may finish cleanly', async () => {
    const script = "process.on('SIGTERM', () => { console.log('got TERM'); process.exit(0); }); console.log('ready'); setInterval(() => {}, 1000);";
    const r = await record('term', [process.execPath, '-e', script], (pid) => process.kill(pid, 'SIGTERM'));
    assert.equal(r.code, 0);
    assert.deepEqual({ code: readExitRecord(r.file)!.code, signal: readExitRecord(r.file)!.signal }, { code: 0, signal: null });
  });

  it('records a signal that killed the command, and exits with 128 + its number', async () => {
    // The command itself is killed (as the OOM killer would kill a trainer), not the recorder.
    const script = "console.log('ready ' + process.pid); setInterval(() => {}, 1000);";
    let commandPid = 0;
    const r = await record('kill', [process.execPath, '-e', script], () => {
      if (commandPid) return;
      commandPid = Number(/ready (\d+)/.exec(outputs.get('kill') ?? '')?.[1]);
      process.kill(commandPid, 'SIGKILL');
    });
    assert.equal(r.code, 128 + 9);
    const rec = readExitRecord(r.file)!;
    assert.deepEqual({ code: rec.code, signal: rec.signal, pid: rec.pid }, { code: null, signal: 'SIGKILL', pid: commandPid });
  });

  it('says when the command cannot be started', async () => {
    const r = await record('missing', [join(dir, 'no-such-trainer'), '--job', 'x']);
    assert.equal(r.code, 127);
    const rec = readExitRecord(r.file)!;
    assert.match(rec.error ?? '', /no-such-trainer was not found/);
    assert.equal(rec.code, null);
  });
});
