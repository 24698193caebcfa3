/**
 * Checkpoint verification before a resume, on real files: whole checkpoints pass; a file cut short,
 * an empty state file, broken JSON, a zip without its closing directory do not; the choice falls
 * back to the newest whole checkpoint before the bad one, setting the bad ones aside.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { chooseCheckpoint, verifyCheckpoint } from '../../server/src/engine/checkpoints';

const root = mkdtempSync(join(tmpdir(), 'lq-ckpt-'));
after(() => rmSync(root, { recursive: true, force: true }));

function safetensors(values: number): Buffer {
  const data = Buffer.alloc(values * 4);
  let h = JSON.stringify({ 'base_model.model.q_proj.lora_A.weight': { dtype: 'F32', shape: [values], data_offsets: [0, data.length] } });
  h += ' '.repeat((8 - (h.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, Buffer.from(h), data]);
}

/** A minimal zip as torch.save writes it: a local header first, the end-of-central-directory last. */
function zip(): Buffer {
  return Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.alloc(200, 7), Buffer.from([0x50, 0x4b, 0x05, 0x06]), Buffer.alloc(18)]);
}

function checkpoint(dir: string, step: number): string {
  const path = join(dir, `step-${step}`);
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 4 }));
  writeFileSync(join(path, 'adapter_model.safetensors'), safetensors(64));
  writeFileSync(join(path, 'trainer_state.json'), JSON.stringify({ step }));
  writeFileSync(join(path, 'trainer_state.pt'), zip());
  return path;
}

describe('checkpoint verification', () => {
  it('passes a whole checkpoint, and one in a format it does not know beyond its JSON', () => {
    const dir = join(root, 'whole');
    assert.deepEqual(verifyCheckpoint(checkpoint(dir, 4)), []);
    const other = join(dir, 'custom-1');
    mkdirSync(other);
    writeFileSync(join(other, 'state.json'), '{"step": 1}\n');
    writeFileSync(join(other, 'weights.ckpt'), 'anything');
    assert.deepEqual(verifyCheckpoint(other), []);
  });

  it('names what is wrong: cut short, empty, broken JSON, a torn zip, missing, empty folder', () => {
    const dir = join(root, 'bad');
    const a = checkpoint(dir, 1);
    truncateSync(join(a, 'adapter_model.safetensors'), 100);
    assert.match(verifyCheckpoint(a).join('\n'), /adapter_model\.safetensors: .*(truncated|does not fit)/);
    const b = checkpoint(dir, 2);
    writeFileSync(join(b, 'trainer_state.pt'), '');
    assert.deepEqual(verifyCheckpoint(b), ['trainer_state.pt is empty']);
    const c = checkpoint(dir, 3);
    writeFileSync(join(c, 'trainer_state.json'), '{"step": 3');
    assert.match(verifyCheckpoint(c).join('\n'), /^trainer_state\.json: /);
    const d = checkpoint(dir, 4);
    truncateSync(join(d, 'trainer_state.pt'), 150);
    assert.match(verifyCheckpoint(d).join('\n'), /trainer_state\.pt: a zip \(torch\.save\) file without its closing directory/);
    assert.match(verifyCheckpoint(join(dir, 'step-99')).join('\n'), /cannot be read: ENOENT/);
    mkdirSync(join(dir, 'step-100'));
    assert.deepEqual(verifyCheckpoint(join(dir, 'step-100')), ['the folder is empty']);
  });

  it('resumes from a whole checkpoint as asked', () => {
    const dir = join(root, 'asked');
    const p = checkpoint(dir, 8);
    assert.deepEqual(chooseCheckpoint(p), { path: p, notes: [] });
    assert.deepEqual(chooseCheckpoint(null), { path: null, notes: [] });
  });

  it('falls back to the newest whole checkpoint before a bad one, setting bad ones aside', () => {
    const dir = join(root, 'fallback');
    const s4 = checkpoint(dir, 4);
    const s8 = checkpoint(dir, 8);
    const s12 = checkpoint(dir, 12);
    checkpoint(dir, 16); // newer than the one asked for: never used instead
    truncateSync(join(s12, 'adapter_model.safetensors'), 20);
    writeFileSync(join(s8, 'trainer_state.pt'), '');
    const r = chooseCheckpoint(s12, new Date('2026-11-23T08:00:00Z'));
    assert.equal(r.path, s4);
    assert.equal(r.notes.length, 3, r.notes.join('\n'));
    assert.match(r.notes[0]!, /step-12 is not whole .*set aside as step-12\.bad-20261123T080000Z/);
    assert.match(r.notes[1]!, /step-8 is not whole either/);
    assert.match(r.notes[2]!, /resuming from the checkpoint before it, .*step-4$/);
    assert.deepEqual(readdirSync(dir).sort(), ['step-12.bad-20261123T080000Z', 'step-16', 'step-4', 'step-8.bad-20261123T080000Z']);
  });

  it('starts the dataset over when no whole checkpoint is left', () => {
    const dir = join(root, 'none');
    const s2 = checkpoint(dir, 2);
    writeFileSync(join(s2, 'adapter_config.json'), '');
    const r = chooseCheckpoint(s2);
    assert.equal(r.path, null);
    assert.match(r.notes.at(-1)!, /no whole checkpoint is left: the dataset starts over/);
    assert.equal(existsSync(s2), false, 'set aside');
  });
});
