"""python -m lora_queue_trainer --job <job.json>  (see train.py / docs/trainer.md)"""

import sys

from .train import main

if __name__ == "__main__":
    sys.exit(main())
