#!/usr/bin/env python3
"""The peer: transformers' fast (Rust) tokenizer applying the model's chat template to every line.

    python bench/tokens/peer_count.py MODEL_DIR FILE

Per line: json.loads, then tokenizer.apply_chat_template(messages, tools=tools, tokenize=True),
exactly what `lora-queue stats` reproduces for its `tokens` figure. Prints one JSON object:
examples, tokens, seconds (tokenizing only, model load excluded), tokens_per_second.
"""
import json
import sys
import time

from transformers import AutoTokenizer


def main() -> int:
    model, path = sys.argv[1], sys.argv[2]
    t_load = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(model)
    t0 = time.perf_counter()
    examples = tokens = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            ex = json.loads(line)
            ids = tok.apply_chat_template(ex["messages"], tools=ex.get("tools"), tokenize=True, return_dict=False)
            examples += 1
            tokens += len(ids)
    s = time.perf_counter() - t0
    print(json.dumps({"examples": examples, "tokens": tokens, "seconds": round(s, 3), "load_seconds": round(t0 - t_load, 3), "tokens_per_second": round(tokens / s)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
