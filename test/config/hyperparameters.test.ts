import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { hyperparametersFor } from '../../server/src/config/hyperparameters';
import { configSchema } from '../../server/src/config/schema';

const REPO = resolve(__dirname, '..', '..', '..');

describe('config → trainer hyperparameters', () => {
  it('maps every setting, and the trainer knows every key', () => {
    const config = configSchema.parse({ maxSeqLength: 1024, lora: { rank: 8, targetModules: ['q_proj'] }, training: { learningRate: 1e-4, bf16: false } });
    const h = hyperparametersFor(config);
    assert.equal(h.loraRank, 8);
    assert.deepEqual(h.targetModules, ['q_proj']);
    assert.equal(h.learningRate, 1e-4);
    assert.equal(h.maxSeqLength, 1024);
    assert.equal(h.bf16, false);
    // The reference trainer rejects unknown keys: each key we send must be a field of its Hyperparameters dataclass.
    const py = readFileSync(join(REPO, 'trainer', 'lora_queue_trainer', 'config.py'), 'utf8');
    const fields = new Set([...py.matchAll(/^ {4}([A-Za-z]\w*): [^=\n]+=/gm)].map((m) => m[1]));
    for (const k of Object.keys(h)) assert.ok(fields.has(k), `the trainer has no hyperparameter ${k}`);
    // And the schedules the config allows are ones the trainer accepts.
    const allowed = /LR_SCHEDULERS = \(([^)]*)\)/.exec(py)![1]!;
    for (const s of ['linear', 'cosine', 'constant', 'constant_with_warmup']) assert.ok(allowed.includes(`"${s}"`), s);
    // The loss implementations too.
    assert.equal(h.loss, 'full');
    assert.equal(hyperparametersFor(configSchema.parse({ training: { loss: 'chunked', compile: true } })).loss, 'chunked');
    for (const l of ['full', 'chunked', 'fused']) assert.ok(/"full", "chunked", "fused"/.test(py) && py.includes(`"${l}"`), l);
  });

  it('passes the template choice: historyRewriting, and trainingChatTemplate as the token counts resolve it', () => {
    const dflt = hyperparametersFor(configSchema.parse({}), '/ws/lora-queue.json');
    assert.equal(dflt.historyRewriting, 'perTurn');
    assert.ok(!('chatTemplate' in dflt), 'the model\'s own template: no key');
    const file = hyperparametersFor(configSchema.parse({ trainingChatTemplate: 'templates/qwen3_training.jinja', historyRewriting: 'lastTurn' }), '/ws/lora-queue.json');
    assert.equal(file.chatTemplate, '/ws/templates/qwen3_training.jinja');
    assert.equal(file.historyRewriting, 'lastTurn');
    assert.equal(hyperparametersFor(configSchema.parse({ trainingChatTemplate: 'training' }), '/ws/lora-queue.json').chatTemplate, 'training', 'a variant name stays a name');
    assert.throws(() => configSchema.parse({ historyRewriting: 'sometimes' }));
  });
});
