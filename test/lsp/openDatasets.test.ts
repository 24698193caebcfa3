/**
 * The open-datasets model without a connection: what it publishes for each version of a
 * dataset's text, how it coalesces a burst of edits, and its token counting with a real token
 * worker (the llama3 fixture tokenizer).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DEFAULT_OPTIONS, type FileDiagnostic } from '../../server/src/dataset/file';
import { hashingReady } from '../../server/src/dataset/hash';
import { OpenDatasets, PUBLISH_DELAY_MS, type DatasetTokens } from '../../server/src/lsp/openDatasets';
import { TokenService, type TokenSetup } from '../../server/src/lsp/tokenService';
import { workerKey } from '../../server/src/tokens/templateChoice';
import { loadFixtures, modelFolder } from '../tokens/fixtures';

interface Published {
  readonly uri: string;
  readonly version: number | undefined;
  readonly codes: string[];
  readonly lines: number[];
}

/** The model's own template, per-turn for history-rewriting ones: what a config without template keys gives. */
function setup(modelDir: string, maxSeqLength: number): TokenSetup {
  const options = { historyRewriting: 'perTurn' as const };
  return { modelDir, maxSeqLength, options, key: workerKey(modelDir, options) };
}

function openDatasets(tokens: DatasetTokens, tokenService?: TokenService): { docs: OpenDatasets; published: Published[]; logs: string[]; refreshes: () => number } {
  const published: Published[] = [];
  const logs: string[] = [];
  let refreshes = 0;
  const docs = new OpenDatasets({
    settingsFor: () => ({ opts: DEFAULT_OPTIONS, tokens }),
    tokenWorker: (dir) => tokenService?.worker(dir) ?? { failed: 'no token service' },
    publish: (uri, version, ds: readonly FileDiagnostic[]) => void published.push({ uri, version, codes: ds.map((d) => d.code), lines: ds.map((d) => d.line) }),
    tokensChanged: () => void refreshes++,
    log: (m) => void logs.push(m),
  });
  return { docs, published, logs, refreshes: () => refreshes };
}

const until = async (what: string, pred: () => boolean, ms = 30_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

const GOOD = '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}';
const MISSPELT = '{"messages":[{"role":"user","content":"hi"},{"role":"asistant","content":"hello there"}]}';

describe('open datasets', () => {
  it('publishes at once on open, then each edit\'s version; a burst of edits publishes once', async () => {
    await hashingReady();
    const { docs, published } = openDatasets({ why: 'no config' });
    const uri = 'untitled:train.jsonl';
    docs.open(uri, 1, `${GOOD}\n${MISSPELT}\n`);
    assert.deepEqual(published, [{ uri, version: 1, codes: ['unknown-role'], lines: [1] }], 'published on open, without waiting');

    // Fix the role: "asistant" → "assistant" (insert an "s" after "as" on line 1).
    const col = MISSPELT.indexOf('asistant') + 2;
    docs.change(uri, 2, [{ range: { start: { line: 1, character: col }, end: { line: 1, character: col } }, text: 's' }]);
    assert.equal(published.length, 1, 'an edit waits for the publish delay');
    await until('the fix to be published', () => published.length === 2);
    assert.deepEqual(published[1], { uri, version: 2, codes: [], lines: [] });

    // Three edits within the delay: one publish, of the last version.
    for (const [v, text] of [[3, 'x'], [4, 'y'], [5, '\n{']] as const) docs.change(uri, v, [{ range: { start: { line: 2, character: 0 }, end: { line: 2, character: 0 } }, text }]);
    await new Promise((r) => setTimeout(r, PUBLISH_DELAY_MS * 6));
    assert.equal(published.length, 3);
    assert.equal(published[2]!.version, 5);
    assert.deepEqual(published[2]!.lines, [2, 3]);

    assert.equal(docs.change('untitled:other.jsonl', 1, []), false, 'a document that is not open is not ours');
    docs.close(uri);
    assert.deepEqual(published.at(-1), { uri, version: undefined, codes: [], lines: [] }, 'closing clears its diagnostics');
    assert.equal(docs.get(uri), undefined);
  });

  it('counts tokens after publishing, then republishes with too-long and asks for fresh CodeLenses', async () => {
    const fixtures = loadFixtures();
    const service = new TokenService(() => undefined);
    after(() => service.close());
    const { docs, published, refreshes } = openDatasets(setup(modelFolder('llama3'), 40), service);
    const ex = (n: string): string => JSON.stringify({ messages: fixtures.examples.find((e) => e.name === n)!.messages });
    const uri = 'untitled:long.jsonl';
    docs.open(uri, 1, [ex('basic'), ex('long_multi_turn')].join('\n'));
    assert.deepEqual(published[0]!.codes, [], 'syntax first: nothing is too long before it is counted');
    await docs.whenCounted(uri);
    const totals = docs.get(uri)!.model.tokenTotals();
    assert.equal(totals.counted, 2);
    assert.equal(totals.overLength, 1);
    assert.ok(refreshes() >= 1, 'the CodeLens totals are refreshed');
    await until('too-long to be published', () => published.at(-1)!.codes.includes('too-long'));
    assert.deepEqual(published.at(-1)!.lines, [1]);
    docs.close(uri);
  });

  it('gives up counting, and says why, when the tokenizer cannot be had', async () => {
    const { docs, published } = openDatasets(setup('/nowhere', 40));
    docs.open('untitled:x.jsonl', 1, GOOD);
    await docs.whenCounted('untitled:x.jsonl'); // resolves: nothing will count it
    assert.equal(docs.get('untitled:x.jsonl')!.model.tokenTotals().counted, 0);
    assert.equal(published.length, 1);
  });
});
