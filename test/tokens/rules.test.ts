/**
 * The mask rules beyond the prefix rule as a user meets them: Qwen 3 multi-turn chats counted
 * (not refused) in `stats`, the config keys that pick another rendering, and the notes that say
 * which rendering is used. Exact figures come from the transformers fixtures (expected.json).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Output } from '../../server/src/cli/output';
import { runStats, type FileStats } from '../../server/src/cli/stats';
import { countConversation, previewConversation } from '../../server/src/tokens/count';
import { OWN_TEMPLATE, renderingNote } from '../../server/src/tokens/describe';
import { Template } from '@huggingface/jinja';
import { GENERATION_CLOSE, GENERATION_OPEN, rewriteGenerationTags, splitGeneration } from '../../server/src/tokens/jinjaCompat';
import { TemplateError, trainingSequences } from '../../server/src/tokens/mask';
import { loadChatTokenizer, TokenizerLoadError } from '../../server/src/tokens/tokenizer';
import { tooLongDiagnostic } from '../../server/src/tokens/tooLong';
import { FIXTURES, loadFixtures, modelFolder, REPO } from './fixtures';

const doc = loadFixtures();
const ex = (name: string) => doc.examples.find((e) => e.name === name)!;
const conv = (name: string) => ({ messages: ex(name).messages, tools: ex(name).tools });
const line = (name: string) => JSON.stringify({ messages: ex(name).messages, ...(ex(name).tools ? { tools: ex(name).tools } : {}) });
const TRL_TEMPLATE = join(REPO, doc.models['qwen3_trl']!.trainingChatTemplate!);
const multiTurn = ['multi_turn', 'tool_calls', 'reasoning_multi_turn', 'long_multi_turn'];

function capture(): Output & { out: string[]; errs: string[] } {
  const out: string[] = [];
  const errs: string[] = [];
  return { out, errs, line: (s) => out.push(s), err: (s) => errs.push(s), flush: async () => undefined };
}

async function stats(config: Record<string, unknown>, lines: string[], format: 'json' | 'text' = 'json'): Promise<{ s: FileStats; out: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'lq-rules-'));
  writeFileSync(join(dir, 'lora-queue.json'), JSON.stringify({ baseModel: modelFolder('qwen3'), ...config }));
  const file = join(dir, 'chats.jsonl');
  writeFileSync(file, lines.join('\n') + '\n');
  const o = capture();
  assert.equal(await runStats({ format, operands: [file] }, o), 0, o.errs.join('\n'));
  return { s: format === 'json' ? (JSON.parse(o.out.join('\n')) as FileStats[])[0]! : ({} as FileStats), out: o.out };
}

describe('Qwen 3 multi-turn chats in stats', () => {
  it('are counted per turn by default: unmaskable 0, tokens and trainable as the trainer trains them', async () => {
    const { s } = await stats({}, multiTurn.map(line));
    const want = multiTurn.map((n) => doc.expected['qwen3']![n]!);
    assert.equal(s.unmaskable, 0);
    assert.equal(s.firstError, undefined);
    assert.equal(s.tokens, want.reduce((a, w) => a + w.sequences!.reduce((b, q) => b + q.tokens, 0), 0));
    assert.equal(s.trainableTokens, want.reduce((a, w) => a + w.trainable!, 0));
    assert.deepEqual(s.maskRules, { perTurn: 4 });
    assert.equal(s.sequences, want.reduce((a, w) => a + w.sequences!.length, 0));
    assert.equal(s.chatTemplate, OWN_TEMPLATE);
  });

  it('with historyRewriting "refuse" are unmaskable, as before, with the reason', async () => {
    const { s } = await stats({ historyRewriting: 'refuse' }, multiTurn.map(line));
    assert.equal(s.unmaskable, 4);
    assert.match(s.firstError!, /not prefix-stable/);
    assert.equal(s.tokens, multiTurn.reduce((a, n) => a + doc.expected['qwen3']![n]!.tokens!, 0), 'tokens of the model\'s own rendering');
  });

  it('with trainingChatTemplate (TRL\'s Qwen 3 training template) use its generation blocks, and say so', async () => {
    const { s } = await stats({ trainingChatTemplate: TRL_TEMPLATE }, multiTurn.map(line));
    const want = multiTurn.map((n) => doc.expected['qwen3_trl']![n]!);
    assert.equal(s.unmaskable, 0);
    assert.equal(s.tokens, want.reduce((a, w) => a + w.tokens!, 0));
    assert.equal(s.trainableTokens, want.reduce((a, w) => a + w.trainable!, 0));
    assert.deepEqual(s.maskRules, { generation: 4 });
    assert.equal(s.chatTemplate, 'the training chat template qwen3_training.jinja');
    const text = await stats({ trainingChatTemplate: TRL_TEMPLATE }, multiTurn.map(line), 'text');
    assert.ok(text.out.some((l) => l.includes('rendering: the training chat template qwen3_training.jinja; 4 examples by the {% generation %} markers rule')), text.out.join('\n'));
  });
});

describe('historyRewriting "lastTurn"', () => {
  it('keeps the model\'s own full rendering and trains only the last assistant turn', () => {
    const tok = loadChatTokenizer(modelFolder('qwen3'));
    const c = conv('reasoning_multi_turn');
    const t = trainingSequences(tok, c, 'lastTurn');
    assert.equal(t.rule, 'lastTurn');
    assert.equal(t.sequences.length, 1);
    assert.equal(t.sequences[0]!.text, tok.render(c));
    const perTurn = doc.expected['qwen3']!['reasoning_multi_turn']!.sequences!;
    assert.deepEqual(t.sequences[0]!.spans.map(([a, b]) => t.sequences[0]!.text.slice(a, b)), [perTurn[perTurn.length - 1]!.trainedText]);
    const n = countConversation(tok, c, undefined, 'lastTurn');
    assert.equal(n.tokens, doc.expected['qwen3']!['reasoning_multi_turn']!.tokens);
  });
});

describe('a model folder\'s template variants', () => {
  function folderWithVariant(): string {
    const dir = mkdtempSync(join(tmpdir(), 'lq-variant-'));
    symlinkSync(join(REPO, doc.models['qwen3']!.tokenizerJson), join(dir, 'tokenizer.json'));
    copyFileSync(join(FIXTURES, 'models', 'qwen3', 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
    mkdirSync(join(dir, 'additional_chat_templates'));
    copyFileSync(TRL_TEMPLATE, join(dir, 'additional_chat_templates', 'training.jinja'));
    return dir;
  }

  it('trainingChatTemplate names one (additional_chat_templates/NAME.jinja); the default stays the model\'s own', () => {
    const dir = folderWithVariant();
    const own = loadChatTokenizer(dir);
    const named = loadChatTokenizer(dir, { chatTemplate: 'training' });
    const c = conv('multi_turn');
    assert.equal(countConversation(own, c).rule, 'perTurn');
    const n = countConversation(named, c);
    assert.equal(n.rule, 'generation');
    assert.equal(n.tokens, doc.expected['qwen3_trl']!['multi_turn']!.tokens);
    assert.equal(n.trainable, doc.expected['qwen3_trl']!['multi_turn']!.trainable);
    assert.equal(named.templateOrigin, 'the model\'s "training" chat template');
    assert.throws(() => loadChatTokenizer(dir, { chatTemplate: 'nope' }), (e: Error) => e instanceof TokenizerLoadError && /has no chat template of that name.*training/.test(e.message));
    assert.throws(() => loadChatTokenizer(dir, { chatTemplate: join(dir, 'missing.jinja') }), TokenizerLoadError);
  });
});

describe('{% generation %} in our renderer', () => {
  it('keeps jinja2\'s whitespace control and trim/lstrip_blocks around the tag, and finds the blocks', () => {
    // Expected: transformers' render_jinja_template(..., return_assistant_tokens_mask=True) on this template.
    const src = 'a\n  {%- generation -%}\n  b {% endgeneration %}\nc\n  {% generation %}\nd{% endgeneration %}';
    const marked = new Template(rewriteGenerationTags(src)).render({ messages: [] });
    assert.deepEqual(splitGeneration(marked), { text: 'ab c\nd', blocks: [[1, 3], [5, 6]] });
    assert.equal(splitGeneration(`x${GENERATION_OPEN}ab`), null, 'an unclosed block is reported, not guessed');
    assert.equal(splitGeneration(`x${GENERATION_CLOSE}ab`), null);
  });

  it('refuses an example that contains the reserved marker characters rather than mis-mask it', () => {
    const tok = loadChatTokenizer(modelFolder('chatml_gen'));
    const c = { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: `odd ${GENERATION_OPEN} text` }] };
    const n = countConversation(tok, c);
    assert.equal(n.trainable, null);
    assert.match(n.maskError!, /U\+FDD0/);
  });

  it('a weight-0 turn is taken out of the blocks; when the blocks cannot be paired with messages it says so', () => {
    const tok = loadChatTokenizer(modelFolder('chatml_gen'));
    const w = doc.expected['chatml_gen']!['weight_zero']!;
    assert.equal(countConversation(tok, conv('weight_zero')).trainable, w.trainable);
    const dir = mkdtempSync(join(tmpdir(), 'lq-gen-'));
    symlinkSync(join(REPO, doc.models['chatml_gen']!.tokenizerJson), join(dir, 'tokenizer.json'));
    const cfg = JSON.parse(readFileSync(join(FIXTURES, 'models', 'chatml_gen', 'tokenizer_config.json'), 'utf8')) as { chat_template: string };
    cfg.chat_template = cfg.chat_template.replace("{%- if message['role'] == 'assistant' %}", "{%- if message['role'] == 'assistant' and loop.last %}");
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(cfg));
    const one = loadChatTokenizer(dir);
    assert.throws(() => trainingSequences(one, conv('weight_zero')), (e: Error) => e instanceof TemplateError && /cannot be told apart/.test(e.message));
  });
});

describe('what the user is told', () => {
  it('per-turn examples: the hover note, the preview per sequence, too-long on the longest sequence', () => {
    const tok = loadChatTokenizer(modelFolder('qwen3'));
    const c = countConversation(tok, conv('long_multi_turn'), 100);
    const seqs = doc.expected['qwen3']!['long_multi_turn']!.sequences!;
    assert.match(renderingNote(c, OWN_TEMPLATE)!, new RegExp(`trains as ${seqs.length} sequences, one per assistant turn`));
    assert.equal(renderingNote({ rule: 'prefix' }, OWN_TEMPLATE), undefined, 'nothing to say for the default');
    assert.match(renderingNote({ rule: 'generation' }, 'the training chat template qwen3_training.jinja')!, /^rendered with the training chat template qwen3_training\.jinja; trained tokens from its \{% generation %\} blocks$/);
    const segs = previewConversation(tok, conv('long_multi_turn'));
    assert.deepEqual([...new Set(segs.map((s) => s.sequence))], seqs.map((_, k) => k));
    const long = tooLongDiagnostic(c, 100)!;
    assert.match(long.message, new RegExp(`the longest of the example's ${seqs.length} sequences \\(one per assistant turn\\) is ${Math.max(...seqs.map((q) => q.tokens))} tokens`));
    assert.equal(tooLongDiagnostic(c, Math.max(...seqs.map((q) => q.tokens))), undefined, 'the sum of the sequences is not what maxSeqLength limits');
  });
});
