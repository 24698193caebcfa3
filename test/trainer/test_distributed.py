"""The reference trainer under a launcher: ``torchrun --standalone --nproc_per_node 2`` on the CPU
(gloo), the real trainer on the tiny model. What a user of two GPUs checks: one writer of the
events, each example trained once per epoch, the same curve as one process with the same global
batch, SIGTERM to the launcher stopping every rank with one checkpoint, resume on 2 and on 1
process, a failure on any rank stopping the run with a named error, a dead worker ending the run.
"""

from __future__ import annotations

import math
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (PYTHON, conversation, load_adapter, make_job, max_diff, run_trainer, start_trainer, torchrun, wait,
                      wait_for_event, write_jsonl)

N_EXAMPLES = 12


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dist")


@pytest.fixture(scope="module")
def data(root) -> Path:
    return write_jsonl(root / "train.jsonl", [conversation(i) for i in range(N_EXAMPLES)])


@pytest.fixture(scope="module")
def two(root, tiny_model, data):
    """One run on two processes, batch 2 each (global batch 4), two epochs."""
    job = make_job(root, tiny_model, data, name="two", hyperparameters={"epochs": 2, "batchSize": 2})
    run = run_trainer(root, job, launcher=torchrun(2))
    assert run.returncode == 0, run.log()
    return run


def test_one_writer_every_example_once(two):
    starts, dones = two.of("start"), two.of("done")
    assert len(starts) == 1 and starts[0]["world_size"] == 2 and "gloo" in starts[0]["device"]
    # 12 examples, global batch 2 x 2 = 4 rows: 3 optimizer steps an epoch, 2 epochs.
    expected = 2 * math.ceil(N_EXAMPLES / 4)
    assert starts[0]["total_steps"] == expected
    assert [e["step"] for e in two.of("step")] == list(range(1, expected + 1))
    assert len(dones) == 1 and dones[0]["stopped"] is False and two.events[-1]["type"] == "done"
    # The tokens of every example of both epochs, each counted once (not once per process).
    from transformers import AutoTokenizer

    from lora_queue_trainer.data import load_conversations, tokenize_conversations

    tok = AutoTokenizer.from_pretrained(two.job["base_model"], local_files_only=True)
    examples, _ = tokenize_conversations(tok, load_conversations(two.job["dataset"]), 48)
    assert dones[0]["tokens"] == 2 * sum(len(e.input_ids) for e in examples)
    assert all(e["tokens_per_second"] > 0 for e in two.of("step"))
    # The adapter was written once, by rank 0: one "done:" line in the shared log, one folder.
    assert two.stdout.count("done: ") == 1, two.stdout
    assert Path(two.job["output_dir"], "adapter_model.safetensors").is_file()
    assert not list(Path(two.job["output_dir"]).parent.glob(".adapter.*"))


