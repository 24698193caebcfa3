#!/usr/bin/env python3
"""Your own Hugging Face Trainer + PEFT script, speaking the LoRA Queue protocol.

    python examples/hf_trainer_callback.py --job job.json

It reads the same job.json as the reference trainer (dataset, base_model,
output_dir, events and a few hyperparameters), trains a LoRA adapter with the
plain ``transformers.Trainer``, and reports through ``LoraQueueCallback``:
start / step / eval / checkpoint / heartbeat / done (or error) events in
``events``, the final adapter saved atomically to ``output_dir``, and on SIGTERM
or SIGUSR1 a checkpoint then ``done`` with ``stopped: true`` and exit 0.

Labels use the same training-mask contract as the reference trainer
(``lora_queue_trainer.masking.build_samples``). For TRL's SFTTrainer, pass the
same callback in ``callbacks=[...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

# Python puts this script's folder first on sys.path; examples/ also holds a
# datasets/ folder of sample data, which would shadow the `datasets` package
# that transformers probes for. Nothing here is imported from examples/.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--job", required=True)
    job = json.load(open(ap.parse_args().job))
    hp = job.get("hyperparameters") or {}

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from lora_queue_trainer.callback import LoraQueueCallback
    from lora_queue_trainer.masking import IGNORE_INDEX, build_samples
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

    cb = LoraQueueCallback(job["events"], output_dir=job["output_dir"], run_id=job.get("run_id", ""))
    with cb.reporting():
        tokenizer = AutoTokenizer.from_pretrained(job["base_model"], local_files_only=True)
        rows = []
        with open(job["dataset"], encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    obj = json.loads(line)
                    # One conversation may train as several sequences (a history-rewriting template).
                    for s in build_samples(tokenizer, obj["messages"], max_length=hp.get("maxSeqLength", 2048),
                                           tools=obj.get("tools"), history_rewriting=hp.get("historyRewriting", "perTurn")):
                        if s.num_trained:
                            rows.append({"input_ids": s.input_ids, "labels": s.labels})
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

        def collate(batch):
            width = max(len(r["input_ids"]) for r in batch)
            ids = torch.full((len(batch), width), pad)
            labels = torch.full((len(batch), width), IGNORE_INDEX)
            attn = torch.zeros((len(batch), width), dtype=torch.long)
            for i, r in enumerate(batch):
                n = len(r["input_ids"])
                ids[i, :n], labels[i, :n], attn[i, :n] = torch.tensor(r["input_ids"]), torch.tensor(r["labels"]), 1
            return {"input_ids": ids, "labels": labels, "attention_mask": attn}

        model = AutoModelForCausalLM.from_pretrained(job["base_model"], local_files_only=True, dtype=torch.float32)
        model = get_peft_model(model, LoraConfig(
            r=hp.get("loraRank", 16), lora_alpha=hp.get("loraAlpha", 32), lora_dropout=hp.get("loraDropout", 0.05),
            target_modules=hp.get("targetModules", "all-linear"), task_type="CAUSAL_LM"))

        args = TrainingArguments(
            output_dir=os.path.join(os.path.dirname(os.path.abspath(job["events"])), "checkpoints"),
            per_device_train_batch_size=hp.get("batchSize", 4),
            gradient_accumulation_steps=hp.get("gradientAccumulation", 1),
            num_train_epochs=hp.get("epochs", 1),
            max_steps=hp.get("maxSteps") or -1,
            learning_rate=hp.get("learningRate", 2e-4),
            lr_scheduler_type=hp.get("lrScheduler", "cosine"),
            warmup_steps=hp.get("warmupSteps", 0),
            seed=hp.get("seed", 42),
            logging_steps=1,
            save_strategy="steps",
            save_steps=hp.get("checkpointEverySteps", 100),
            report_to=[],
            disable_tqdm=True,
            remove_unused_columns=False,
            include_num_input_tokens_seen=True,
            bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        )
        trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collate, callbacks=[cb])
        trainer.train()
    return 0


if __name__ == "__main__":
    sys.exit(main())
