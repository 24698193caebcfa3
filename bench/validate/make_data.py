#!/usr/bin/env python3
"""Writes realistic chat-JSONL benchmark files: chat-125M.jsonl, chat-1G.jsonl, ...

    python3 bench/validate/make_data.py bench/data [--sizes 125M,1G] [--seed 1]

Each line is {"messages": [...]}: an optional system message, then 1-3 user/assistant turns.
With --tools (chat-tools-SIZE.jsonl) each line is agentic: {"messages": [...], "tools": [...]}, a
tools list of 2-6 function definitions with JSON Schemas, then 1-3 rounds of a user message, 1-3
parallel tool calls (sometimes two steps of them), their results (JSON text, often several KB)
and the assistant's answer.
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
# The agentic examples of --tools: 2 = a tools list with JSON Schemas on every line, 1-3 rounds of
# 1-3 parallel calls with long results (1 was one call at the end of each example).
TOOLS_VERSION = 2
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
        if self.tools:
            return self.agentic_example()
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
        return {'messages': messages}


    # --- agentic (tool-using) examples -----------------------------------------------------------

    def args_for(self, tool: dict) -> dict:
        """Arguments that fit the tool's JSON Schema: every required property, some optional ones."""
        r = self.rng
        params = tool['function']['parameters']
        out = {}
        for name, schema in params['properties'].items():
            if name not in params.get('required', []) and r.random() < 0.5:
                continue
            t = schema.get('type')
            if 'enum' in schema:
                out[name] = r.choice(schema['enum'])
            elif t == 'integer':
                out[name] = r.randint(schema.get('minimum', 1), schema.get('maximum', 50))
            elif t == 'number':
                out[name] = round(r.uniform(0, 1000), 2)
            elif t == 'boolean':
                out[name] = r.random() < 0.5
            elif t == 'array':
                out[name] = [' '.join(self.pool[r.randrange(len(self.pool))].split()[:3]) for _ in range(r.randint(1, 3))]
            elif t == 'object':
                out[name] = {'from': f'2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}', 'to': f'2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}'}
            else:
                out[name] = ' '.join(self.sentences(1, 1))[:r.randint(20, 120)]
        return out

    def tool_result(self, tool: dict) -> str:
        """A tool's output as agents get it: JSON text, often long (search hits, file contents, rows)."""
        r = self.rng
        kind = r.random()
        if kind < 0.45:
            body = {'results': [{'id': f'doc-{r.getrandbits(32):08x}', 'title': ' '.join(self.pool[r.randrange(len(self.pool))].split()[:6]),
                                 'score': round(r.random(), 4), 'snippet': ' '.join(self.sentences(1, 4))} for _ in range(r.randint(2, 8))]}
        elif kind < 0.75:
            body = {'status': 'ok', 'content': '\n'.join(' '.join(self.sentences(1, 3)) for _ in range(r.randint(3, 12)))}
        elif kind < 0.9:
            body = {'rows': [[r.randint(1, 10**6), ' '.join(self.sentences(1, 1))[:60], round(r.uniform(-100, 100), 3), r.random() < 0.5] for _ in range(r.randint(3, 15))],
                    'columns': ['id', 'name', 'value', 'active']}
        else:
            return 'Error: ' + ' '.join(self.sentences(1, 2))  # some tools answer in plain text
        return json.dumps(body, ensure_ascii=False)

    def agentic_example(self) -> dict:
        """A tools list with JSON Schemas, then 1-3 rounds of: user, 1-3 (parallel) calls, their
        results, sometimes a second round of calls, and the assistant's answer."""
        r = self.rng
        tools = r.sample(TOOLS, r.randint(2, 6))
        messages = []
        if r.random() < 0.7:
            messages.append({'role': 'system', 'content': r.choice(SYSTEM_PROMPTS) + ' Use the tools when they help; call several at once when they are independent.'})
        for _ in range(r.choice((1, 1, 2, 2, 3))):
            messages.append({'role': 'user', 'content': self.user()})
            for _ in range(r.choice((1, 1, 1, 2))):
                calls = []
                for _ in range(r.choice((1, 1, 2, 2, 3))):
                    tool = r.choice(tools)
                    calls.append({'id': f'call_{r.getrandbits(96):024x}', 'type': 'function',
                                  'function': {'name': tool['function']['name'], 'arguments': json.dumps(self.args_for(tool), ensure_ascii=False)}})
                thought = ' '.join(self.sentences(1, 1)) if r.random() < 0.3 else None
                messages.append({'role': 'assistant', 'content': thought, 'tool_calls': calls})
                for c in calls:
                    tool = next(t for t in tools if t['function']['name'] == c['function']['name'])
                    messages.append({'role': 'tool', 'tool_call_id': c['id'], 'name': c['function']['name'], 'content': self.tool_result(tool)})
            messages.append({'role': 'assistant', 'content': self.assistant()})
        return {'messages': messages, 'tools': tools}