def test_accelerate_launch_trains_the_same_as_torchrun(root, tiny_model, data, two):
    """The accelerate form of the example config (--multi_gpu works on the CPU: it runs torchrun)."""
    accelerate = [PYTHON, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                  "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    job = make_job(root, tiny_model, data, name="accel", hyperparameters={"epochs": 2, "batchSize": 2})
    run = run_trainer(root, job, launcher=accelerate)
    assert run.returncode == 0, run.log()
    assert run.of("start")[0]["world_size"] == 2
    assert [e["loss"] for e in run.of("step")] == pytest.approx([e["loss"] for e in two.of("step")], rel=1e-5)


def test_same_curve_as_one_process_with_the_same_global_batch(root, tiny_model, data):
    """2 processes x batch 1 against 1 process x batch 2, from the same seed (no dropout)."""
    hp = {"epochs": 1, "batchSize": 1, "maxSteps": 4}
    dist = run_trainer(root, make_job(root, tiny_model, data, name="x2b1", hyperparameters=hp), launcher=torchrun(2))
    assert dist.returncode == 0, dist.log()
    single = run_trainer(root, make_job(root, tiny_model, data, name="x1b2", hyperparameters={**hp, "batchSize": 2}))
    assert single.returncode == 0, single.log()
    a, b = dist.of("step"), single.of("step")
    assert [e["step"] for e in a] == [e["step"] for e in b] == [1, 2, 3, 4]
    for x, y in zip(a, b):
        assert x["loss"] == pytest.approx(y["loss"], rel=1e-4, abs=1e-4), (x, y)
    assert max_diff(load_adapter(dist.job["output_dir"]), load_adapter(single.job["output_dir"])) < 1e-4


def test_replica_check_catches_unsynchronised_gradients(root, tiny_model, data):
    """Without the gradient exchange (a fault injected for this test) the ranks drift apart; the
    trainer must say so and write no adapter, never ship rank 0's half of the training."""
    job = make_job(root, tiny_model, data, name="nosync", hyperparameters={"epochs": 1, "batchSize": 2})
    run = run_trainer(root, job, launcher=torchrun(2), env={"LORA_QUEUE_DEBUG_SKIP_GRAD_SYNC": "1"})
    assert run.returncode != 0, run.log()
    err = run.of("error")
    assert len(err) == 1 and err[0]["kind"] == "other" and "differ" in err[0]["message"], run.events[-3:]
    assert not run.of("done") and not Path(job["output_dir"]).exists()


def test_sigterm_to_launcher_then_resume_on_two_and_on_one(root, tiny_model, data):
    hp = {"epochs": 4, "batchSize": 1, "checkpointEverySteps": 1000}
    job = make_job(root, tiny_model, data, name="stop2", hyperparameters={**hp, "debugStepDelay": 0.3})
    run = start_trainer(root, job, launcher=torchrun(2))
    wait_for_event(run, lambda e: e["type"] == "step" and e["step"] >= 2)
    run.proc.send_signal(signal.SIGTERM)  # to the launcher only, as the engine sends it
    wait(run, 90)
    done = run.of("done")
    assert len(done) == 1 and done[0]["stopped"] is True, run.log()
    stopped_at = done[0]["step"]
    ckpts = run.of("checkpoint")
    assert len(ckpts) == 1 and ckpts[0]["step"] == stopped_at and done[0]["adapter_path"] == ckpts[0]["path"]
    assert run.events[-1]["type"] == "done"
    total = run.of("start")[0]["total_steps"]
    assert total == 4 * N_EXAMPLES // 2 and stopped_at < total
    rows_done = stopped_at * 2

    for name, launcher, rows_per_step in (("again2", torchrun(2), 2), ("again1", None, 1)):
        resumed_job = {**make_job(root, tiny_model, data, name=name, hyperparameters=hp),
                       "resume_from": ckpts[0]["path"]}
        resumed = run_trainer(root, resumed_job, launcher=launcher)
        assert resumed.returncode == 0, resumed.log()
        start = resumed.of("start")[0]
        assert start["resumed_from_step"] == stopped_at
        steps = [e["step"] for e in resumed.of("step")]
        # Continues past the checkpoint; the rows left are trained with this run's global batch.
        expected_total = stopped_at + math.ceil((4 * N_EXAMPLES - rows_done) / rows_per_step)
        assert start["total_steps"] == expected_total
        assert steps == list(range(stopped_at + 1, expected_total + 1)), steps
        assert resumed.of("done")[0]["stopped"] is False


def test_nan_on_one_rank_stops_every_rank(root, tiny_model, data):
    job = make_job(root, tiny_model, data, name="nan1", hyperparameters={"epochs": 3, "batchSize": 2, "debugInjectNanAtStep": 2})
    run = run_trainer(root, job, launcher=torchrun(2), env={"LORA_QUEUE_DEBUG_NAN_RANK": "1"})
    assert run.returncode != 0
    errors = run.of("error")
    assert len(errors) == 1 and errors[0]["kind"] == "nan_loss" and "rank 1" in errors[0]["message"], run.log()
    assert [e["step"] for e in run.of("step")] == [1]
    assert not run.of("done") and not Path(job["output_dir"]).exists()
    # Both processes stopped with the named error (the launcher reports their exit codes).
    assert run.stderr.count("error nan_loss") == 2, run.stderr[-3000:]


def test_a_dead_worker_ends_the_run(root, tiny_model, data):
    job = make_job(root, tiny_model, data, name="kill1", hyperparameters={"epochs": 50, "debugStepDelay": 0.3})
    run = start_trainer(root, job, launcher=torchrun(2))
    wait_for_event(run, lambda e: e["type"] == "step" and e["step"] >= 2)
    workers = subprocess.run(["pgrep", "-P", str(run.proc.pid)], capture_output=True, text=True).stdout.split()
    assert len(workers) == 2, workers
    subprocess.run(["kill", "-9", max(workers, key=int)], check=True)
    wait(run, 60)  # a hang would time out here
    assert run.returncode != 0
    errors = run.of("error")
    assert errors and "lost contact with another process" in errors[-1]["message"], run.log()
    assert not run.of("done")
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", f"--job {Path(job['events']).parent / 'job.json'}"], capture_output=True, text=True)
    assert left.stdout.strip() == "", left.stdout
