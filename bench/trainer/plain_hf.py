#!/usr/bin/env python3
"""The baseline for the trainer benchmark: a plain Hugging Face `Trainer` + PEFT LoRA script.

    python bench/trainer/plain_hf.py --model DIR --data FILE.jsonl --report OUT.json \
        [--steps 30] [--batch-size 4] [--grad-accum 1] [--seq-len 1024] [--lr 2e-4] \
        [--lora-r 16] [--lora-alpha 32] [--lora-dropout 0.05] [--target-modules all-linear] \
        [--seed 42] [--device auto|cpu|cuda] [--check-labels N]

What most people would write: the model loaded with `from_pretrained` (bf16 on a
GPU that has it, fp32 otherwise), `get_peft_model` with a `LoraConfig`, the
conversations rendered with the model's own chat template and labelled
assistant-only in the classic way (the prompt rendered with
`add_generation_prompt=True` is masked, the reply and its end-of-turn token
train), a pad-to-longest collator, and `transformers.Trainer` with its defaults
(AdamW, cosine schedule, no warmup, grad clipping 1.0) and `bf16=True` on the
GPU. Like the reference trainer it sets `use_cache=False` (the KV cache is for
generation) and logs every step.

Nothing here comes from `lora_queue_trainer`, except with `--check-labels N`,
which compares the first N label rows with `lora_queue_trainer.masking` (the
reference trainer's labels) and reports whether they are identical.

The report (JSON) holds the wall-clock time at the end of every optimizer step
(after `torch.cuda.synchronize()`, so a step's GPU work is finished), the
tokens of every step, peak GPU memory (`torch.cuda.max_memory_allocated`,
`max_memory_reserved`) or, on the CPU, peak RSS, the device and versions.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

PROCESS_T0 = time.time()


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--output-dir", default=None, help="Trainer output_dir (nothing is saved; default: beside --report)")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--grad-accum", type=int, default=1)
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--lora-alpha", type=float, default=32)
    ap.add_argument("--lora-dropout", type=float, default=0.05)
    ap.add_argument("--target-modules", default="all-linear", help='"all-linear" or a comma-separated list')
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--check-labels", type=int, default=0, metavar="N")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import peft
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainerCallback, TrainingArguments

    use_cuda = torch.cuda.is_available() and args.device != "cpu"
    if args.device == "cuda" and not use_cuda:
        sys.exit("plain_hf: --device cuda but torch sees no GPU")
    bf16 = use_cuda and torch.cuda.is_bf16_supported()

    tokenizer = AutoTokenizer.from_pretrained(args.model, local_files_only=True)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    rows, convs = [], []
    with open(args.data, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            messages = json.loads(line)["messages"]
            prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
            full = tokenizer.apply_chat_template(messages, tokenize=False)
            assert full.startswith(prompt), "template is not prefix-stable"
            ids = tokenizer(full, add_special_tokens=False)["input_ids"]
            n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
            labels = [-100] * n_prompt + ids[n_prompt:]
            rows.append({"input_ids": ids[: args.seq_len], "labels": labels[: args.seq_len]})
            convs.append(messages)

    label_check = None
    if args.check_labels:
        try:
            from lora_queue_trainer.masking import build_sample

            n = min(args.check_labels, len(rows))
            same = sum(1 for i in range(n)
                       if (lambda s: s.input_ids == rows[i]["input_ids"] and s.labels == rows[i]["labels"])(
                           build_sample(tokenizer, convs[i], max_length=args.seq_len)))
            label_check = {"checked": n, "identical": same}
        except ImportError as e:
            label_check = {"error": f"lora_queue_trainer not importable: {e}"}
        print(f"plain_hf: label check vs lora_queue_trainer.masking: {label_check}", flush=True)

    batch_tokens: list[int] = []  # tokens of every micro-batch, in the order the collator built them

    def collate(batch):
        width = max(len(r["input_ids"]) for r in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        attn = torch.zeros((len(batch), width), dtype=torch.long)
        for i, r in enumerate(batch):
            n = len(r["input_ids"])
            ids[i, :n] = torch.tensor(r["input_ids"])
            labels[i, :n] = torch.tensor(r["labels"])
            attn[i, :n] = 1
        batch_tokens.append(int(sum(len(r["input_ids"]) for r in batch)))
        return {"input_ids": ids, "labels": labels, "attention_mask": attn}

    model = AutoModelForCausalLM.from_pretrained(
        args.model, dtype=torch.bfloat16 if bf16 else torch.float32, local_files_only=True)
    model.config.use_cache = False
    targets = args.target_modules if args.target_modules == "all-linear" else args.target_modules.split(",")
    model = get_peft_model(model, LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha,
                                             lora_dropout=args.lora_dropout, target_modules=targets,
                                             task_type="CAUSAL_LM", bias="none"))

    step_end: list[float] = []
    t_train_begin = [None]

    class Timer(TrainerCallback):
        def on_train_begin(self, a, state, control, **kw):
            t_train_begin[0] = time.time()

        def on_step_end(self, a, state, control, **kw):
            if use_cuda:
                torch.cuda.synchronize()  # the step's kernels are done: time it like the reference trainer's .item()
            step_end.append(time.time())

    out_dir = args.output_dir or os.path.join(os.path.dirname(os.path.abspath(args.report)), "plain-hf-output")
    targs = TrainingArguments(
        output_dir=out_dir,
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        max_steps=args.steps,
        learning_rate=args.lr,
        lr_scheduler_type="cosine",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        seed=args.seed,
        bf16=bf16,
        use_cpu=not use_cuda,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
    )
    trainer = Trainer(model=model, args=targs, train_dataset=rows, data_collator=collate, callbacks=[Timer()])
    result = trainer.train()

    steps = len(step_end)
    ga = args.grad_accum
    tokens = [sum(batch_tokens[i * ga:(i + 1) * ga]) for i in range(steps)]
    report = {
        "trainer": "plain_hf",
        "process_t0": PROCESS_T0,
        "train_begin": t_train_begin[0],
        "step_end_times": step_end,
        "step_tokens": tokens,
        "train_loss_mean": getattr(result, "training_loss", None),
        "device": f"cuda:0 ({torch.cuda.get_device_name(0)})" if use_cuda else "cpu",
        "bf16": bf16,
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "peak_gpu_allocated_bytes": torch.cuda.max_memory_allocated() if use_cuda else None,
        "peak_gpu_reserved_bytes": torch.cuda.max_memory_reserved() if use_cuda else None,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "optim": str(targs.optim),
        "label_check": label_check,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
                     "python": sys.version.split()[0]},
    }
    with open(args.report, "w") as fh:
        json.dump(report, fh, indent=1)
    print(f"plain_hf: {steps} steps, report {args.report}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
