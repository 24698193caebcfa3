"""Reference LoRA trainer for LoRA Queue.

Entry points:
    python -m lora_queue_trainer --job job.json
    python -m lora_queue_trainer.merge --base BASE --adapter ADAPTER --out OUT

See docs/trainer.md for the job format, events protocol and checkpoint layout.
"""

__version__ = "0.1.0"