def _tool(name: str, description: str, properties: dict, required: list[str]) -> dict:
    return {'type': 'function', 'function': {'name': name, 'description': description,
            'parameters': {'type': 'object', 'properties': properties, 'required': required, 'additionalProperties': False}}}


# Tool definitions in the OpenAI / Hugging Face chat-template format, with JSON Schemas as agents ship them.
TOOLS = [
    _tool('search_notes', 'Full-text search over the user\'s notes. Returns the best matching passages with a relevance score.',
          {'query': {'type': 'string', 'description': 'What to search for, in natural language.'},
           'limit': {'type': 'integer', 'minimum': 1, 'maximum': 20, 'description': 'How many results to return.'},
           'tags': {'type': 'array', 'items': {'type': 'string'}, 'description': 'Only notes with all of these tags.'}}, ['query']),
    _tool('web_search', 'Search the web and return the top results with snippets.',
          {'query': {'type': 'string', 'description': 'The search query.'},
           'recency_days': {'type': 'integer', 'minimum': 1, 'maximum': 365, 'description': 'Only pages updated in the last N days.'},
           'site': {'type': 'string', 'description': 'Restrict to one domain, e.g. docs.python.org.'}}, ['query']),
    _tool('read_file', 'Read a text file from the workspace.',
          {'path': {'type': 'string', 'description': 'Path relative to the workspace root.'},
           'start_line': {'type': 'integer', 'minimum': 1, 'maximum': 5000}, 'end_line': {'type': 'integer', 'minimum': 1, 'maximum': 5000}}, ['path']),
    _tool('run_sql', 'Run a read-only SQL query against the analytics warehouse.',
          {'query': {'type': 'string', 'description': 'A single SELECT statement.'},
           'database': {'type': 'string', 'enum': ['sales', 'support', 'product', 'finance']},
           'max_rows': {'type': 'integer', 'minimum': 1, 'maximum': 1000}}, ['query', 'database']),
    _tool('get_weather', 'Current weather and a short forecast for a place.',
          {'location': {'type': 'string', 'description': 'City and country, e.g. Lyon, France.'},
           'unit': {'type': 'string', 'enum': ['celsius', 'fahrenheit']}, 'days': {'type': 'integer', 'minimum': 1, 'maximum': 7}}, ['location']),
    _tool('create_event', 'Create a calendar event and invite people.',
          {'title': {'type': 'string'}, 'when': {'type': 'object', 'description': 'Start and end, ISO dates.',
                                                 'properties': {'from': {'type': 'string'}, 'to': {'type': 'string'}}},
           'attendees': {'type': 'array', 'items': {'type': 'string', 'format': 'email'}},
           'online': {'type': 'boolean', 'description': 'Add a video link.'}}, ['title', 'when']),
    _tool('send_email', 'Send an email on the user\'s behalf. Ask before sending anything important.',
          {'to': {'type': 'array', 'items': {'type': 'string', 'format': 'email'}}, 'subject': {'type': 'string'},
           'body': {'type': 'string', 'description': 'Plain text.'}, 'urgent': {'type': 'boolean'}}, ['to', 'subject', 'body']),
    _tool('calculator', 'Evaluate an arithmetic expression exactly.',
          {'expression': {'type': 'string', 'description': 'e.g. (3.5 * 12) / 7'}, 'precision': {'type': 'integer', 'minimum': 0, 'maximum': 30}}, ['expression']),
]


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
    want = {'generator': GENERATOR_VERSION, 'seed': seed, 'target_bytes': target, 'corpus': corpus, **({'tools': TOOLS_VERSION} if tools else {})}
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
                    help='agentic examples (chat-tools-SIZE.jsonl): a tools list with JSON Schemas on every line, '
                         '1-3 rounds of 1-3 parallel tool calls with long results')
    args = ap.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    pool, corpus = sentence_pool()
    for name in args.sizes.split(','):
        name = name.strip()
        stem = 'chat-tools' if args.tools else 'chat'
        write_file(args.out_dir / f'{stem}-{name}.jsonl', parse_size(name), args.seed, pool, corpus, args.tools)


if __name__ == '__main__':
    main()
