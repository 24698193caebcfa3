"""Shared fixtures: the tiny model (built once into <repo>/.cache/tiny-model),
datasets, and a helper that runs the real trainer as a subprocess.

Run: bash scripts/setup-python.sh && .venv/bin/python -m pytest test/trainer -q
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
# The interpreter running pytest is the one with torch and the trainer installed (.venv).
PYTHON = sys.executable
TINY_MODEL = Path(os.environ.get("LORA_QUEUE_TINY_MODEL", REPO / ".cache" / "tiny-model"))

# Short sequences and few steps: the tiny model's cost is dominated by the
# 128k-token vocabulary projection, so sequence length drives the suite's time.
BASE_HP = {
    "loraRank": 8,
    "loraAlpha": 16,
    "loraDropout": 0.0,
    "learningRate": 5e-3,
    "lrScheduler": "constant",
    "batchSize": 4,
    "maxSeqLength": 48,
    "checkpointEverySteps": 1000,
    "seed": 7,
}


# A template that rewrites history the way Qwen 3 does: earlier assistant turns
# lose their reasoning, the last one keeps it. (test_mask_rules.py, test_trainer.py)
DROPS_REASONING = (
    "{%- set ns = namespace(last=-1) %}{%- for m in messages %}{%- if m.role == 'user' %}{%- set ns.last = loop.index0 %}{%- endif %}{%- endfor %}"
    "{%- for m in messages %}<{{ m.role }}>\n"
    "{%- if m.role == 'assistant' and loop.index0 > ns.last and m.reasoning_content %}[think]{{ m.reasoning_content }}[/think]{% endif %}"
    "{{ m.content }}</s>\n{%- endfor %}"
    "{%- if add_generation_prompt %}<assistant>\n{%- endif %}"
)


def cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    r = subprocess.run([PYTHON, str(REPO / "scripts" / "make_tiny_model.py"), str(TINY_MODEL)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return TINY_MODEL


def conversation(i: int) -> dict:
    return {"messages": [
        {"role": "system", "content": "You are a calculator."},
        {"role": "user", "content": f"What is {i} plus {i}?"},
        {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."},
    ]}


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@dataclass
class Run:
    root: Path
    job: dict
    returncode: Optional[int] = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    proc: Optional[subprocess.Popen] = field(default=None, repr=False)

    @property
    def events(self) -> list[dict]:
        path = Path(self.job["events"])
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def of(self, type_: str) -> list[dict]:
        return [e for e in self.events if e["type"] == type_]

    def log(self) -> str:
        return f"rc={self.returncode}\n--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-4000:]}"


def make_job(root: Path, model: Path, dataset: Path, name: str = "run", **overrides) -> dict:
    hp = dict(BASE_HP)
    hp.update(overrides.pop("hyperparameters", {}))
    run_dir = root / "runs" / name
    run_dir.mkdir(parents=True, exist_ok=True)
    job = {
        "dataset": str(dataset),
        "base_model": str(model),
        "init_adapter": None,
        "resume_from": None,
        "output_dir": str(run_dir / "adapter"),
        "events": str(run_dir / "events.jsonl"),
        "run_id": name,
        "hyperparameters": hp,
    }
    job.update(overrides)
    return job


def torchrun(nproc: int) -> list[str]:
    """The launcher prefix for ``nproc`` CPU processes (gloo on loopback), as a user's trainer.command has it."""
    return [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]


def start_trainer(root: Path, job: dict, launcher: Optional[list[str]] = None, env: Optional[dict] = None) -> Run:
    job_path = Path(job["events"]).parent / "job.json"
    job_path.write_text(json.dumps(job, indent=2))
    argv = (launcher or [PYTHON]) + ["-m", "lora_queue_trainer", "--job", str(job_path)]
    # One thread per process: two processes on a 2-core machine must not fight over the cores.
    full_env = {**os.environ, **({"OMP_NUM_THREADS": "1"} if launcher else {}), **(env or {})}
    proc = subprocess.Popen(argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
    run = Run(root=root, job=job, proc=proc)
    run.seconds = time.time()
    return run


def wait(run: Run, timeout: float = 180) -> Run:
    try:
        run.stdout, run.stderr = run.proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        run.proc.kill()
        run.stdout, run.stderr = run.proc.communicate()
        raise AssertionError("trainer timed out\n" + run.log()) from None
    run.returncode = run.proc.returncode
    run.seconds = time.time() - run.seconds
    return run


def run_trainer(root: Path, job: dict, timeout: float = 180, launcher: Optional[list[str]] = None,
                env: Optional[dict] = None) -> Run:
    return wait(start_trainer(root, job, launcher, env), timeout)


def wait_for_event(run: Run, pred, timeout: float = 120) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for e in run.events:
            if pred(e):
                return e
        if run.proc.poll() is not None:
            break
        time.sleep(0.05)
    wait(run, 30)
    raise AssertionError("event never came\n" + run.log())


def load_adapter(path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(path) / "adapter_model.safetensors"))


def max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


@pytest.fixture(scope="session")
def session_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("queue")


@pytest.fixture(scope="session")
def train_data(session_root) -> Path:
    # 8 short conversations repeated: a small model can memorise them quickly.
    return write_jsonl(session_root / "train.jsonl", [conversation(i) for i in range(8)])


@pytest.fixture(scope="session")
def trained(session_root, tiny_model, train_data) -> Run:
    """One real training run, shared by the loss / init_adapter / merge tests."""
    job = make_job(session_root, tiny_model, train_data, name="trained",
                   hyperparameters={"epochs": 5, "evalSplit": 0.25, "checkpointEverySteps": 4,
                                    "keepCheckpoints": 2, "lrScheduler": "cosine", "warmupSteps": 2,
                                    "learningRate": 1e-2})
    run = run_trainer(session_root, job)
    assert run.returncode == 0, run.log()
    return run
