import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A folder with what a config refers to: a model folder (config.json, tokenizer.json) and an executable bin/train. */
export function configWorkspace(prefix = 'lq-config-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(dir, 'model'));
  writeFileSync(join(dir, 'model', 'config.json'), '{}');
  writeFileSync(join(dir, 'model', 'tokenizer.json'), '{}');
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin', 'train'), '#!/bin/sh\n');
  chmodSync(join(dir, 'bin', 'train'), 0o755);
  return dir;
}
