#!/usr/bin/env python3
"""Forward + backward of the causal-LM loss over a 128k vocabulary, two ways (CPU, fp32).

    .venv/bin/python bench/trainer/loss_shift.py [--rows 4] [--tokens 64] [--reps 12] [--model DIR]

* trainer: what `lora_queue_trainer.train.Trainer._loss_sum` did before it was changed to
  the second way (kept here as the baseline): shift the logits
  (`logits[:, :-1, :].float().reshape(-1, V)`: the reshape of the non-contiguous
  slice copies B×T×V, and the slice's backward fills a full-size gradient);
* labels-shift: what transformers' `ForCausalLMLoss` does: pad the labels with -100,
  take `[..., 1:]`, view the logits as they are.

Same loss (checked), alternating, median milliseconds. Without --model: the output
layer and loss alone (hidden 64); with --model (e.g. bench/data/trainer/model-tiny):
the whole model with its LoRA adapter (r 16, all-linear), forward + backward, the
trainer's loss against the model's own `labels=` loss (transformers' ForCausalLMLoss).
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=128256)
    ap.add_argument("--reps", type=int, default=12)
    ap.add_argument("--model")
    a = ap.parse_args()
    torch.manual_seed(0)
    if a.model:
        return with_model(a)
    B, T, V = a.rows, a.tokens, a.vocab
    h = torch.randn(B, T, a.hidden, requires_grad=True)
    W = torch.randn(V, a.hidden) * 0.02
    labels = torch.randint(0, V, (B, T))
    labels[:, : T // 3] = -100

    def trainer_way():
        logits = h @ W.T
        sl = logits[:, :-1, :].float()
        return F.cross_entropy(sl.reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100, reduction="sum")

    def labels_shift():
        logits = (h @ W.T).float()
        lab = F.pad(labels, (0, 1), value=-100)[..., 1:]
        return F.cross_entropy(logits.view(-1, V), lab.reshape(-1), ignore_index=-100, reduction="sum")

    d = abs(trainer_way().item() - labels_shift().item())
    print(f"loss difference {d:.3g}")
    res = {"trainer": [], "labels-shift": []}
    for _ in range(a.reps):
        for name, f in (("trainer", trainer_way), ("labels-shift", labels_shift)):
            t = time.perf_counter()
            f().backward()
            h.grad = None
            res[name].append(time.perf_counter() - t)
    for k, v in res.items():
        print(f"{k}: median {statistics.median(v) * 1000:.1f} ms (min {min(v) * 1000:.1f}, max {max(v) * 1000:.1f})")


def with_model(a) -> None:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    m = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32, local_files_only=True)
    m.config.use_cache = False
    m = get_peft_model(m, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear",
                                     task_type="CAUSAL_LM"))
    m.train()
    B, T = a.rows, a.tokens
    ids = torch.randint(0, 128000, (B, T))
    labels = ids.clone()
    labels[:, : T // 3] = -100
    attn = torch.ones_like(ids)
    n = int((labels[:, 1:] != -100).sum())

    def trainer_way():
        logits = m(input_ids=ids, attention_mask=attn).logits
        sl = logits[:, :-1, :].float()
        return F.cross_entropy(sl.reshape(-1, sl.size(-1)), labels[:, 1:].reshape(-1), ignore_index=-100,
                               reduction="sum") / n

    def labels_shift():
        return m(input_ids=ids, attention_mask=attn, labels=labels, num_items_in_batch=torch.tensor(n)).loss

    print(f"loss difference {abs(trainer_way().item() - labels_shift().item()):.3g}")
    res = {"trainer": [], "labels-shift": []}
    for _ in range(a.reps):
        for name, f in (("trainer", trainer_way), ("labels-shift", labels_shift)):
            t = time.perf_counter()
            f().backward()
            m.zero_grad(set_to_none=True)
            res[name].append(time.perf_counter() - t)
    for k, v in res.items():
        print(f"{k}: median {statistics.median(v) * 1000:.1f} ms (min {min(v) * 1000:.1f}, max {max(v) * 1000:.1f})")


if __name__ == "__main__":
    main()
