"""The real trainer, run as `python -m lora_queue_trainer --job job.json` on the tiny model."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
from conftest import (
    DROPS_REASONING,
    conversation,
    cuda_available,
    load_adapter,
    make_job,
    max_diff,
    run_trainer,
    start_trainer,
    wait,
    wait_for_event,
    write_jsonl,
)

STEP_LINE = re.compile(r"^step (\d+)/(\d+) loss (\d+\.\d{4}) lr (\d\.\de-?\d+) tok/s (\d+)$", re.M)


def test_loss_falls_and_protocol(trained):
    ev = trained.events
    types = [e["type"] for e in ev]
    assert all(isinstance(e["time"], float) for e in ev)
    assert types[0] == "heartbeat"  # emitted before the model is even loaded
    times = [e["time"] for e in ev]
    assert times == sorted(times) and max(b - a for a, b in zip(times, times[1:], strict=False)) <= 10.0
    start = trained.of("start")[0]
    assert start["total_steps"] == 10 and start["world_size"] == 1 and start["device"]
    steps = trained.of("step")
    assert [s["step"] for s in steps] == list(range(1, 11))
    for s in steps:
        assert {"step", "epoch", "loss", "lr", "grad_norm", "tokens_per_second"} <= s.keys()
    first, last = steps[0]["loss"], steps[-1]["loss"]
    assert last < first - 1.0, (first, last)
    evals = trained.of("eval")
    assert evals and evals[-1]["step"] == 10 and evals[-1]["eval_loss"] < evals[0]["eval_loss"] + 1e-6
    ckpts = trained.of("checkpoint")
    assert [c["step"] for c in ckpts] == [4, 8]
    # keepCheckpoints=2 keeps both; each is a PEFT adapter plus resumable state.
    for c in ckpts:
        p = Path(c["path"])
        for f in ("adapter_config.json", "adapter_model.safetensors", "trainer_state.json", "trainer_state.pt"):
            assert (p / f).is_file(), f
        assert p.parent == Path(trained.job["events"]).parent / "checkpoints"
    done = trained.of("done")[-1]
    assert types[-1] == "done" and done["stopped"] is False
    # Every token the run processed (10 steps of batch 4 over the dataset): the usage ledger's count.
    assert isinstance(done["tokens"], int) and done["tokens"] >= 10 * 4
    assert done["adapter_path"] == str(Path(trained.job["output_dir"]).resolve())
    assert done["final_loss"] == pytest.approx(last)
    out = Path(trained.job["output_dir"])
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    assert not [p for p in out.parent.iterdir() if ".tmp-" in p.name]
    lines = STEP_LINE.findall(trained.stdout)
    assert len(lines) == 10 and lines[-1][:2] == ("10", "10"), trained.stdout


def test_sigterm_then_resume_matches_uninterrupted(session_root, tiny_model):
    data = write_jsonl(session_root / "resume.jsonl", [conversation(i) for i in range(10)])
    # Dropout, accumulation over a partial window and a warmup+cosine schedule
    # make the comparison sensitive to RNG, data position and scheduler state.
    hp = {"epochs": 3, "batchSize": 2, "gradientAccumulation": 2, "loraDropout": 0.1,
          "lrScheduler": "cosine", "warmupSteps": 2, "learningRate": 1e-2}
    full = run_trainer(session_root, make_job(session_root, tiny_model, data, name="uninterrupted",
                                              hyperparameters=hp))
    assert full.returncode == 0, full.log()
    total = full.of("start")[0]["total_steps"]
    assert total == 9  # 5 batches/epoch -> 3 steps/epoch (last one has 1 micro-batch)

    job = make_job(session_root, tiny_model, data, name="interrupted",
                   hyperparameters={**hp, "debugStepDelay": 0.25})
    run = start_trainer(session_root, job)
    wait_for_event(run, lambda e: e["type"] == "step" and e["step"] >= 3)
    run.proc.send_signal(signal.SIGTERM)
    wait(run)
    assert run.returncode == 0, run.log()
    done = run.of("done")[-1]
    assert done["stopped"] is True and run.events[-1]["type"] == "done"
    stopped_at = done["step"]
    assert 3 <= stopped_at < total
    ckpt = run.of("checkpoint")[-1]
    assert ckpt["step"] == stopped_at and done["adapter_path"] == ckpt["path"]
    assert not Path(job["output_dir"]).exists()  # the final adapter only comes at the real end

    resumed = run_trainer(session_root, {**job, "resume_from": ckpt["path"],
                                         "hyperparameters": {**job["hyperparameters"], "debugStepDelay": 0}})
    assert resumed.returncode == 0, resumed.log()
    starts = resumed.of("start")
    assert starts[-1]["resumed_from_step"] == stopped_at
    steps_after = [e["step"] for e in resumed.events if e["type"] == "step" and e["time"] > starts[-1]["time"]]
    assert steps_after == list(range(stopped_at + 1, total + 1))
    assert resumed.of("done")[-1]["stopped"] is False

    # Same losses step for step, and the same final adapter. On the CPU the
    # runs are bit-for-bit alike; GPU kernels (and bf16 autocast) may reorder
    # reductions, so the tolerance is wider there.
    rel, tol = (1e-2, 1e-3) if cuda_available() else (1e-4, 1e-5)
    full_losses = {e["step"]: e["loss"] for e in full.of("step")}
    for e in resumed.of("step"):
        assert e["loss"] == pytest.approx(full_losses[e["step"]], rel=rel, abs=tol), e["step"]
    diff = max_diff(load_adapter(full.job["output_dir"]), load_adapter(job["output_dir"]))
    assert diff < tol, diff


def test_sigusr1_checkpoints_and_exits(session_root, tiny_model, train_data):
    job = make_job(session_root, tiny_model, train_data, name="usr1",
                   hyperparameters={"epochs": 50, "debugStepDelay": 0.3})
    run = start_trainer(session_root, job)
    wait_for_event(run, lambda e: e["type"] == "step" and e["step"] >= 1)
    run.proc.send_signal(signal.SIGUSR1)
    wait(run)
    assert run.returncode == 0, run.log()
    done = run.of("done")[-1]
    assert done["stopped"] is True and done["step"] < 100
    assert Path(done["adapter_path"], "trainer_state.pt").is_file()
    assert "received SIGUSR1" in run.stdout


def test_sigusr2_checkpoints_and_trains_on(session_root, tiny_model, train_data):
    """Slurm's time-limit warning (sbatch --signal=B:USR2@N): a checkpoint now, then training goes on
    to the end; the checkpoint is one the next run can resume from (docs/slurm.md)."""
    job = make_job(session_root, tiny_model, train_data, name="usr2",
                   hyperparameters={"epochs": 3, "checkpointEverySteps": 1000, "debugStepDelay": 0.3})
    run = start_trainer(session_root, job)
    wait_for_event(run, lambda e: e["type"] == "step" and e["step"] >= 1)
    run.proc.send_signal(signal.SIGUSR2)
    wait(run)
    assert run.returncode == 0, run.log()
    ckpts = run.of("checkpoint")
    assert len(ckpts) == 1, ckpts  # periodic checkpoints are off: this one is the warning's
    total = run.of("start")[0]["total_steps"]
    assert 1 <= ckpts[0]["step"] < total
    assert Path(ckpts[0]["path"], "trainer_state.pt").is_file()
    done = run.of("done")[-1]
    assert done["stopped"] is False and done["step"] == total
    assert "received SIGUSR2" in run.stdout


def test_sigterm_during_setup_stops_cleanly(tmp_path, tiny_model, train_data):
    job = make_job(tmp_path, tiny_model, train_data, name="early")
    run = start_trainer(tmp_path, job)
    wait_for_event(run, lambda e: e["type"] == "heartbeat")
    run.proc.send_signal(signal.SIGTERM)
    wait(run)
    assert run.returncode == 0, run.log()
    done = run.events[-1]
    assert done["type"] == "done" and done["stopped"] is True
    if not run.of("step"):  # the signal landed before the first step
        assert done["adapter_path"] is None and not run.of("checkpoint")
    assert not Path(job["output_dir"]).exists()


def test_init_adapter_continues_training(session_root, tiny_model, train_data, trained):
    src = Path(trained.job["output_dir"])
    # With a vanishing learning rate the continued adapter must stay equal to
    # the given one: proof that it was loaded and not re-initialised.
    job = make_job(session_root, tiny_model, train_data, name="continued", init_adapter=str(src),
                   hyperparameters={"maxSteps": 1, "learningRate": 1e-12, "loraRank": 4})
    run = run_trainer(session_root, job)
    assert run.returncode == 0, run.log()
    before, after = load_adapter(src), load_adapter(job["output_dir"])
    assert max_diff(before, after) < 1e-6
    assert any(float(v.abs().max()) > 0 for k, v in before.items() if "lora_B" in k)
    # The continued run starts from the trained loss, not from the fresh one.
    fresh_first = trained.of("step")[0]["loss"]
    cont_first = run.of("step")[0]["loss"]
    assert cont_first < fresh_first - 1.0, (fresh_first, cont_first)


@pytest.mark.parametrize("hp", [
    {"debugInjectNanAtStep": 3},
    # Adam's normalised steps and RMSNorm survive merely large rates; an
    # absurd one overflows fp32 activations on the second step.
    {"learningRate": 1e30, "maxGradNorm": 0, "lrScheduler": "constant"},
], ids=["injected-nan", "huge-lr"])
def test_nan_loss_stops_without_output(session_root, tiny_model, train_data, hp):
    name = "nan-" + ("inject" if "debugInjectNanAtStep" in hp else "lr")
    job = make_job(session_root, tiny_model, train_data, name=name,
                   hyperparameters={"epochs": 20, "checkpointEverySteps": 1, **hp})
    run = run_trainer(session_root, job)
    assert run.returncode == 4, run.log()
    err = run.events[-1]
    assert err["type"] == "error" and err["kind"] == "nan_loss", err
    assert not run.of("done")
    assert not Path(job["output_dir"]).exists()
    if "debugInjectNanAtStep" in hp:
        # Steps 1-2 ran and were checkpointed; the poisoned step 3 never was.
        assert [c["step"] for c in run.of("checkpoint")] == [1, 2]
        assert "step 3" in err["message"]


@pytest.mark.parametrize("rows,line,needle", [
    ([conversation(0), conversation(1), '{"messages": [ {"role": "user"', conversation(2)], 3, "invalid JSON"),
    ([conversation(0), {"messages": [{"role": "robot", "content": "x"}]}], 2, "role"),
    ([conversation(0), {"messages": [{"role": "assistant", "content": "x", "weight": 0.5}]}], 2, "weight"),
], ids=["bad-json", "bad-role", "bad-weight"])
def test_malformed_data_names_line(session_root, tiny_model, tmp_path, rows, line, needle):
    data = write_jsonl(tmp_path / "bad.jsonl", rows)
    job = make_job(tmp_path, tiny_model, data, name="bad")
    run = run_trainer(tmp_path, job)
    assert run.returncode == 3, run.log()
    err = run.events[-1]
    assert err["type"] == "error" and err["kind"] == "data"
    assert f"line {line}:" in err["message"] and needle in err["message"], err


def test_config_error_names_key(tmp_path, tiny_model, train_data):
    job = make_job(tmp_path, tiny_model, train_data, name="cfg", hyperparameters={"learningrate": 1e-4})
    run = run_trainer(tmp_path, job)
    assert run.returncode == 2, run.log()
    err = run.events[-1]
    assert err["kind"] == "config" and "learningrate" in err["message"]


def test_missing_base_model_is_config_error(tmp_path, train_data):
    job = make_job(tmp_path, tmp_path / "no-such-model", train_data, name="cfg2")
    run = run_trainer(tmp_path, job)
    assert run.returncode == 2 and run.events[-1]["kind"] == "config" and "base_model" in run.events[-1]["message"]


def test_require_gpu(tmp_path, tiny_model, train_data):
    job = make_job(tmp_path, tiny_model, train_data, name="gpu", hyperparameters={"requireGpu": True, "maxSteps": 2})
    run = run_trainer(tmp_path, job)
    if cuda_available():
        assert run.returncode == 0, run.log()
        assert run.of("start")[0]["device"].startswith("cuda")
    else:
        assert run.returncode == 5, run.log()
        err = run.events[-1]
        assert err["type"] == "error" and err["kind"] == "gpu_unavailable"


@pytest.mark.skipif(not cuda_available(), reason="GPU-only: needs CUDA (bf16 autocast, gradient checkpointing on GPU)")
def test_gpu_bf16_gradient_checkpointing(tmp_path, tiny_model, train_data):
    job = make_job(tmp_path, tiny_model, train_data, name="bf16",
                   hyperparameters={"bf16": "auto", "gradientCheckpointing": True, "epochs": 4, "packing": True})
    run = run_trainer(tmp_path, job)
    assert run.returncode == 0, run.log()
    assert run.of("start")[0]["bf16"] is True
    steps = run.of("step")
    assert steps[-1]["loss"] < steps[0]["loss"]


def test_packing_and_gradient_checkpointing_cpu(tmp_path, tiny_model, train_data):
    job = make_job(tmp_path, tiny_model, train_data, name="packed",
                   hyperparameters={"packing": True, "maxSeqLength": 120, "gradientCheckpointing": True,
                                    "maxSteps": 2, "bf16": False})
    run = run_trainer(tmp_path, job)
    assert run.returncode == 0, run.log()
    start = run.of("start")[0]
    assert start["train_examples"] < 8  # 8 conversations packed into fewer rows
    assert run.of("done")[-1]["stopped"] is False




def _two_turn_chats(n: int) -> list:
    return [{"messages": [
        {"role": "user", "content": f"{i}+{i}?"},
        {"role": "assistant", "reasoning_content": f"add {i} twice", "content": str(2 * i)},
        {"role": "user", "content": "times 2?"},
        {"role": "assistant", "reasoning_content": "double it", "content": str(4 * i)}]} for i in range(n)]


def test_training_chat_template_and_per_turn_sequences(tmp_path, tiny_model):
    # trainingChatTemplate (a file, as the engine passes it) that rewrites history: each chat trains
    # as one sequence per assistant turn (historyRewriting "perTurn", the default).
    template = tmp_path / "drops_reasoning.jinja"
    template.write_text(DROPS_REASONING)
    data = write_jsonl(tmp_path / "chats.jsonl", _two_turn_chats(3))
    job = make_job(tmp_path, tiny_model, data, name="perturn",
                   hyperparameters={"chatTemplate": str(template), "maxSteps": 1, "evalSplit": 0.0})
    run = run_trainer(tmp_path, job)
    assert run.returncode == 0, run.log()
    assert run.of("start")[0]["train_examples"] == 6
    job = make_job(tmp_path, tiny_model, data, name="refuse",
                   hyperparameters={"chatTemplate": str(template), "historyRewriting": "refuse", "maxSteps": 1})
    run = run_trainer(tmp_path, job)
    assert run.returncode == 2, run.log()
    assert "line 1:" in run.events[-1]["message"] and "not prefix-stable" in run.events[-1]["message"]
    job = make_job(tmp_path, tiny_model, data, name="noname", hyperparameters={"chatTemplate": "training"})
    run = run_trainer(tmp_path, job)
    assert run.returncode == 2 and "chatTemplate 'training'" in run.events[-1]["message"], run.log()
