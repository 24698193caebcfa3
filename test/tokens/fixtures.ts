/** Loads the token fixtures (test/fixtures/tokens) and assembles usable model folders in a temp dir. */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository root (tests run from out/test/tokens/). */
export const REPO = resolve(__dirname, '..', '..', '..');
export const FIXTURES = join(REPO, 'test', 'fixtures', 'tokens');

export interface ExpectedEntry {
  tokens?: number;
  trainable?: number;
  trainedText?: string;
  ids?: number[];
  labels?: number[];
  error?: string;
  maskError?: string;
  rule?: 'generation' | 'prefix' | 'perTurn' | 'lastTurn';
  /** Set when the example trains as several sequences (perTurn). */
  sequences?: { tokens: number; trainable: number; trainedText: string; ids?: number[]; labels?: number[] }[];
  /** The labels were checked against transformers' return_assistant_tokens_mask when the fixture was made. */
  assistantMasksChecked?: boolean;
}

export interface FixtureDoc {
  models: Record<string, { folder: string; tokenizerJson: string; trainingChatTemplate?: string }>;
  examples: { name: string; messages: Record<string, unknown>[]; tools?: unknown[] }[];
  expected: Record<string, Record<string, ExpectedEntry>>;
}

export function loadFixtures(): FixtureDoc {
  return JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as FixtureDoc;
}

let assembled: string | undefined;

/**
 * A folder per model holding tokenizer_config.json, a stub config.json and a symlink to the tokenizer.json inside
 * node_modules (too large to keep in the repository).
 */
export function modelFolder(name: string): string {
  const doc = loadFixtures();
  const m = doc.models[name];
  if (!m) throw new Error(`no fixture model ${name}`);
  assembled ??= mkdtempSync(join(tmpdir(), 'lq-tokens-'));
  const dir = join(assembled, name);
  try {
    mkdirSync(dir);
    symlinkSync(join(REPO, m.tokenizerJson), join(dir, 'tokenizer.json'));
    copyFileSync(join(FIXTURES, m.folder, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
    // The config checks want a model folder to look like one; the tokenizer does not read this.
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: name === 'qwen3' ? 'qwen3' : 'llama' }));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  return dir;
}
