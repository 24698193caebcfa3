#!/usr/bin/env python3
"""Trainer benchmark: the reference trainer vs a plain HF `Trainer` + PEFT script, same run.

    python bench/trainer/run.py --size 1b --steps 30            # on a GPU machine
    .venv/bin/python bench/trainer/run.py --size tiny --steps 10  # CPU smoke run (a couple of minutes)

Builds the model (bench/trainer/make_model.py: Llama architecture from a config,
random weights) and the data (bench/trainer/make_data.py: chat JSONL, every
conversation exactly --seq-len tokens under the model's template) when missing,
then runs, alternately, for --rounds rounds:

* ours:  `lora_queue_trainer` through a job.json (bench/trainer/run_ours.py =
  `python -m lora_queue_trainer --job job.json` + a peak-memory report at exit),
  read back from its events.jsonl (`start`, `step`);
* plain: bench/trainer/plain_hf.py, the same model, data, sequence length,
  LoRA r/alpha/dropout/targets, lr, schedule, batch size, accumulation and seed.

Measured for each process, the same way for both:

* step time: wall time between the ends of consecutive optimizer steps (the
  `step` event times for ours, on_step_end after cuda.synchronize for plain),
  the first --warmup-steps steps left out; median over all rounds;
* tokens/s: tokens of the step / its step time (no padding: every row has
  exactly --seq-len tokens), median; also total tokens / total time;
* peak memory: torch.cuda.max_memory_allocated (GPU) or peak RSS (CPU);
* time to first step: end of the first optimizer step minus the moment the
  process was spawned (imports, tokenizer, data, model load, PEFT included).

Prints a Markdown table and writes JSON to bench/out/trainer-<size>-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# Per size: (seq_len, batch_size, grad_accum)
DEFAULTS = {"tiny": (64, 4, 1), "0.5b": (1024, 4, 2), "1b": (1024, 4, 2), "1.5b": (1024, 4, 2)}
LORA = {"r": 16, "alpha": 32, "dropout": 0.05, "targets": "all-linear"}
LR, SEED = 2e-4, 42
# Variants of ours beside the defaults (issue #18's (c) and (d)); each is extra hyperparameters.
OURS_VARIANTS = {
    "packed-fused": {"packing": True, "loss": "fused"},
    "chunked": {"loss": "chunked"},
    "gc": {"gradientCheckpointing": True},
    "compile": {"compile": True},
}


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1b", choices=sorted(DEFAULTS))
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=2, help="runs of each trainer, alternating ours/plain")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--seq-len", type=int)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--grad-accum", type=int)
    ap.add_argument("--warmup-steps", type=int, default=2, help="first steps left out of step time / tokens/s")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the children (needs torch, "
                    "transformers, peft; lora_queue_trainer is put on PYTHONPATH from trainer/)")
    ap.add_argument("--work-dir", default=str(REPO / "bench" / "data" / "trainer"))
    ap.add_argument("--out-dir", default=str(REPO / "bench" / "out"))
    ap.add_argument("--timeout", type=float, default=1200, help="seconds per child process")
    ap.add_argument("--only", choices=("ours", "plain"), help="run one side only (debugging)")
    ap.add_argument("--variants", default="",
                    help="extra variants of ours, comma-separated, run in the same rotation: "
                         + ", ".join(f"{k} ({v})" for k, v in OURS_VARIANTS.items()))
    return ap.parse_args(argv)


def child_env(device: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "trainer")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def sh(cmd: list[str], env: dict, log: Path | None = None, timeout: float | None = None) -> float:
    """Run cmd (cwd = repo root); return the wall-clock time at which it was spawned."""
    out = open(log, "w") if log else None
    t0 = time.time()
    try:
        p = subprocess.run(cmd, cwd=REPO, env=env, stdout=out or None, stderr=subprocess.STDOUT if out else None,
                           timeout=timeout)
    finally:
        if out:
            out.close()
    if p.returncode != 0:
        tail = log.read_text()[-4000:] if log else ""
        raise SystemExit(f"run.py: {' '.join(cmd[:3])} ... exited {p.returncode}\n{tail}")
    return t0


def warm_cache(model_dir: Path) -> None:
    """Read the model files once so the first run does not pay the cold disk alone."""
    for f in model_dir.iterdir():
        if f.is_file():
            with open(f, "rb") as fh:
                while fh.read(1 << 24):
                    pass


def step_stats(times: list[float], tokens: list[float], warmup: int) -> dict:
    """From the end time of each step and its tokens: per-step intervals after warm-up."""
    start = max(1, warmup)  # interval k is times[k] - times[k-1]
    if len(times) <= start:
        start = 1
    iv = [times[k] - times[k - 1] for k in range(start, len(times))]
    tk = tokens[start:len(times)]
    return {"intervals": iv, "tokens": tk,
            "tps": [t / d for t, d in zip(tk, iv) if d > 0],
            "total_tokens": sum(tk), "total_seconds": sum(iv)}


def run_ours(a, model: Path, data: Path, run_dir: Path, cfg: dict, env: dict, tokens_per_step: float,
             extra: dict | None = None, name: str = "ours") -> dict:
    run_dir.mkdir(parents=True, exist_ok=True)
    events = run_dir / "events.jsonl"
    hp = {"loraRank": LORA["r"], "loraAlpha": LORA["alpha"], "loraDropout": LORA["dropout"],
          "targetModules": LORA["targets"], "learningRate": LR, "lrScheduler": "cosine", "warmupSteps": 0,
          "weightDecay": 0.0, "maxGradNorm": 1.0, "epochs": 1, "maxSteps": a.steps,
          "batchSize": cfg["batch_size"], "gradientAccumulation": cfg["grad_accum"],
          "maxSeqLength": cfg["seq_len"], "seed": SEED, "checkpointEverySteps": 10 ** 9, "logEverySteps": 1,
          "requireGpu": a.device == "cuda"}
    if a.device == "cpu":
        hp["bf16"] = False
    hp.update(extra or {})
    job = {"dataset": str(data), "base_model": str(model), "output_dir": str(run_dir / "adapter"),
           "events": str(events), "run_id": run_dir.name, "hyperparameters": hp}
    (run_dir / "job.json").write_text(json.dumps(job, indent=2))
    stats_path = run_dir / "stats.json"
    t0 = sh([a.python, str(HERE / "run_ours.py"), "--job", str(run_dir / "job.json"), "--stats", str(stats_path)],
            env, run_dir / "log.txt", a.timeout)
    evs = [json.loads(line) for line in events.read_text().splitlines() if line.strip()]
    start = next(e for e in evs if e["type"] == "start")
    steps = [e for e in evs if e["type"] == "step"]
    stats = json.loads(stats_path.read_text())
    times = [e["time"] for e in steps]
    s = step_stats(times, [tokens_per_step] * len(times), a.warmup_steps)
    return {"trainer": name, "loss": start.get("loss"), "attention": start.get("attention"), "spawned": t0, "first_step_seconds": times[0] - t0,
            "start_event_seconds": start["time"] - t0, "setup_seconds": start.get("setup_seconds"),
            "device": start["device"], "bf16": start.get("bf16"), "steps": len(steps),
            "self_reported_tps": [e["tokens_per_second"] for e in steps], "last_step_loss": steps[-1]["loss"],
            "trainable_parameters": start.get("trainable_parameters"),
            "peak_gpu_allocated_bytes": stats.get("peak_gpu_allocated_bytes"),
            "peak_gpu_reserved_bytes": stats.get("peak_gpu_reserved_bytes"),
            "peak_rss_bytes": stats.get("peak_rss_bytes"), "versions": stats.get("versions"), **s}


def run_plain(a, model: Path, data: Path, run_dir: Path, cfg: dict, env: dict, check_labels: int) -> dict:
    run_dir.mkdir(parents=True, exist_ok=True)
    report = run_dir / "report.json"
    cmd = [a.python, str(HERE / "plain_hf.py"), "--model", str(model), "--data", str(data), "--report", str(report),
           "--steps", str(a.steps), "--batch-size", str(cfg["batch_size"]), "--grad-accum", str(cfg["grad_accum"]),
           "--seq-len", str(cfg["seq_len"]), "--lr", str(LR), "--lora-r", str(LORA["r"]),
           "--lora-alpha", str(LORA["alpha"]), "--lora-dropout", str(LORA["dropout"]),
           "--target-modules", LORA["targets"], "--seed", str(SEED), "--device", a.device,
           "--check-labels", str(check_labels)]
    t0 = sh(cmd, env, run_dir / "log.txt", a.timeout)
    r = json.loads(report.read_text())
    times = r["step_end_times"]
    s = step_stats(times, r["step_tokens"], a.warmup_steps)
    return {"trainer": "plain", "spawned": t0, "first_step_seconds": times[0] - t0,
            "train_begin_seconds": (r["train_begin"] - t0) if r.get("train_begin") else None,
            "device": r["device"], "bf16": r["bf16"], "steps": len(times), "train_loss_mean": r.get("train_loss_mean"),
            "trainable_parameters": r.get("trainable_parameters"), "optim": r.get("optim"),
            "label_check": r.get("label_check"),
            "peak_gpu_allocated_bytes": r.get("peak_gpu_allocated_bytes"),
            "peak_gpu_reserved_bytes": r.get("peak_gpu_reserved_bytes"),
            "peak_rss_bytes": r.get("peak_rss_bytes"), "versions": r.get("versions"), **s}


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None  # no git on the machine, or no .git in the copy


def summarize(runs: list[dict]) -> dict:
    iv = [x for r in runs for x in r["intervals"]]
    tps = [x for r in runs for x in r["tps"]]
    gpu = [r["peak_gpu_allocated_bytes"] for r in runs if r.get("peak_gpu_allocated_bytes")]
    res = [r["peak_gpu_reserved_bytes"] for r in runs if r.get("peak_gpu_reserved_bytes")]
    ttfs = [r["first_step_seconds"] for r in runs]
    return {
        "runs": len(runs),
        "tps_median": statistics.median(tps) if tps else None,
        "tps_min": min(tps) if tps else None, "tps_max": max(tps) if tps else None,
        "tps_overall": (sum(r["total_tokens"] for r in runs) / sum(r["total_seconds"] for r in runs))
        if sum(r["total_seconds"] for r in runs) > 0 else None,
        "step_seconds_median": statistics.median(iv) if iv else None,
        "step_seconds_min": min(iv) if iv else None, "step_seconds_max": max(iv) if iv else None,
        "first_step_seconds_median": statistics.median(ttfs),
        "first_step_seconds_min": min(ttfs), "first_step_seconds_max": max(ttfs),
        "peak_memory_kind": "gpu_allocated" if gpu else "rss",
        "peak_memory_bytes": max(gpu) if gpu else max(r["peak_rss_bytes"] for r in runs),
        "peak_gpu_reserved_bytes": max(res) if res else None,
    }


def mib(b) -> str:
    return "–" if b is None else (f"{b / 2**30:.2f} GiB" if b >= 2**30 else f"{b / 2**20:.0f} MiB")


def table(o: dict, p: dict) -> str:
    def ratio(x, y):
        return f"{x / y:.2f}×" if x and y else "–"

    mem_label = "peak GPU memory (max_memory_allocated)" if o["peak_memory_kind"] == "gpu_allocated" \
        else "peak RSS"
    rows = [
        ("tokens/s, median (min–max)", lambda s: f"{s['tps_median']:,.0f} ({s['tps_min']:,.0f}–{s['tps_max']:,.0f})",
         ratio(o["tps_median"], p["tps_median"])),
        ("tokens/s, all steps", lambda s: f"{s['tps_overall']:,.0f}", ratio(o["tps_overall"], p["tps_overall"])),
        ("step time, median (min–max)",
         lambda s: f"{s['step_seconds_median']*1000:,.1f} ms ({s['step_seconds_min']*1000:,.1f}–"
                   f"{s['step_seconds_max']*1000:,.1f})",
         ratio(o["step_seconds_median"], p["step_seconds_median"])),
        (mem_label, lambda s: mib(s["peak_memory_bytes"]), ratio(o["peak_memory_bytes"], p["peak_memory_bytes"])),
    ]
    if o.get("peak_gpu_reserved_bytes"):
        rows.append(("peak GPU memory reserved", lambda s: mib(s["peak_gpu_reserved_bytes"]),
                     ratio(o["peak_gpu_reserved_bytes"], p["peak_gpu_reserved_bytes"])))
    rows.append(("time to first step, median (min–max)",
                 lambda s: f"{s['first_step_seconds_median']:.1f} s ({s['first_step_seconds_min']:.1f}–"
                           f"{s['first_step_seconds_max']:.1f})",
                 ratio(o["first_step_seconds_median"], p["first_step_seconds_median"])))
    lines = ["| | lora_queue_trainer | plain HF Trainer + PEFT | ours/plain |", "|---|---:|---:|---:|"]
    for name, fmt, r in rows:
        lines.append(f"| {name} | {fmt(o)} | {fmt(p)} | {r} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    a = parse(argv)
    seq, bs, ga = DEFAULTS[a.size]
    cfg = {"seq_len": a.seq_len or seq, "batch_size": a.batch_size or bs, "grad_accum": a.grad_accum or ga}
    n_examples = a.steps * cfg["batch_size"] * cfg["grad_accum"]
    work = Path(a.work_dir).resolve()
    env = child_env(a.device)
    model = work / f"model-{a.size}"
    data = work / f"data-{n_examples}x{cfg['seq_len']}.jsonl"
    t_build = time.time()
    sh([a.python, str(HERE / "make_model.py"), str(model), "--size", a.size], env)
    sh([a.python, str(HERE / "make_data.py"), str(data), "--examples", str(n_examples), "--tokens",
        str(cfg["seq_len"]), "--tokenizer", str(model)], env)
    build_seconds = time.time() - t_build
    meta = json.loads(data.with_name(data.name + ".meta.json").read_text())
    per_row = meta["token_counts"]["mean"] if meta.get("token_counts") else cfg["seq_len"]
    tokens_per_step = per_row * cfg["batch_size"] * cfg["grad_accum"]
    if not meta.get("exact"):
        print(f"run.py: warning: rows are not all exactly {cfg['seq_len']} tokens; ours' tokens/step is the mean",
              flush=True)
    warm_cache(model)

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    run_root = work / "runs" / f"{a.size}-{stamp}"
    load_before = os.getloadavg()
    print(f"run.py: {a.size}, {a.steps} steps × {cfg['batch_size']} rows × {cfg['grad_accum']} accum × "
          f"{cfg['seq_len']} tokens, {a.rounds} rounds, runs in {run_root}", flush=True)
    ours, plain = [], []
    variants = [v for v in a.variants.split(",") if v]
    for v in variants:
        if v not in OURS_VARIANTS:
            raise SystemExit(f"run.py: unknown variant {v!r} (known: {', '.join(OURS_VARIANTS)})")
    extra_runs: dict[str, list[dict]] = {v: [] for v in variants}
    for i in range(1, a.rounds + 1):
        for v in variants:
            r = run_ours(a, model, data, run_root / f"{v}-{i}", cfg, env, tokens_per_step, OURS_VARIANTS[v], f"ours-{v}")
            extra_runs[v].append(r)
            print(f"  round {i} ours-{v}: first step {r['first_step_seconds']:.1f} s, step "
                  f"{statistics.median(r['intervals'])*1000:.1f} ms, peak "
                  f"{mib(r['peak_gpu_allocated_bytes'] or r['peak_rss_bytes'])}, loss {r['loss']}", flush=True)
        if a.only != "plain":
            r = run_ours(a, model, data, run_root / f"ours-{i}", cfg, env, tokens_per_step)
            ours.append(r)
            print(f"  round {i} ours : first step {r['first_step_seconds']:.1f} s, step "
                  f"{statistics.median(r['intervals'])*1000:.1f} ms, peak "
                  f"{mib(r['peak_gpu_allocated_bytes'] or r['peak_rss_bytes'])}", flush=True)
        if a.only != "ours":
            r = run_plain(a, model, data, run_root / f"plain-{i}", cfg, env, check_labels=8 if i == 1 else 0)
            plain.append(r)
            print(f"  round {i} plain: first step {r['first_step_seconds']:.1f} s, step "
                  f"{statistics.median(r['intervals'])*1000:.1f} ms, peak "
                  f"{mib(r['peak_gpu_allocated_bytes'] or r['peak_rss_bytes'])}"
                  + (f", labels {r['label_check']}" if r.get("label_check") else ""), flush=True)
    load_after = os.getloadavg()

    first = (ours or plain)[0]
    result = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "device": first["device"],
        "host": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "machine": platform.machine(),
                 "loadavg_before": load_before, "loadavg_after": load_after},
        "versions": first.get("versions"),
        "size": a.size, "steps": a.steps, "rounds": a.rounds, "warmup_steps_excluded": a.warmup_steps,
        "config": {**cfg, "examples": n_examples, "tokens_per_step": tokens_per_step, "lora": LORA, "lr": LR,
                   "seed": SEED, "rows_exact_length": meta.get("exact")},
        "model": str(model), "data": str(data), "build_seconds": round(build_seconds, 1),
        "commit": git_commit(),
        "ours": {"summary": summarize(ours) if ours else None, "runs": ours},
        "plain": {"summary": summarize(plain) if plain else None, "runs": plain},
        "variants": {v: {"hyperparameters": OURS_VARIANTS[v], "summary": summarize(rs), "runs": rs}
                     for v, rs in extra_runs.items()},
    }
    if ours:
        so = [x for r in ours for x in r["self_reported_tps"][a.warmup_steps:]]
        result["ours"]["summary"]["self_reported_tps_median"] = statistics.median(so) if so else None
    out_dir = Path(a.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"trainer-{a.size}-{stamp}.json"
    out.write_text(json.dumps(result, indent=1))

    print()
    print(f"Trainer benchmark — {a.size} model ({first.get('trainable_parameters'):,} trainable LoRA params), "
          f"device {first['device']}, bf16 {first['bf16']}, {result['date_utc']}")
    print(f"{a.steps} steps × {cfg['batch_size']} rows × {cfg['grad_accum']} accum × {cfg['seq_len']} tokens "
          f"= {tokens_per_step:,.0f} tokens/step; {a.rounds} runs each, alternating; first {a.warmup_steps} steps "
          f"left out of step time; versions {result['versions']}; load avg {load_before[0]:.1f} → {load_after[0]:.1f}")
    print()
    if ours and plain:
        so, sp = result["ours"]["summary"], result["plain"]["summary"]
        print(table(so, sp))
        print()
        print(f"ours self-reported tokens/s (step event), median: {so['self_reported_tps_median']:,.0f}")
        ok_tps = so["tps_median"] >= sp["tps_median"]
        ok_mem = so["peak_memory_bytes"] <= sp["peak_memory_bytes"]
        ok_first = so["first_step_seconds_median"] < 15
        print(f"targets: tokens/s ≥ plain: {'yes' if ok_tps else 'NO'}; memory ≤ plain: {'yes' if ok_mem else 'NO'}; "
              f"first step < 15 s: {'yes' if ok_first else 'NO'}"
              + ("" if a.size == "1b" else " (the 15 s target is for the 1b model)"))
        plain_tps = {t for r in plain for t in r["tokens"]}
        if plain_tps != {tokens_per_step}:
            print(f"warning: plain steps had {sorted(plain_tps)} tokens, ours is counted as {tokens_per_step:,.0f}")
        if plain[0].get("label_check"):
            print(f"labels, plain vs lora_queue_trainer.masking: {plain[0]['label_check']}")
    for v, rs in extra_runs.items():
        if rs and plain:
            print()
            print(f"ours-{v} ({OURS_VARIANTS[v]}; loss used: {rs[0]['loss']}, attention {rs[0]['attention']}) against plain:")
            print(table(summarize(rs), result["plain"]["summary"]))
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
