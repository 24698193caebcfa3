#!/usr/bin/env python3
"""Writes realistic chat-JSONL benchmark files: chat-125M.jsonl, chat-1G.jsonl, ...

    python3 bench/validate/make_data.py bench/data [--sizes 125M,1G] [--seed 1]

Each line is {"messages": [...]}: an optional system message, then 1-3 user/assistant turns.
The text is real English prose recombined sentence by sentence with a seeded RNG. The prose
comes from Debian packages already on the machine, read offline:

    apt-get install -y fortunes          # /usr/share/games/fortunes (the non-offensive set)
    /usr/share/common-licenses           # base-files: GPL, Apache, MPL, ... (always present)

The output is deterministic for a given seed, source corpus and generator version. Every line is
unique: a 64-bit BLAKE2 hash of each line is kept and a line that repeats an earlier one is drawn
again, so the validator's duplicate check has nothing to report and the file is clean.

A sidecar FILE.stamp records how the file was made (seed, target size, bytes, lines, corpus
digest); a file whose stamp matches and whose size equals the stamped byte count is kept as is.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import sys
import time
from pathlib import Path

GENERATOR_VERSION = 1
FORTUNE_DIR = Path('/usr/share/games/fortunes')
LICENSE_DIR = Path('/usr/share/common-licenses')

SYSTEM_PROMPTS = [
    'You are a helpful assistant.',
    'You are a helpful, concise assistant. Answer in plain English.',
    'You are a knowledgeable assistant who explains things clearly and admits uncertainty.',
    'You are a friendly support agent. Be polite and precise.',
    'You are an expert writing assistant. Keep answers short unless asked for detail.',
    'You are a witty assistant who answers with a quotation when one fits.',
    'You answer questions about software licences. You are not a lawyer and say so when it matters.',
    'You are a patient tutor. Explain step by step.',
]

USER_OPENERS = [
    'Can you explain this to me?', 'What do you make of this?', 'I read the following and I am confused.',
    'Please summarise what this means.', 'Is this true?', 'Here is something a friend told me.',
    'Could you help me understand a passage?', 'Quick question.', 'I need your opinion on this.',
    'What would you say to this?', 'Explain like I am five.', 'Give me your honest take.',
]
USER_CLOSERS = [
    'What does it mean?', 'Why is that?', 'How should I read it?', 'Do you agree?',
    'Can you put it more simply?', 'What is the point here?', 'Is there a catch?',
    'How would you respond?', 'What should I do about it?', 'Any thoughts?',
]
ASSISTANT_OPENERS = [
    'Good question.', 'Sure.', 'Here is how I read it.', 'In short:', 'Let me put it this way.',
    'There are a few ways to look at this.', 'It helps to start with the context.', 'Happy to help.',
    'That is a classic.', 'Briefly:',
]

SENTENCE_SPLIT = re.compile(r'(?<=[.!?])["\')\]]?\s+(?=[A-Z"(\'])')
WS = re.compile(r'\s+')
ATTRIBUTION = re.compile(r'^\s*(--|-|~)\s*\S')


def parse_size(s: str) -> int:
    m = re.fullmatch(r'(\d+(?:\.\d+)?)([KMG]?)', s.strip().upper())
    if not m:
        raise argparse.ArgumentTypeError(f'bad size {s!r} (e.g. 125M, 1G)')
    return int(float(m.group(1)) * {'': 1, 'K': 10**3, 'M': 10**6, 'G': 10**9}[m.group(2)])


def fortune_texts() -> list[str]:
    out: list[str] = []
    if not FORTUNE_DIR.is_dir():
        return out
    for p in sorted(FORTUNE_DIR.iterdir()):
        # The plain fortune files have no extension; .dat are indexes, .u8 symlinks; off/ is skipped.
        if not p.is_file() or '.' in p.name:
            continue
        raw = p.read_text(encoding='utf-8', errors='replace')
        for entry in raw.split('\n%\n'):
            lines = [ln for ln in entry.splitlines() if not ATTRIBUTION.match(ln)]
            out.append(' '.join(lines))
    return out


def license_texts() -> list[str]:
    out: list[str] = []
    if not LICENSE_DIR.is_dir():
        return out
    for p in sorted(LICENSE_DIR.iterdir()):
        if p.is_symlink() or not p.is_file():
            continue
        raw = p.read_text(encoding='utf-8', errors='replace')
        out.extend(para for para in re.split(r'\n\s*\n', raw))
    return out


def sentence_pool() -> tuple[list[str], str]:
    seen: set[str] = set()
    pool: list[str] = []
    for text in fortune_texts() + license_texts():
        text = WS.sub(' ', text).strip()
        for s in SENTENCE_SPLIT.split(text):
            s = s.strip()
            if not (20 <= len(s) <= 400) or '\ufffd' in s or s in seen:
                continue
            letters = sum(c.isalpha() for c in s)
            if letters < 0.6 * len(s) or not s[0].isalnum() and s[0] not in '"(\'':
                continue  # ascii art, tables, numbering
            seen.add(s)
            pool.append(s)
    if len(pool) < 2000:
        sys.exit('make_data: too little prose found; run `apt-get install -y fortunes` '
                 f'(found {len(pool)} sentences under {FORTUNE_DIR} and {LICENSE_DIR})')
    digest = hashlib.sha256('\n'.join(pool).encode()).hexdigest()[:16]
    return pool, digest


class Generator:
    def __init__(self, pool: list[str], seed: int, tools: bool = False):
        self.pool = pool
        self.rng = random.Random(seed)
        self.tools = tools

    def sentences(self, lo: int, hi: int) -> list[str]:
        r = self.rng
        return [self.pool[r.randrange(len(self.pool))] for _ in range(r.randint(lo, hi))]

    def user(self) -> str:
        r = self.rng
        parts = self.sentences(1, 3)
        if r.random() < 0.5:
            parts.insert(0, r.choice(USER_OPENERS))
        if r.random() < 0.6:
            parts.append(r.choice(USER_CLOSERS))
        return ' '.join(parts)

    def assistant(self) -> str:
        r = self.rng
        paras = []
        for i in range(r.choice((1, 1, 1, 2, 2, 3))):
            s = self.sentences(2, 6)
            if i == 0 and r.random() < 0.4:
                s.insert(0, r.choice(ASSISTANT_OPENERS))
            paras.append(' '.join(s))
        return '\n\n'.join(paras)

    def example(self) -> dict:
        r = self.rng
        messages = []
        x = r.random()
        if x < 0.35:
            messages.append({'role': 'system', 'content': r.choice(SYSTEM_PROMPTS)})
        elif x < 0.5:
            messages.append({'role': 'system', 'content': ' '.join(self.sentences(1, 2))})
        for _ in range(r.choice((1, 1, 1, 2, 2, 3))):
            messages.append({'role': 'user', 'content': self.user()})
            messages.append({'role': 'assistant', 'content': self.assistant()})
        if self.tools:
            # The last turn goes through a tool: a call, its result, then the answer.
            answer = messages.pop()
            call_id = f'call_{r.getrandbits(48):012x}'
            query = ' '.join(self.sentences(1, 1))
            messages.append({'role': 'assistant', 'content': None, 'tool_calls': [
                {'id': call_id, 'type': 'function', 'function': {'name': 'search_notes', 'arguments': json.dumps({'query': query, 'limit': r.randint(1, 9)})}}]})
            messages.append({'role': 'tool', 'tool_call_id': call_id, 'content': json.dumps({'results': self.sentences(1, 3)})})
            messages.append(answer)
        return {'messages': messages}


def stamp_for(path: Path) -> Path:
    return path.with_name(path.name + '.stamp')


def up_to_date(path: Path, want: dict) -> bool:
    st = stamp_for(path)
    if not path.exists() or not st.exists():
        return False
    try:
        have = json.loads(st.read_text())
    except ValueError:
        return False
    return all(have.get(k) == v for k, v in want.items()) and path.stat().st_size == have.get('bytes')


def write_file(path: Path, target: int, seed: int, pool: list[str], corpus: str, tools: bool = False) -> None:
    want = {'generator': GENERATOR_VERSION, 'seed': seed, 'target_bytes': target, 'corpus': corpus, **({'tools': True} if tools else {})}
    if up_to_date(path, want):
        print(f'{path}: up to date ({path.stat().st_size:,} bytes)', file=sys.stderr)
        return
    # Each size gets its own stream of examples, derived from the seed and the size.
    gen = Generator(pool, seed * 1_000_003 + target, tools)
    seen: set[bytes] = set()
    redraws = 0
    written = lines = 0
    t0 = time.monotonic()
    tmp = path.with_name(path.name + '.tmp')
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(', ', ': ')).encode
    with open(tmp, 'wb', buffering=1 << 20) as f:
        while written < target:
            line = (dumps(gen.example()) + '\n').encode('utf-8')
            h = hashlib.blake2b(line, digest_size=8).digest()
            if h in seen:
                redraws += 1
                continue
            seen.add(h)
            f.write(line)
            written += len(line)
            lines += 1
    os.replace(tmp, path)
    stamp = {**want, 'bytes': written, 'lines': lines, 'unique_lines': len(seen), 'redraws': redraws}
    stamp_for(path).write_text(json.dumps(stamp, indent=2) + '\n')
    dt = time.monotonic() - t0
    print(f'{path}: {written:,} bytes, {lines:,} examples (all unique, {redraws} redrawn), '
          f'{len(pool):,} source sentences, {dt:.1f} s', file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('out_dir', type=Path)
    ap.add_argument('--sizes', default='125M,1G', help='comma-separated sizes, decimal units (default 125M,1G)')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--tools', action='store_true',
                    help='every example ends with a tool call and its result (chat-tools-SIZE.jsonl): lines the fast path declines')
    args = ap.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    pool, corpus = sentence_pool()
    for name in args.sizes.split(','):
        name = name.strip()
        stem = 'chat-tools' if args.tools else 'chat'
        write_file(args.out_dir / f'{stem}-{name}.jsonl', parse_size(name), args.seed, pool, corpus, args.tools)


if __name__ == '__main__':
    main()
