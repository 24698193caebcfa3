"""LoraQueueCallback in a plain HF Trainer script, and adapter consolidation (merge)."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import PYTHON, REPO, Run, conversation, make_job, wait, wait_for_event, write_jsonl

EXAMPLE = REPO / "examples" / "hf_trainer_callback.py"

# transformers warns about its own deprecated API when PEFT loads an adapter in this process.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def start_example(root: Path, job: dict) -> Run:
    job_path = Path(job["events"]).parent / "job.json"
    job_path.write_text(json.dumps(job))
    proc = subprocess.Popen([PYTHON, str(EXAMPLE), "--job", str(job_path)], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    import time

    run = Run(root=root, job=job, proc=proc)
    run.seconds = time.time()
    return run


def test_callback_example_full_run(tmp_path, tiny_model, train_data):
    job = make_job(tmp_path, tiny_model, train_data, name="hf",
                   hyperparameters={"epochs": 3, "checkpointEverySteps": 3, "learningRate": 1e-2})
    run = wait(start_example(tmp_path, job))
    assert run.returncode == 0, run.log()
    types = [e["type"] for e in run.events if e["type"] != "heartbeat"]
    assert types[0] == "start" and types[-1] == "done"
    start = run.of("start")[0]
    assert start["total_steps"] == 6 and start["world_size"] == 1
    steps = run.of("step")
    assert [s["step"] for s in steps] == list(range(1, 7))
    assert steps[-1]["loss"] < steps[0]["loss"]
    assert all(s["lr"] is not None and s["grad_norm"] is not None for s in steps)
    assert [c["step"] for c in run.of("checkpoint")] == [3, 6]
    assert all(Path(c["path"]).is_dir() for c in run.of("checkpoint"))
    done = run.of("done")[-1]
    assert done["stopped"] is False and done["adapter_path"] == str(Path(job["output_dir"]).resolve())
    assert (Path(job["output_dir"]) / "adapter_model.safetensors").is_file()


def test_callback_example_sigterm(tmp_path, tiny_model):
    data = write_jsonl(tmp_path / "many.jsonl", [conversation(i) for i in range(64)])
    job = make_job(tmp_path, tiny_model, data, name="hfstop",
                   hyperparameters={"epochs": 20, "batchSize": 1, "checkpointEverySteps": 10_000})
    run = start_example(tmp_path, job)
    wait_for_event(run, lambda e: e["type"] == "step" and e["step"] >= 2)
    run.proc.send_signal(signal.SIGTERM)
    wait(run)
    assert run.returncode == 0, run.log()
    done = run.events[-1]
    assert done["type"] == "done" and done["stopped"] is True
    ckpt = run.of("checkpoint")[-1]
    assert done["adapter_path"] == ckpt["path"] and ckpt["step"] == done["step"] < 1280
    assert (Path(ckpt["path"]) / "adapter_model.safetensors").is_file()
    assert not Path(job["output_dir"]).exists()


def test_callback_example_sigusr2_checkpoints_and_trains_on(tmp_path, tiny_model):
    data = write_jsonl(tmp_path / "some.jsonl", [conversation(i) for i in range(8)])
    job = make_job(tmp_path, tiny_model, data, name="hfusr2",
                   hyperparameters={"epochs": 20, "batchSize": 1, "checkpointEverySteps": 10_000})
    run = start_example(tmp_path, job)
    wait_for_event(run, lambda e: e["type"] == "step" and e["step"] >= 2)
    run.proc.send_signal(signal.SIGUSR2)
    wait(run)
    assert run.returncode == 0, run.log()
    total = run.of("start")[0]["total_steps"]
    ckpts = [c for c in run.of("checkpoint") if c["step"] < total]
    assert len(ckpts) == 1 and ckpts[0]["step"] >= 2, run.of("checkpoint")
    assert (Path(ckpts[0]["path"]) / "adapter_model.safetensors").is_file()
    done = run.of("done")[-1]
    assert done["stopped"] is False and (Path(job["output_dir"]) / "adapter_model.safetensors").is_file()


def test_merge_matches_base_plus_adapter(tmp_path, tiny_model, trained):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = trained.job["output_dir"]
    out = tmp_path / "merged"
    r = subprocess.run([PYTHON, "-m", "lora_queue_trainer.merge", "--base", str(tiny_model), "--adapter", adapter,
                        "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["ok"] is True and summary["max_abs_logit_diff"] <= summary["tolerance"]
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]

    # Independent check in this process: merged == base + adapter, and != base.
    ids = torch.tensor([[128000, 9906, 11, 1917, 0, 3639, 374, 220, 17, 5636, 220, 17, 30]])
    with torch.no_grad():
        base = AutoModelForCausalLM.from_pretrained(tiny_model, local_files_only=True, dtype=torch.float32).eval()
        base_logits = base(input_ids=ids).logits
        with_adapter = PeftModel.from_pretrained(base, adapter).eval()(input_ids=ids).logits
        merged = AutoModelForCausalLM.from_pretrained(out, local_files_only=True, dtype=torch.float32).eval()
        merged_logits = merged(input_ids=ids).logits
    assert float((merged_logits - with_adapter).abs().max()) < 1e-4
    assert float((merged_logits - base_logits).abs().max()) > 1e-3  # the adapter did change something

    # An existing OUT is never replaced.
    r2 = subprocess.run([PYTHON, "-m", "lora_queue_trainer.merge", "--base", str(tiny_model), "--adapter", adapter,
                         "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r2.returncode == 2 and json.loads(r2.stdout.strip().splitlines()[-1])["ok"] is False
