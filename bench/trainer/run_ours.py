#!/usr/bin/env python3
"""`python -m lora_queue_trainer --job JOB` plus a peak-memory report at exit.

    python bench/trainer/run_ours.py --job job.json --stats stats.json

Calls `lora_queue_trainer.train.main(["--job", JOB])` exactly as
`python -m lora_queue_trainer` does (so start-up, imports and the training loop
are the trainer's own), then writes the peak GPU memory
(`torch.cuda.max_memory_allocated` / `max_memory_reserved`, the same counters
the baseline reports) and the peak RSS of the process to STATS. Nothing is
imported before the trainer runs, so the time to the first step is unchanged.
"""

from __future__ import annotations

import json
import resource
import sys
import time

PROCESS_T0 = time.time()


def main() -> int:
    argv = sys.argv[1:]
    stats_path = None
    if "--stats" in argv:
        i = argv.index("--stats")
        stats_path = argv[i + 1]
        del argv[i:i + 2]
    from lora_queue_trainer.train import main as trainer_main

    rc = trainer_main(argv)
    if stats_path:
        stats = {"trainer": "lora_queue_trainer", "process_t0": PROCESS_T0, "exit_code": rc,
                 "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                 "peak_gpu_allocated_bytes": None, "peak_gpu_reserved_bytes": None}
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            stats["peak_gpu_allocated_bytes"] = torch.cuda.max_memory_allocated()
            stats["peak_gpu_reserved_bytes"] = torch.cuda.max_memory_reserved()
        if torch is not None:
            import peft
            import transformers

            stats["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__,
                                 "peft": peft.__version__, "python": sys.version.split()[0]}
        with open(stats_path, "w") as fh:
            json.dump(stats, fh, indent=1)
    return rc


if __name__ == "__main__":
    sys.exit(main())
