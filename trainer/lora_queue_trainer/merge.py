"""Consolidate: merge a LoRA adapter into its base model as a new model folder.

    python -m lora_queue_trainer.merge --base BASE --adapter ADAPTER --out OUT \
        [--dtype auto|float32|bfloat16|float16] [--atol A] [--rtol R] [--device cpu|cuda]

Steps: load base + adapter, compute reference logits on a few fixed prompts,
merge (``merge_and_unload``), save to a temporary folder beside OUT (with the
base's tokenizer files), free memory, load the saved folder as a plain model,
compare its logits with the reference (|diff| <= atol + rtol * max|ref|), fsync
and rename to OUT. Prints one JSON line
``{"ok": ..., "out": ..., "max_abs_logit_diff": ..., "tolerance": ..., ...}``
and exits 0 on success, 1 on failure (OUT is then never created). An existing
OUT is refused (exit 2) so a good model is never replaced by accident.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

PROMPTS = [
    "The quick brown fox jumps over the lazy dog.",
    "def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)",
    "LoRA adapters add a low-rank update to frozen weight matrices.",
    "Question: what is 17 times 3? Answer:",
]
# Files copied from the base folder besides what save_pretrained writes, so
# the merged folder is a drop-in replacement for the base.
EXTRA_FILES = ("chat_template.jinja", "generation_config.json")


@dataclass
class MergeArgs:
    base: str
    adapter: str
    out: str
    dtype: str = "auto"
    atol: Optional[float] = None
    rtol: Optional[float] = None
    device: Optional[str] = None


def parse_args(argv: Optional[list[str]]) -> MergeArgs:
    p = argparse.ArgumentParser(prog="python -m lora_queue_trainer.merge", description=__doc__.split("\n")[0])
    p.add_argument("--base", required=True, help="local base model folder")
    p.add_argument("--adapter", required=True, help="PEFT adapter folder")
    p.add_argument("--out", required=True, help="new model folder (must not exist)")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--atol", type=float, default=None, help="absolute logit tolerance (default by dtype)")
    p.add_argument("--rtol", type=float, default=None, help="tolerance relative to max |logit| (default by dtype)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    ns = p.parse_args(argv)
    return MergeArgs(**vars(ns))


def _inputs(base: str, vocab_size: int):
    import torch

    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(base, local_files_only=True)
        rows = [tok(p, add_special_tokens=True)["input_ids"] for p in PROMPTS]
        return tok, [torch.tensor([r]) for r in rows if r]
    except Exception:
        # No usable tokenizer: fixed random ids exercise the same weights.
        g = torch.Generator().manual_seed(0)
        return None, [torch.randint(0, vocab_size, (1, 24), generator=g) for _ in PROMPTS]


def _logits(model, inputs, device):
    import torch

    out = []
    with torch.no_grad():
        for ids in inputs:
            out.append(model(input_ids=ids.to(device)).logits.float().cpu())
    return out


def merge(a: MergeArgs) -> dict:
    import torch
    from peft import PeftModel
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    from .fsutil import publish_dir, temp_sibling

    t0 = time.time()
    out = Path(a.out)
    if out.exists():
        raise FileExistsError(f"--out {out} already exists; refusing to replace it")
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = "auto" if a.dtype == "auto" else getattr(torch, a.dtype)
    model = AutoModelForCausalLM.from_pretrained(a.base, dtype=dtype, local_files_only=True).to(device)
    model.eval()
    wdtype = next(model.parameters()).dtype
    half = wdtype in (torch.bfloat16, torch.float16)
    atol = a.atol if a.atol is not None else (5e-2 if half else 1e-4)
    rtol = a.rtol if a.rtol is not None else (2e-2 if half else 1e-4)
    tok, inputs = _inputs(a.base, AutoConfig.from_pretrained(a.base, local_files_only=True).vocab_size)

    peft_model = PeftModel.from_pretrained(model, a.adapter, is_trainable=False).to(device)
    peft_model.eval()
    reference = _logits(peft_model, inputs, device)
    merged = peft_model.merge_and_unload()

    tmp = temp_sibling(out)
    try:
        merged.save_pretrained(tmp)
        if tok is not None:
            tok.save_pretrained(tmp)
        for name in EXTRA_FILES:
            src = Path(a.base) / name
            if src.is_file() and not (tmp / name).exists():
                shutil.copy2(src, tmp / name)
        del merged, peft_model, model
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()

        check = AutoModelForCausalLM.from_pretrained(tmp, dtype=dtype, local_files_only=True).to(device)
        check.eval()
        got = _logits(check, inputs, device)
        del check
        max_diff = max(float((g - r).abs().max()) for g, r in zip(got, reference, strict=True))
        max_ref = max(float(r.abs().max()) for r in reference)
        tolerance = atol + rtol * max_ref
        summary = {
            "ok": max_diff <= tolerance, "out": str(out.resolve()), "base": a.base, "adapter": a.adapter,
            "dtype": str(wdtype).replace("torch.", ""), "device": device.type, "inputs": len(inputs),
            "max_abs_logit_diff": max_diff, "max_abs_logit": max_ref, "tolerance": tolerance,
            "seconds": round(time.time() - t0, 3),
        }
        if not summary["ok"]:
            summary["error"] = "merged model's logits differ from base+adapter beyond tolerance"
            shutil.rmtree(tmp, ignore_errors=True)
            return summary
        publish_dir(tmp, out)
        return summary
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def main(argv: Optional[list[str]] = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    a = parse_args(argv)
    try:
        if Path(a.out).exists():  # checked before the slow imports too
            raise FileExistsError(f"--out {a.out} already exists; refusing to replace it")
        summary = merge(a)
    except FileExistsError as e:
        print(json.dumps({"ok": False, "out": a.out, "error": str(e)}), flush=True)
        return 2
    except Exception as e:
        traceback.print_exc(file=sys.stderr)
        print(json.dumps({"ok": False, "out": a.out, "error": f"{type(e).__name__}: {e}"}), flush=True)
        return 1
    print(json.dumps(summary), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
