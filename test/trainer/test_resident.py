"""trainer.resident: one process, several jobs (resident.py). The real trainer on the tiny model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

from conftest import PYTHON, conversation, load_adapter, make_job, max_diff, run_trainer, write_jsonl

SOCK = "resident/trainer.sock"


def start_resident(root: Path) -> subprocess.Popen:
    (root / "resident").mkdir(parents=True, exist_ok=True)
    log = open(root / "resident" / "trainer.log", "ab")
    return subprocess.Popen([PYTHON, "-m", "lora_queue_trainer", "--resident", SOCK], cwd=root, stdout=log, stderr=log)


def connect(root: Path, proc: subprocess.Popen, timeout: float = 120) -> socket.socket:
    deadline = time.time() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(root / SOCK))
            return s
        except OSError:
            s.close()
            assert proc.poll() is None, (root / "resident" / "trainer.log").read_text()
            assert time.time() < deadline, "the resident trainer never listened"
            time.sleep(0.1)


def hand_job(root: Path, proc: subprocess.Popen, job: dict, signal_after_step: str | None = None) -> dict:
    """What the engine's per-run client does: hello, the job, (a signal), the exit code."""
    run_dir = Path(job["events"]).parent
    (run_dir / "job.json").write_text(json.dumps(job))
    s = connect(root, proc)
    f = s.makefile("rb")
    hello = json.loads(f.readline())
    assert hello["hello"] == "lora-queue-resident" and hello["protocol"] == 1
    s.sendall((json.dumps({"job": str(run_dir / "job.json"), "log": str(run_dir / "trainer.log")}) + "\n").encode())
    if signal_after_step:
        events = Path(job["events"])
        deadline = time.time() + 120
        while not (events.exists() and any(json.loads(x)["type"] == "step" for x in events.read_text().splitlines() if x.strip())):
            assert time.time() < deadline and proc.poll() is None, "no step event"
            time.sleep(0.05)
        s.sendall((json.dumps({"signal": signal_after_step}) + "\n").encode())
    reply = json.loads(f.readline())
    s.close()
    return {**hello, **reply}


def events_of(job: dict) -> list[dict]:
    return [json.loads(line) for line in Path(job["events"]).read_text().splitlines() if line.strip()]


def test_resident_jobs_equal_cold_runs(tmp_path, tiny_model):
    a = write_jsonl(tmp_path / "a.jsonl", [conversation(i) for i in range(6)])
    b = write_jsonl(tmp_path / "b.jsonl", [conversation(i) for i in range(20, 28)])
    # Job 1 leaves every kind of state a leak could come from: dropout draws, gradient
    # checkpointing (its flag and PEFT's input hook), a LoRA of another rank on other modules.
    hp1 = {"epochs": 2, "loraDropout": 0.1, "gradientCheckpointing": True, "loraRank": 4, "seed": 3}
    hp2 = {"epochs": 2, "loraDropout": 0.1, "seed": 11}
    res = tmp_path / "res"
    proc = start_resident(res)
    try:
        r1 = hand_job(res, proc, make_job(res, tiny_model, a, name="r1", hyperparameters=hp1))
        j2 = make_job(res, tiny_model, b, name="r2", hyperparameters=hp2)
        r2 = hand_job(res, proc, j2)
        # A stop for the job in progress (the engine's SIGTERM, forwarded): done stopped, and the process stays.
        j3 = make_job(res, tiny_model, b, name="r3", hyperparameters={**hp2, "epochs": 50, "debugStepDelay": 0.2})
        r3 = hand_job(res, proc, j3, signal_after_step="SIGTERM")
        assert proc.poll() is None, "the resident process must outlive a stopped job"
        # stats.json is written after the answer, once the job's adapter is out of the model.
        deadline = time.time() + 60
        while json.loads((res / "resident" / "stats.json").read_text())["jobs"] < 3 and time.time() < deadline:
            time.sleep(0.05)
        stats = json.loads((res / "resident" / "stats.json").read_text())
    finally:
        proc.terminate()
        rc = proc.wait(60)
    log = (res / "resident" / "trainer.log").read_text()
    assert rc == 0, log
    assert (r1["exit"], r2["exit"], r3["exit"]) == (0, 0, 0), log
    assert r1["pid"] == r2["pid"] == r3["pid"]
    assert (r1["warm"], r2["warm"]) == (False, True)
    assert stats["jobs"] == 3 and stats["loads"] == 1, stats
    start2 = next(e for e in events_of(j2) if e["type"] == "start")
    assert start2["warm"] is True
    done3 = next(e for e in events_of(j3) if e["type"] == "done")
    assert done3["stopped"] is True and done3["signal"] == "SIGTERM"
    # Each job's output is in its own trainer.log, as for a cold run.
    assert "done:" in (res / "runs" / "r2" / "trainer.log").read_text()

    cold = tmp_path / "cold"
    c2 = run_trainer(cold, make_job(cold, tiny_model, b, name="c2", hyperparameters=hp2))
    assert c2.returncode == 0, c2.log()
    diff = max_diff(load_adapter(res / "runs" / "r2" / "adapter"), load_adapter(cold / "runs" / "c2" / "adapter"))
    assert diff < 1e-6, f"job 2 in the resident process differs from a cold run by {diff}"


def test_resident_refuses_a_launcher(tmp_path):
    env = {**os.environ, "WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}
    r = subprocess.run([PYTHON, "-m", "lora_queue_trainer", "--resident", SOCK], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "cannot run under a launcher" in r.stderr, r.stderr
