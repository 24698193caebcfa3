#!/usr/bin/env python3
"""Times `lora-queue validate` against the Python peer on one file, interleaved (A B A B ...).

    python3 bench/validate/measure.py FILE [--runs 5] [--warmup 1] [--json OUT.json]

Each run is one whole process, start-up included, wrapped in GNU time (`/usr/bin/time -v`, Debian
package `time`) for its peak RSS ("Maximum resident set size") and user+system CPU; wall time is
read around it with a monotonic clock. Runs alternate between the two commands so that drift in
the machine's speed hits both alike; the speed ratio is taken pair by pair and its median reported.
Medians are the figures to quote; min and max show the spread.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GNU_TIME = '/usr/bin/time'


def commands(file: str) -> dict[str, list[str]]:
    cmds = {
        'lora-queue': ['node', str(ROOT / 'bin' / 'lora-queue.js'), 'validate', '--format', 'json', file],
        'python-peer': [sys.executable, str(ROOT / 'bench' / 'validate' / 'peer_validate.py'), file],
    }
    # BASELINE=path/to/another/checkout's bin/lora-queue.js also times that build, in the same rotation.
    if os.environ.get('BASELINE'):
        cmds['baseline'] = ['node', os.environ['BASELINE'], 'validate', '--format', 'json', file]
    return cmds


def run_once(cmd: list[str]) -> dict:
    """Runs cmd with stdout to /dev/null; returns wall s, cpu s, peak RSS bytes, exit code."""
    with tempfile.NamedTemporaryFile('r', suffix='.time') as tf:
        t0 = time.perf_counter()
        p = subprocess.run([GNU_TIME, '-v', '-o', tf.name, *cmd], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall = time.perf_counter() - t0
        report = tf.read()
    def field(name: str) -> str:
        m = re.search(rf'^\s*{re.escape(name)}: (.*)$', report, re.M)
        if not m:
            raise RuntimeError(f'no "{name}" in GNU time output:\n{report}')
        return m.group(1).strip()
    status = int(field('Exit status'))
    return {
        'wall_s': wall,
        'cpu_s': float(field('User time (seconds)')) + float(field('System time (seconds)')),
        'peak_rss_bytes': int(field('Maximum resident set size (kbytes)')) * 1024,
        'exit': status,
        'stderr': p.stderr.decode(errors='replace')[-500:],
    }


def stats(xs: list[float]) -> dict:
    return {'min': min(xs), 'median': statistics.median(xs), 'max': max(xs)}


def measure(file: str, runs: int, warmup: int) -> dict:
    size = os.path.getsize(file)
    load_before = os.getloadavg()
    cmds = commands(file)
    names = list(cmds)
    results: dict[str, list[dict]] = {n: [] for n in names}
    for i in range(warmup + runs):
        for n in names:
            r = run_once(cmds[n])
            # Expected: both exit 0 on the clean benchmark files. Anything else is reported, not hidden.
            if r['exit'] != 0:
                print(f'  warning: {n} exited {r["exit"]}: {r["stderr"].strip()}', file=sys.stderr)
            if i >= warmup:
                results[n].append(r)
            print(f'  run {i + 1 - warmup if i >= warmup else "warmup"}: {n:<11} {r["wall_s"]:7.2f} s wall  '
                  f'{r["cpu_s"]:7.2f} s cpu  {r["peak_rss_bytes"] / 2**20:7.1f} MiB peak', file=sys.stderr)
    load_after = os.getloadavg()
    # The machine's load average (1 min) around the runs: on 2 cores anything well above ~1.2 means
    # other work competed with the benchmark (the benchmark itself accounts for about 1).
    print(f'  load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}', file=sys.stderr)
    out = {'file': file, 'bytes': size, 'runs': runs, 'commands': {n: ' '.join(c) for n, c in cmds.items()},
           'loadavg_before': load_before, 'loadavg_after': load_after, 'nproc': os.cpu_count()}
    for n in names:
        rs = results[n]
        wall = stats([r['wall_s'] for r in rs])
        out[n] = {
            'wall_s': wall,
            'cpu_s': stats([r['cpu_s'] for r in rs]),
            'peak_rss_mib': stats([r['peak_rss_bytes'] / 2**20 for r in rs]),
            'mb_per_s': size / 1e6 / wall['median'],
            'exits': sorted({r['exit'] for r in rs}),
        }
    # Speed ratio ours/peer (MB/s over MB/s = peer time / our time), pair by pair.
    ratios = [p['wall_s'] / o['wall_s'] for o, p in zip(results['lora-queue'], results['python-peer'])]
    out['speed_ratio'] = stats(ratios)
    if 'baseline' in results:
        out['baseline_speed_ratio'] = stats([p['wall_s'] / o['wall_s'] for o, p in zip(results['baseline'], results['python-peer'])])
    return out


def table(rows: list[dict]) -> str:
    head = ('| file | size | tool | wall s (median, min–max) | MB/s | CPU s | peak RSS MiB | ratio ours/peer |\n'
            '|---|---:|---|---:|---:|---:|---:|---:|')
    lines = [head]
    for r in rows:
        name = Path(r['file']).name
        for tool in ('lora-queue', 'baseline', 'python-peer'):
            if tool not in r:
                continue
            t = r[tool]
            w = t['wall_s']
            ratio = r['speed_ratio'] if tool == 'lora-queue' else r.get('baseline_speed_ratio')
            rs = f'**{ratio["median"]:.2f}×** ({ratio["min"]:.2f}–{ratio["max"]:.2f})' if ratio and tool != 'python-peer' else ''
            lines.append(f'| {name} | {r["bytes"] / 1e6:,.0f} MB | {tool} | {w["median"]:.2f} ({w["min"]:.2f}–{w["max"]:.2f}) '
                         f'| {t["mb_per_s"]:.1f} | {t["cpu_s"]["median"]:.2f} | {t["peak_rss_mib"]["median"]:.1f} | {rs} |')
    return '\n'.join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('files', nargs='+')
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--json', type=Path, help='also write the results here')
    args = ap.parse_args()
    if not shutil.which(GNU_TIME):
        sys.exit(f'{GNU_TIME} is missing: apt-get install -y time')
    rows = []
    for f in args.files:
        print(f'{f}: {args.runs} runs each (+{args.warmup} warm-up), interleaved', file=sys.stderr)
        rows.append(measure(f, args.runs, args.warmup))
    print(table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + '\n')
        print(f'\n(results in {args.json})')


if __name__ == '__main__':
    main()
