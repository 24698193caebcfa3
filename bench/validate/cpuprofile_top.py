#!/usr/bin/env python3
"""Top functions of a V8 .cpuprofile (from `node --cpu-prof`), by self and by inclusive time.

    node --cpu-prof --cpu-prof-dir=/tmp/prof bin/lora-queue.js validate --format json FILE > /dev/null
    python3 bench/validate/cpuprofile_top.py /tmp/prof/*.cpuprofile [--top 20]

For the language server: node bench/lsp/run.mjs --cpu-prof /tmp/sprof, then the same on /tmp/sprof.
"""
import argparse
import collections
import json


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('profile')
    ap.add_argument('--top', type=int, default=20)
    a = ap.parse_args()
    p = json.load(open(a.profile))
    nodes = {n['id']: n for n in p['nodes']}
    parent = {c: n['id'] for n in p['nodes'] for c in n.get('children', [])}

    def key(nid):
        cf = nodes[nid]['callFrame']
        return f"{cf['functionName'] or '(anonymous)'}  {cf['url'].rsplit('/', 1)[-1]}:{cf['lineNumber'] + 1}"

    own = collections.Counter()
    incl = collections.Counter()
    for s, dt in zip(p['samples'], p['timeDeltas']):
        own[key(s)] += dt
        seen = set()
        x = s
        while x is not None:
            k = key(x)
            if k not in seen:
                incl[k] += dt
                seen.add(k)
            x = parent.get(x)
    total = sum(own.values())
    print(f'total {total / 1e6:.2f} s sampled')
    print('self time:')
    for k, v in own.most_common(a.top):
        print(f'  {v / total * 100:5.1f}%  {v / 1e3:8.0f} ms  {k}')
    print('inclusive time:')
    for k, v in incl.most_common(a.top):
        print(f'  {v / total * 100:5.1f}%  {v / 1e3:8.0f} ms  {k}')


if __name__ == '__main__':
    main()
