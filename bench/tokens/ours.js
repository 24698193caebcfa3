// Our side: runStats (tsc output in out/, the same code the bundle holds) on FILE with CONFIG.
//   node bench/tokens/ours.js CONFIG FILE
// Prints one JSON object: examples, tokens, trainableTokens, seconds (whole run, tokenizer load
// included), load_seconds (one worker's tokenizer load, measured apart), tokens_per_second.
'use strict';
const { join } = require('node:path');
const out = join(__dirname, '..', '..', 'out', 'server', 'src');
const { runStats } = require(join(out, 'cli', 'stats.js'));
const { TokenWorker } = require(join(out, 'tokens', 'client.js'));

(async () => {
  const [config, file] = process.argv.slice(2);
  const lines = [];
  const o = { line: (s) => lines.push(s), err: (s) => process.stderr.write(s + '\n'), flush: async () => undefined };
  const t0 = process.hrtime.bigint();
  const code = await runStats({ format: 'json', config, operands: [file] }, o);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (code !== 0) process.exit(code);
  const [r] = JSON.parse(lines.join('\n'));
  // Tokenizer load time, measured on its own, so tokens/s can be given with and without it.
  const t1 = process.hrtime.bigint();
  const w = new TokenWorker(r.baseModel);
  await w.ready;
  const load = Number(process.hrtime.bigint() - t1) / 1e9;
  await w.close();
  console.log(JSON.stringify({ examples: r.examples, tokens: r.tokens, trainableTokens: r.trainableTokens, seconds: +s.toFixed(3), load_seconds: +load.toFixed(3), tokens_per_second: Math.round(r.tokens / s), workers: Number(process.env.LORA_QUEUE_TOKEN_WORKERS) || require('node:os').availableParallelism() }));
})();
