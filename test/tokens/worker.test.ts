import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { TokenWorker } from '../../server/src/tokens/client';
import { tooLongDiagnostic } from '../../server/src/tokens/tooLong';
import { loadFixtures, modelFolder } from './fixtures';

const doc = loadFixtures();

describe('token worker', () => {
  const w = new TokenWorker(modelFolder('llama3'));
  after(() => w.close());

  it('answers a batch with one result per line, in order', async () => {
    const lines = [...doc.examples.map((e) => JSON.stringify({ messages: e.messages, ...(e.tools ? { tools: e.tools } : {}) })), '', '{oops', '{"messages": 3}'];
    const res = await w.count(lines, { maxSeqLength: 30, stats: true });
    assert.equal(res.length, lines.length);
    doc.examples.forEach((e, i) => {
      const want = doc.expected['llama3']![e.name]!;
      const r = res[i]!;
      assert.ok('tokens' in r, `${e.name}: ${JSON.stringify(r)}`);
      assert.equal(r.tokens, want.tokens);
      assert.equal(r.trainable, want.trainable);
      assert.equal(typeof r.hash, 'number');
    });
    assert.deepEqual(res[doc.examples.length], { skipped: 'blank' });
    assert.deepEqual(res[doc.examples.length + 1], { skipped: 'json' });
    assert.ok('error' in res[doc.examples.length + 2]!);
  });

  it('serves previews that reassemble the rendered text', async () => {
    const ex = doc.examples.find((e) => e.name === 'weight_zero')!;
    const segs = await w.preview(JSON.stringify({ messages: ex.messages }));
    const trained = segs.filter((s) => s.trainable).map((s) => s.text).join('');
    assert.equal(trained, doc.expected['llama3']!['weight_zero']!.trainedText);
    assert.ok(segs.map((s) => s.text).join('').startsWith('<|begin_of_text|>'));
  });

  it('reports a model folder it cannot load', async () => {
    const bad = new TokenWorker('/nonexistent/model');
    await assert.rejects(bad.ready, /no tokenizer\.json/);
    await assert.rejects(bad.count(['{}']), /no tokenizer\.json/);
    await bad.close();
  });
});

describe('too-long', () => {
  it('is quiet when the example fits', () => {
    assert.equal(tooLongDiagnostic({ tokens: 2048, trainable: 10, droppedTrainable: 0 }, 2048), undefined);
  });
  it('says the count, the excess and the trainable tokens lost', () => {
    const d = tooLongDiagnostic({ tokens: 2310, trainable: 1500, droppedTrainable: 240 }, 2048)!;
    assert.equal(d.code, 'too-long');
    assert.match(d.message, /2,310 tokens/);
    assert.match(d.message, /262 over maxSeqLength 2,048/);
    assert.match(d.message, /drops 240 of its 1,500 trainable tokens/);
  });
  it('says when nothing would train', () => {
    assert.match(tooLongDiagnostic({ tokens: 30, trainable: 5, droppedTrainable: 5 }, 20)!.message, /trains nothing/);
  });
  it('counts dropped trainable tokens through the worker', async () => {
    const w = new TokenWorker(modelFolder('llama3'));
    try {
      const ex = doc.examples.find((e) => e.name === 'long_multi_turn')!;
      const [r] = await w.count([JSON.stringify({ messages: ex.messages })], { maxSeqLength: 100 });
      assert.ok(r && 'tokens' in r);
      assert.equal(r.tokens, 300);
      assert.ok(r.droppedTrainable > 0 && r.droppedTrainable < (r.trainable ?? 0));
      assert.match(tooLongDiagnostic(r, 100)!.message, /200 over maxSeqLength 100/);
    } finally {
      await w.close();
    }
  });
});

describe('too-long through the worker', () => {
  // What the language server does per counted line (lsp/datasetDocument.ts): the worker's count, then tooLongDiagnostic.
  it('warns on the lines over maxSeqLength, with their counts', async () => {
    const w = new TokenWorker(modelFolder('llama3'));
    try {
      const ex = (n: string): string => JSON.stringify({ messages: doc.examples.find((e) => e.name === n)!.messages });
      const counts = await w.count([ex('basic'), '', ex('long_multi_turn'), '{bad', ex('unicode')], { maxSeqLength: 40 });
      const got = counts.flatMap((r, line) => {
        const d = 'tokens' in r ? tooLongDiagnostic(r, 40) : undefined;
        return d && 'tokens' in r ? [{ line, tokens: r.tokens, code: d.code }] : [];
      });
      assert.deepEqual(got.map((d) => [d.line, d.tokens]), [[2, 300], [4, 62]]);
      assert.equal(got[0]?.code, 'too-long');
    } finally {
      await w.close();
    }
  });
});
