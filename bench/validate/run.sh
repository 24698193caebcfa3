#!/usr/bin/env bash
# Validation throughput: `lora-queue validate` vs the Python peer (OpenAI Cookbook checks).
#
#   bash bench/validate/run.sh            # 125 MB and 1 GB files, 5 and 3 timed runs each
#   bash bench/validate/run.sh --quick    # 125 MB file only, 3 timed runs
#   bash bench/validate/run.sh --tools    # also agentic (tool-call) files of the same sizes (make_data.py --tools)
#   RUNS=7 bash bench/validate/run.sh     # override the number of timed runs (every file)
#   bash bench/validate/run.sh --wait-quiet   # first wait (up to 10 min) for the 1-min load average < 0.5
#   SKIP_BUILD=1 bash bench/validate/run.sh   # time dist/ as it is, even if sources are newer
#   BASELINE=/tmp/old/bin/lora-queue.js bash bench/validate/run.sh   # also time another build, in the same rotation
#
# Needs: node >= 20.5, python3, GNU time (`apt-get install -y time`), prose for the data
# (`apt-get install -y fortunes`). Builds dist/ when it is missing or older than the sources,
# generates bench/data/chat-*.jsonl once (kept between runs), then times both tools on each
# file, interleaved, one whole process per run. Results: a Markdown table on stdout and
# bench/out/validate-<date>.json.
set -euo pipefail
cd "$(dirname "$0")/../.."

quick=0
tools=0
wait_quiet=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    --tools) tools=1 ;;
    --wait-quiet) wait_quiet=1 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done

if [ ! -x /usr/bin/time ]; then echo "run.sh: /usr/bin/time is missing: apt-get install -y time" >&2; exit 2; fi

# Build when dist/cli.js is missing or any source is newer than it.
if [ "${SKIP_BUILD:-0}" != 1 ] && { [ ! -f dist/cli.js ] || [ -n "$(find server/src server/wasm common -newer dist/cli.js -name '*.ts' -print -quit 2>/dev/null)" ]; }; then
  echo "building (npm run build)..." >&2
  npm run build >&2
fi

if [ "$wait_quiet" = 1 ]; then
  for i in $(seq 60); do
    awk '{ exit !($1 < 0.5) }' /proc/loadavg && break
    [ $((i % 6)) = 1 ] && echo "waiting for a quiet machine (load average $(cut -d' ' -f1 /proc/loadavg))..." >&2
    sleep 10
  done
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM" >&2
echo "node $(node --version), $(python3 --version), $(date -u +%Y-%m-%dT%H:%MZ), commit $(git describe --always --dirty 2>/dev/null || echo unknown), dist/cli.js built $(date -u -r dist/cli.js +%Y-%m-%dT%H:%MZ)" >&2

if [ "$quick" = 1 ]; then
  python3 bench/validate/make_data.py bench/data --sizes 125M
  files=(bench/data/chat-125M.jsonl)
  if [ "$tools" = 1 ]; then python3 bench/validate/make_data.py bench/data --sizes 125M --tools; files+=(bench/data/chat-tools-125M.jsonl); fi
  python3 bench/validate/measure.py --runs "${RUNS:-3}" --warmup 1 --json "bench/out/validate-quick-$(date -u +%Y%m%dT%H%M).json" "${files[@]}"
else
  python3 bench/validate/make_data.py bench/data --sizes 125M,1G
  [ "$tools" = 1 ] && python3 bench/validate/make_data.py bench/data --sizes 125M,1G --tools
  for size in 125M 1G; do
    runs=${RUNS:-5}
    [ "$size" = 1G ] && runs=${RUNS:-3}
    files=(bench/data/chat-$size.jsonl)
    [ "$tools" = 1 ] && files+=(bench/data/chat-tools-$size.jsonl)
    python3 bench/validate/measure.py --runs "$runs" --warmup 1 --json "bench/out/validate-$size-$(date -u +%Y%m%dT%H%M).json" "${files[@]}"
  done
fi
