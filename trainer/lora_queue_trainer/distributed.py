"""Data-parallel training when a launcher started the trainer.

``torchrun --nproc_per_node N -m lora_queue_trainer --job …`` and ``accelerate launch
--multi_gpu --num_processes N -m lora_queue_trainer --job …`` start N copies of the trainer with
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` (and a rendezvous address) in their environment. The
copies form one process group: NCCL on CUDA (rank r on ``cuda:LOCAL_RANK``), gloo on the CPU.

Why not ``DistributedDataParallel``: the only trained parameters are the LoRA matrices (a few MB),
and what matters is that the loss of a step is normalised by the trained tokens of the *whole*
global batch, also when the ranks' shares are uneven (the last step of an epoch may give a rank
nothing at all). So each rank back-propagates its rows' summed loss divided by the global count of
trained tokens (every rank knows it: every rank holds the whole tokenised dataset), and one
all-reduce (sum) of one flat buffer per optimizer step carries every gradient plus the step's loss
and the flags that must be agreed on (a stop request, a NaN, an OOM). The gradient is then exactly
the one-process gradient of the same global batch. DDP's bucketing and overlap pay off for full
fine-tuning of billions of parameters; for LoRA they buy nothing and would need ``join()`` for the
uneven last batch. docs/trainer.md ("Several GPUs") has the figures and the contract.
"""

from __future__ import annotations

import datetime
import re
import os
from typing import Any, Optional

# How long a collective waits for a rank before failing (a rank that stopped answering without
# dying: torchrun already ends the run when a worker dies). Long enough for a rank that is still
# loading a large model from a slow disk, and below the engine's default hang timeout (900 s), since
# rank 0's heartbeats go on while it waits. torch's own default for NCCL is the same 10 minutes.
DEFAULT_TIMEOUT_SECONDS = 600


class RankLost(RuntimeError):
    """A collective failed: another process of the run died or stopped answering."""


def _env_int(name: str) -> Optional[int]:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        return None


class Dist:
    """The process group of a launched run, or a single process (``enabled`` False)."""

    def __init__(self, world_size: int = 1, rank: int = 0, local_rank: int = 0):
        self.world_size = world_size
        self.rank = rank
        self.local_rank = local_rank
        self.backend: Optional[str] = None
        self._device = None

    @classmethod
    def from_env(cls) -> "Dist":
        world = _env_int("WORLD_SIZE") or 1
        rank = _env_int("RANK") or 0
        local = _env_int("LOCAL_RANK")
        return cls(world, rank, rank if local is None else local)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def init(self, device) -> None:
        """Joins the process group; ``device`` is this rank's (cuda:LOCAL_RANK or cpu)."""
        if not self.enabled:
            return
        import torch.distributed as tdist

        self.backend = "nccl" if device.type == "cuda" else "gloo"
        self._device = device
        timeout = datetime.timedelta(seconds=_env_int("LORA_QUEUE_DIST_TIMEOUT") or DEFAULT_TIMEOUT_SECONDS)
        kwargs: dict[str, Any] = {"backend": self.backend, "timeout": timeout}
        if device.type == "cuda":
            kwargs["device_id"] = device
        tdist.init_process_group(**kwargs)

    def finish(self) -> None:
        """At the end of a run that went well: wait for every rank before the group is torn down.
        A rank that destroys the group while another still works (rank 0 writing the adapter)
        can make gloo abort the process (seen: SIGABRT, "terminate called without an active
        exception", after `done`), and the launcher then reports the whole run failed. A failure
        here is not the run's: its work is saved."""
        try:
            self.barrier()
        except RankLost as e:
            print(f"[rank {self.rank}] note: {e}", flush=True)

    def close(self) -> None:
        if not self.enabled:
            return
        import torch.distributed as tdist

        if tdist.is_initialized():
            try:
                tdist.destroy_process_group()
            except Exception:
                pass

    def _collective(self, what: str, fn):
        try:
            return fn()
        except RuntimeError as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            first = re.sub(r"^\[[^\]]*\.(?:cc|cpp|h):\d+\] ", "", first)  # gloo's source location
            raise RankLost(f"lost contact with another process of the run during {what} "
                           f"(a rank died or stopped answering): {first}") from None

    def all_reduce_sum_(self, tensor) -> None:
        if not self.enabled:
            return
        import torch.distributed as tdist

        self._collective("a gradient all-reduce", lambda: tdist.all_reduce(tensor, op=tdist.ReduceOp.SUM))

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any rank (a collective: every rank must call it)."""
        if not self.enabled:
            return bool(flag)
        import torch

        t = torch.tensor([1.0 if flag else 0.0], device=self._device)
        self.all_reduce_sum_(t)
        return bool(t.item() > 0)

    def gather(self, obj: Any) -> list:
        if not self.enabled:
            return [obj]
        import torch.distributed as tdist

        out: list = [None] * self.world_size
        self._collective("an exchange of results", lambda: tdist.all_gather_object(out, obj))
        return out

    def broadcast_(self, tensors) -> None:
        """Rank 0's values for every tensor, on every rank (the LoRA weights before training)."""
        if not self.enabled:
            return
        import torch.distributed as tdist

        for t in tensors:
            self._collective("the broadcast of the initial weights", lambda t=t: tdist.broadcast(t.data, src=0))

    def barrier(self) -> None:
        if not self.enabled:
            return
        import torch.distributed as tdist

        self._collective("a barrier", lambda: tdist.barrier())


class NullEvents:
    """What ranks other than 0 write to events.jsonl: nothing (rank 0 is the one writer)."""

    status: dict[str, Any] = {}

    def emit(self, type_: str, **fields: Any) -> dict[str, Any]:
        return {"type": type_, **fields}

    def start_heartbeat(self) -> None:
        pass

    def close(self) -> None:
        pass


def shard(rows: list, rank: int, world_size: int, batch_size: int) -> list:
    """Rank ``rank``'s rows of one global micro-batch of ``batch_size × world_size`` rows: a
    contiguous slice, so with one process this is the whole micro-batch, and two processes with
    batch 1 see exactly the rows one process with batch 2 sees. Rows never repeat across ranks; a
    short last micro-batch may leave a rank nothing (it then contributes a zero gradient)."""
    return rows[rank * batch_size:(rank + 1) * batch_size]
