// Writes docs/config.md from the generated JSON Schema (dist/lora-queue.schema.json), so the
// documentation of every key comes from the one zod schema.
import { readFileSync, writeFileSync } from 'node:fs';

const schema = JSON.parse(readFileSync('dist/lora-queue.schema.json', 'utf8'));
const rows = [];
const cell = (v) => (v === undefined ? '' : '`' + JSON.stringify(v) + '`');
const type = (p) => p.type ?? (p.anyOf ? p.anyOf.map((a) => a.type ?? JSON.stringify(a.const)).join(' \\| ') : p.enum ? p.enum.map((e) => JSON.stringify(e)).join(' \\| ') : '');
for (const [k, p] of Object.entries(schema.properties)) {
  if (k === '$schema') continue;
  if (p.type === 'object' && p.properties) {
    rows.push(`| **${k}** | | | ${p.description ?? ''} |`);
    for (const [k2, p2] of Object.entries(p.properties)) rows.push(`| \`${k}.${k2}\` | ${p2.enum ? p2.enum.map((e) => '`' + e + '`').join(', ') : type(p2)} | ${cell(p2.default)} | ${p2.description ?? ''} |`);
  } else rows.push(`| \`${k}\` | ${type(p)} | ${cell(p.default)} | ${p.description ?? ''} |`);
}
writeFileSync('docs/config.md', `# lora-queue.json

Generated from the zod schema (\`server/src/config/schema.ts\`) by \`node scripts/gen-config-doc.mjs\`
after a build; the same schema gives VS Code its completion and hover docs, and the server its
diagnostics. Unknown keys are errors (with "did you mean"). Beyond the schema, the server checks that
\`baseModel\` is a model folder with \`config.json\` and a tokenizer, that \`trainer.command[0]\` resolves
to an executable, that \`root\` stays inside the workspace, that thresholds are consistent and that
\`executor.sbatchArgs\` repeats no sbatch option the engine sets itself (\`config-executor\`; the Slurm
executor: docs/slurm.md).
A config with errors never takes effect: the last valid one stays in force, and its diagnostics say so.

| key | type | default | meaning |
|---|---|---|---|
${rows.join('\n')}
`);
