#!/usr/bin/env python3
"""Write a deterministic chat JSONL for the trainer benchmark.

    python bench/trainer/make_data.py OUT --examples N --tokens T [--tokenizer MODEL_DIR] [--seed 1]

Each line is one single-turn conversation, {"messages": [system, user, assistant]}:
a short system prompt, a user turn of about a quarter of the tokens and an
assistant reply with the rest, made of common English words drawn with a seeded
RNG. With --tokenizer (a model folder with tokenizer.json and a chat template),
every conversation renders to exactly T tokens under that template (the reply
is cut to fit, then padded with single-token words), so every row of every
batch has the same length: no padding, and tokens per step are known exactly
for both trainers. Without it, lengths are approximate (about one token per word).

Writes OUT and OUT.meta.json (parameters and the measured token counts); an OUT
whose meta matches the parameters is left alone.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

WORDS = """the of and to in is that for it as with was on be by this are from at or an have not
which but all were they their one can has more been there when would will also its other into time
only some these two may then first any new like than about could over such after most where
through should between each many those over much before well because while under very same must
great world still place without people little year state water long small every good right high
number part found home light under river mountain city house garden window morning evening
question answer system model train data learn value change result simple careful quiet bright
early later open close follow begin carry bring write read speak listen remember forget
measure compare choose build break hold keep turn move stand watch travel return reach
example market paper story letter music color winter summer forest ocean island valley bridge
street station market kitchen table chair door floor wall field stone metal glass wood cloud
""".split()
SYSTEM = "You are a helpful assistant who answers clearly and briefly."


def words(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(WORDS) for _ in range(n)]


def make_conversation(rng: random.Random, tokens: int, tok=None) -> tuple[dict, int | None]:
    user_n = max(4, tokens // 4 - 8)
    user = " ".join(words(rng, user_n)).capitalize() + "?"
    reply = words(rng, tokens)  # more than can fit; cut below

    def conv(k: int, pad: int = 0) -> dict:
        text = " ".join(reply[:k]).capitalize() + " a" * pad
        return {"messages": [{"role": "system", "content": SYSTEM},
                             {"role": "user", "content": user},
                             {"role": "assistant", "content": text}]}

    if tok is None:
        # About one token per common word; the template adds ~20 tokens of headers.
        return conv(max(1, tokens - user_n - len(SYSTEM.split()) - 24)), None

    def count(c: dict) -> int:
        text = tok.apply_chat_template(c["messages"], tokenize=False)
        return len(tok(text, add_special_tokens=False)["input_ids"])

    lo, hi = 1, len(reply)
    if count(conv(1)) > tokens:
        raise SystemExit(f"make_data: --tokens {tokens} is too small for the prompt")
    while lo < hi:  # largest k with count(conv(k)) <= tokens (count grows with k)
        mid = (lo + hi + 1) // 2
        if count(conv(mid)) <= tokens:
            lo = mid
        else:
            hi = mid - 1
    pad = tokens - count(conv(lo))
    c = conv(lo, pad)
    return c, count(c)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--examples", type=int, required=True)
    ap.add_argument("--tokens", type=int, required=True)
    ap.add_argument("--tokenizer", help="model folder whose tokenizer and chat template set the exact length")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    meta_path = out.with_name(out.name + ".meta.json")
    params = {"examples": args.examples, "tokens": args.tokens, "seed": args.seed,
              "tokenizer": str(Path(args.tokenizer).resolve()) if args.tokenizer else None, "version": 1}
    if out.is_file() and meta_path.is_file():
        try:
            if json.loads(meta_path.read_text()).get("params") == params:
                print(f"make_data: {out} up to date")
                return 0
        except ValueError:
            pass
    tok = None
    if args.tokenizer:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(args.tokenizer, local_files_only=True)
    rng = random.Random(args.seed)
    counts = []
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        for _ in range(args.examples):
            c, n = make_conversation(rng, args.tokens, tok)
            if n is not None:
                counts.append(n)
            fh.write(json.dumps(c, ensure_ascii=False) + "\n")
    os.replace(tmp, out)
    meta = {"params": params, "exact": bool(counts) and min(counts) == max(counts) == args.tokens,
            "token_counts": ({"min": min(counts), "max": max(counts), "mean": sum(counts) / len(counts)}
                             if counts else None)}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"make_data: wrote {out}: {args.examples} examples, tokens {meta['token_counts'] or '~' + str(args.tokens)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
