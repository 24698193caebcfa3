#!/usr/bin/env python3
"""Several processes against one: the reference trainer with the same global batch, in one run.

    .venv/bin/python bench/trainer/dist.py --size tiny --steps 12              # CPU, 2 processes vs 1
    .venv/bin/python bench/trainer/dist.py --size 0.5b --steps 4 --seq-len 128 # CPU, a 0.5b-shaped model
    python3 bench/trainer/dist.py --size 1b --steps 30 --variants plain,torchrun1   # one GPU: the launcher's cost

Variants (comma-separated, run alternately for --rounds rounds):

* ``plain``: ``python -m lora_queue_trainer`` (one process), batch ``--batch-size``;
* ``torchrun1``: the same under ``torchrun --standalone --nproc_per_node 1`` (the launcher's overhead);
* ``torchrun2``: ``torchrun --nproc_per_node 2`` with half the batch per process, so the global batch
  (batch × accumulation × world size) is the same as ``plain``'s.

Every variant trains the same model, data, LoRA settings and seed. Measured from each run's
events.jsonl: the wall time per optimizer step (between consecutive ``step`` events, the first
--warmup-steps left out), tokens/s of the global batch, and the time from spawn to the first step.
On the CPU the processes get ``OMP_NUM_THREADS`` = cores / processes, so 1 and 2 processes use the
same cores. Prints a Markdown table with ratios against the first variant and writes
bench/out/trainer-dist-<size>-<UTC>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
from run import child_env, git_commit, sh, warm_cache  # noqa: E402


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="tiny", choices=("tiny", "0.5b", "1b", "1.5b"))
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--variants", default="plain,torchrun2")
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=4, help="rows per step of the one-process variants")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--warmup-steps", type=int, default=2)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--work-dir", default=str(REPO / "bench" / "data" / "trainer"))
    ap.add_argument("--out-dir", default=str(REPO / "bench" / "out"))
    ap.add_argument("--timeout", type=float, default=3600)
    return ap.parse_args(argv)


def run_variant(a, name: str, model: Path, data: Path, run_dir: Path, env: dict) -> dict:
    nproc = {"plain": 1, "torchrun1": 1, "torchrun2": 2}[name]
    run_dir.mkdir(parents=True, exist_ok=True)
    events = run_dir / "events.jsonl"
    hp = {"loraRank": 16, "loraAlpha": 32, "loraDropout": 0.0, "targetModules": "all-linear", "learningRate": 2e-4,
          "lrScheduler": "constant", "epochs": 1, "maxSteps": a.steps, "batchSize": a.batch_size // nproc,
          "gradientAccumulation": 1, "maxSeqLength": a.seq_len, "seed": 42, "checkpointEverySteps": 10 ** 9,
          "requireGpu": a.device == "cuda"}
    if a.device == "cpu":
        hp["bf16"] = False
    job = {"dataset": str(data), "base_model": str(model), "output_dir": str(run_dir / "adapter"),
           "events": str(events), "run_id": run_dir.name, "hyperparameters": hp}
    (run_dir / "job.json").write_text(json.dumps(job, indent=2))
    launcher = [] if name == "plain" else ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
    cmd = [a.python, *launcher, "-m", "lora_queue_trainer", "--job", str(run_dir / "job.json")]
    cores = os.cpu_count() or 1
    venv = {**env, "OMP_NUM_THREADS": str(max(1, cores // nproc))}
    t0 = sh(cmd, venv, run_dir / "log.txt", a.timeout)
    evs = [json.loads(line) for line in events.read_text().splitlines() if line.strip()]
    start = next(e for e in evs if e["type"] == "start")
    steps = [e for e in evs if e["type"] == "step"]
    times = [e["time"] for e in steps]
    w = max(1, a.warmup_steps)
    iv = [times[k] - times[k - 1] for k in range(w, len(times))]
    tokens_per_step = a.batch_size * a.seq_len
    return {"variant": name, "world_size": start["world_size"], "device": start["device"],
            "first_step_seconds": times[0] - t0, "step_seconds": iv,
            "tps": [tokens_per_step / d for d in iv if d > 0], "losses": [e["loss"] for e in steps]}


def main(argv=None) -> int:
    a = parse(argv)
    variants = a.variants.split(",")
    work = Path(a.work_dir).resolve()
    env = child_env(a.device)
    model = work / f"model-{a.size}"
    n_examples = a.steps * a.batch_size
    data = work / f"data-{n_examples}x{a.seq_len}.jsonl"
    sh([a.python, str(HERE / "make_model.py"), str(model), "--size", a.size], env)
    sh([a.python, str(HERE / "make_data.py"), str(data), "--examples", str(n_examples), "--tokens", str(a.seq_len),
        "--tokenizer", str(model)], env)
    warm_cache(model)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    root = work / "runs" / f"dist-{a.size}-{stamp}"
    load_before = os.getloadavg()
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for i in range(1, a.rounds + 1):
        for v in variants:
            r = run_variant(a, v, model, data, root / f"{v}-{i}", env)
            runs[v].append(r)
            print(f"  round {i} {v}: first step {r['first_step_seconds']:.1f} s, step "
                  f"{statistics.median(r['step_seconds']) * 1000:.1f} ms", flush=True)
    load_after = os.getloadavg()
    summary = {}
    for v, rs in runs.items():
        iv = [x for r in rs for x in r["step_seconds"]]
        tps = [x for r in rs for x in r["tps"]]
        summary[v] = {"step_ms_median": statistics.median(iv) * 1000, "step_ms_min": min(iv) * 1000,
                      "step_ms_max": max(iv) * 1000, "tps_median": statistics.median(tps),
                      "first_step_s_median": statistics.median(r["first_step_seconds"] for r in rs),
                      "world_size": rs[0]["world_size"], "device": rs[0]["device"]}
    base = summary[variants[0]]
    print()
    print(f"{a.size}, global batch {a.batch_size} rows × {a.seq_len} tokens, {a.steps} steps, {a.rounds} rounds, "
          f"load {load_before[0]:.1f} → {load_after[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print()
    print(f"| variant | processes | step time, median (min–max) | tokens/s | first step | step time / {variants[0]} |")
    print("|---|---:|---:|---:|---:|---:|")
    for v in variants:
        s = summary[v]
        print(f"| {v} | {s['world_size']} | {s['step_ms_median']:,.1f} ms ({s['step_ms_min']:,.1f}–{s['step_ms_max']:,.1f}) "
              f"| {s['tps_median']:,.0f} | {s['first_step_s_median']:.1f} s | {s['step_ms_median'] / base['step_ms_median']:.2f}× |")
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"trainer-dist-{a.size}-{stamp}.json"
    path.write_text(json.dumps({"size": a.size, "args": vars(a), "commit": git_commit(), "summary": summary,
                                "load": [load_before, load_after], "runs": runs}, indent=1))
    print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
