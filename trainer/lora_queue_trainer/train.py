"""The LoRA Queue reference trainer.

Command lines (cwd is the queue root):

    python -m lora_queue_trainer --job runs/<run_id>/job.json
    torchrun --standalone --nproc_per_node N -m lora_queue_trainer --job runs/<run_id>/job.json
    python -m lora_queue_trainer.merge --base BASE --adapter ADAPTER --out OUT

The job file, the events protocol, hyperparameters, checkpoint layout, signals
(SIGTERM / SIGUSR1: finish the step, checkpoint, ``done`` stopped:true, exit 0;
SIGUSR2: checkpoint after the step and train on, Slurm's time-limit warning)
and error kinds are described in docs/trainer.md.

Exit codes: 0 done (also when stopped by a signal), 1 other, 2 config, 3 data,
4 nan_loss, 5 gpu_unavailable, 6 cuda_oom.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from .config import ConfigError, Hyperparameters, Job, events_path_from_job_file, load_job
from .data import DataError
from .distributed import Dist, NullEvents, RankLost, shard
from .events import EventWriter
from .masking import IGNORE_INDEX, TemplateError

EXIT_CODES = {"other": 1, "config": 2, "data": 3, "nan_loss": 4, "gpu_unavailable": 5, "cuda_oom": 6}

STATE_JSON = "trainer_state.json"
STATE_PT = "trainer_state.pt"


class TrainerFailure(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass
class CliArgs:
    job: str


class StopRequest:
    """Set from a signal handler; the loop checks it at step boundaries so a
    step is never cut in half (which would lose the gradient work and make the
    checkpoint inconsistent with the optimizer state)."""

    def __init__(self) -> None:
        self.signal_name: Optional[str] = None
        # SIGUSR2, "checkpoint now": Slurm's warning before a job's time limit (docs/slurm.md).
        # Not a stop: the run trains on, and resumes from this checkpoint if the limit ends it.
        self.checkpoint_requested = False

    def __bool__(self) -> bool:
        return self.signal_name is not None

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGUSR1):
            signal.signal(sig, self._handler)
        signal.signal(signal.SIGUSR2, self._checkpoint_handler)

    def _checkpoint_handler(self, _signum, _frame) -> None:
        self.checkpoint_requested = True
        print("received SIGUSR2: will checkpoint after the current step and train on", flush=True)

    def _handler(self, signum, _frame) -> None:
        self.request(signal.Signals(signum).name)

    def request(self, name: str) -> None:
        """A stop asked for by signal ``name`` (a resident process gets it as a message, resident.py)."""
        if self.signal_name is None:
            self.signal_name = name
            print(f"received {self.signal_name}: will checkpoint after the current step and stop", flush=True)


def parse_args(argv: Optional[list[str]]) -> CliArgs:
    p = argparse.ArgumentParser(prog="python -m lora_queue_trainer", description="LoRA Queue reference trainer")
    p.add_argument("--job", required=True, help="path of job.json")
    ns = p.parse_args(argv)
    return CliArgs(job=ns.job)


def format_lr(lr: float) -> str:
    mantissa, exp = f"{lr:.1e}".split("e")
    return f"{mantissa}e{int(exp)}"


def offline_env() -> None:
    # Never reach for a hub: base_model is a local folder and runs are unattended.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--resident":
        # A process that stays loaded between runs (trainer.resident; resident.py, docs/trainer.md).
        from .resident import main as resident_main

        return resident_main(argv[1:])
    args = parse_args(argv)
    offline_env()
    stop = StopRequest()
    stop.install()
    # Under a launcher (torchrun, accelerate launch) every process runs this; rank 0 alone writes
    # events.jsonl, checkpoints and the adapter (distributed.py).
    return run_job(args.job, stop, Dist.from_env())


def run_job(job_file: str, stop: "StopRequest", dist: Dist, models: Optional["ModelCache"] = None) -> int:
    """One job, start to end: its events, its exit code. ``models``: the resident process's loaded
    base model and tokenizer (resident.py); a cold run loads its own."""
    events_path = events_path_from_job_file(job_file)
    events = (EventWriter(events_path) if dist.is_main else NullEvents()) if events_path else None
    job: Optional[Job] = None
    trainer: Optional[Trainer] = None
    ok = False
    try:
        if events is not None:
            events.status = {"phase": "starting"}
            events.emit("heartbeat", phase="starting")
            events.start_heartbeat()
        job = load_job(job_file)
        assert events is not None
        trainer = Trainer(job, events, stop, dist, models)
        trainer.run()
        dist.finish()
        ok = True
        return 0
    except Exception as exc:  # every failure becomes one named error event
        kind, message = classify(exc, job.hyperparameters if job else None)
        # A config or data error leaves the loaded model as it was; anything else may not have.
        ok = kind in ("config", "data")
        if kind == "other" and not isinstance(exc, (RankLost, TrainerFailure)):
            traceback.print_exc(file=sys.stderr)
        prefix = f"[rank {dist.rank}] " if dist.enabled else ""
        print(f"{prefix}error {kind}: {message}", file=sys.stderr, flush=True)
        if events is not None:
            events.emit("error", kind=kind, message=message)
        return EXIT_CODES[kind]
    finally:
        if models is not None:
            # Restored by the resident process once it has answered (resident.py), so the engine's
            # settling of this run and the clean-up overlap.
            models.pending = (trainer.model if trainer is not None else None, ok and not (job and job.hyperparameters.compile))
        if events is not None:
            events.close()
        dist.close()


class ModelCache:
    """The base model and tokenizer a job trains on. A cold run (``keep=False``) loads them for
    itself. A resident process (``keep=True``) keeps them between jobs: each job wraps the same
    base model in a fresh LoRA adapter, and ``release`` takes the adapter's layers out again
    (PEFT injects them into the base model in place), so the next job starts from the same
    weights and the same module tree as a cold run."""

    def __init__(self, keep: bool = False):
        self.keep = keep
        self.model = None
        self.warm = False  # the base model was already loaded (a resident process, resident.py)
        self.model_key: Optional[tuple] = None
        self.tok = None
        self.tok_key: Optional[str] = None
        self.loads = 0  # base model loads, for the log and the tests
        self.load_seconds = 0.0
        self.pending: Optional[tuple] = None  # (the job's PEFT model, reusable): for release_pending

    def release_pending(self) -> None:
        if self.pending is not None:
            peft_model, reusable = self.pending
            self.pending = None
            self.release(peft_model, reusable)

    def tokenizer(self, path: str):
        if self.tok is not None and self.tok_key == path:
            return self.tok
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        if self.keep:
            self.tok, self.tok_key = tok, path
        return tok

    def base_model(self, path: str, dtype, attention: Optional[str], device):
        key = (path, str(dtype), attention, str(device))
        if self.model is not None and self.model_key == key:
            return self.model, True
        self.drop()
        from transformers import AutoModelForCausalLM

        t = time.time()
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True,
                                                     **({"attn_implementation": attention} if attention else {}))
        model.config.use_cache = False  # caching is for generation; it only costs memory here
        model.to(device)
        self.loads += 1
        self.load_seconds += time.time() - t
        if self.keep:
            self.model, self.model_key = model, key
        return model, False

    def release(self, peft_model, reusable: bool) -> None:
        """After a job: the LoRA layers out of the base model, gradient checkpointing and the input
        hook off; the model dropped instead when the job may have left it in another state (a
        crash, a compiled forward)."""
        if not self.keep or self.model is None:
            return
        if not reusable:
            self.drop()
            return
        try:
            if peft_model is not None:
                from peft import PeftModel

                if isinstance(peft_model, PeftModel):
                    peft_model.unload()
            base = self.model
            if getattr(base, "is_gradient_checkpointing", False):
                base.gradient_checkpointing_disable()
            if hasattr(base, "_require_grads_hook"):
                base.disable_input_require_grads()
            base.zero_grad(set_to_none=True)
            if hasattr(base, "peft_config"):
                del base.peft_config
            base._hf_peft_config_loaded = False
        except Exception as e:  # an adapter that will not come out: load afresh next time
            print(f"resident: the base model could not be restored ({type(e).__name__}: {e}); it is loaded again for the next job",
                  flush=True)
            self.drop()
        self.free()

    def drop(self) -> None:
        self.model, self.model_key = None, None
        if "torch._dynamo" in sys.modules:
            # A compiled forward (hyperparameters.compile) keeps its graphs and guards in dynamo's caches.
            import torch._dynamo

            torch._dynamo.reset()
        self.free()

    @staticmethod
    def free() -> None:
        import gc

        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:
            pass


def classify(exc: BaseException, hp: Optional[Hyperparameters] = None) -> tuple[str, str]:
    if isinstance(exc, TrainerFailure):
        return exc.kind, str(exc)
    if isinstance(exc, RankLost):
        return "other", str(exc)
    if isinstance(exc, (ConfigError, TemplateError)):
        return "config", str(exc)
    if isinstance(exc, DataError):
        return "data", str(exc)
    if type(exc).__name__ == "OutOfMemoryError" or "CUDA out of memory" in str(exc):
        # OOM outside a training step (model load, eval): still name the knobs.
        first = str(exc).splitlines()[0] if str(exc) else "CUDA out of memory"
        if hp is not None:
            first = f"CUDA out of memory with batchSize={hp.batchSize}, maxSeqLength={hp.maxSeqLength}: {first}"
        return "cuda_oom", first
    return "other", f"{type(exc).__name__}: {exc}"


class Trainer:
    def __init__(self, job: Job, events, stop: StopRequest, dist: Optional[Dist] = None,
                 models: Optional[ModelCache] = None):
        self.job = job
        self.models = models or ModelCache()
        self.model = None
        self.warm = False  # the base model was already loaded (a resident process, resident.py)
        self.hp: Hyperparameters = job.hyperparameters
        self.events = events
        self.stop = stop
        self.dist = dist or Dist()
        self.stop_agreed = False  # with several processes: a stop request seen by any rank this step
        self.checkpoint_agreed = False  # likewise for a checkpoint request (SIGUSR2)
        # Tokens processed by this run (not by the run it resumed from): the usage ledger's count.
        self.tokens_seen = 0

    # ------------------------------------------------------------------ setup
    def _phase(self, phase: str, **extra: Any) -> None:
        self.events.status = {"phase": phase, **extra}

    def _check_paths(self) -> None:
        job = self.job
        if not os.path.isdir(job.base_model) or not os.path.isfile(os.path.join(job.base_model, "config.json")):
            raise ConfigError(f"base_model {job.base_model!r} is not a local model folder (no config.json)")
        if not os.path.isfile(job.dataset):
            raise ConfigError(f"dataset {job.dataset!r} does not exist")
        for key in ("init_adapter", "resume_from"):
            path = getattr(job, key)
            if path and not os.path.isfile(os.path.join(path, "adapter_config.json")):
                raise ConfigError(f"{key} {path!r} is not a PEFT adapter folder (no adapter_config.json)")
        if job.resume_from and not os.path.isfile(os.path.join(job.resume_from, STATE_PT)):
            raise ConfigError(f"resume_from {job.resume_from!r} has no {STATE_PT}")

    @staticmethod
    def _chat_template(tokenizer, spec: Optional[str]) -> Optional[str]:
        """hyperparameters.chatTemplate (config trainingChatTemplate): the text of
        a .jinja file (absolute path, resolved by the engine) or of one of the
        model's named template variants; None for the model's own template."""
        if spec is None:
            return None
        if os.path.isabs(spec):
            try:
                with open(spec, encoding="utf-8") as fh:
                    return fh.read()
            except OSError as e:
                raise ConfigError(f"hyperparameters.chatTemplate {spec!r} cannot be read: {e.strerror}") from None
        named = tokenizer.chat_template if isinstance(tokenizer.chat_template, dict) else {}
        if spec not in named:
            raise ConfigError(f"hyperparameters.chatTemplate {spec!r}: the base model has no chat template of that "
                              f"name (it has {', '.join(named) or 'only its default'})")
        return named[spec]

    def _pick_device(self):
        import torch

        if torch.cuda.is_available():
            # Under a launcher each process takes the GPU of its local rank.
            index = self.dist.local_rank if self.dist.enabled else 0
            if index >= torch.cuda.device_count():
                raise TrainerFailure("gpu_unavailable", f"local rank {index} has no GPU: torch sees "
                                     f"{torch.cuda.device_count()} (check CUDA_VISIBLE_DEVICES and --nproc_per_node)")
            torch.cuda.set_device(index)
            device = torch.device("cuda", index)
        else:
            if self.hp.requireGpu:
                raise TrainerFailure("gpu_unavailable", "requireGpu is true but torch sees no usable CUDA device "
                                     f"(torch {torch.__version__}, CUDA build {torch.version.cuda})")
            device = torch.device("cpu")
        bf16 = self.hp.bf16
        if bf16 == "auto":
            # On CPUs bf16 matmuls are often slower than fp32 and less exact; only
            # use it automatically where the GPU supports it natively.
            bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        elif bf16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError("hyperparameters.bf16 is true but this GPU does not support bfloat16")
        return device, bool(bf16)

    def run(self) -> None:
        hp, job = self.hp, self.job
        t0 = time.time()
        self._check_paths()
        from .data import batches_per_epoch, load_conversations, pack_examples, tokenize_conversations

        # Validate every line before the slow imports and model load, so a bad
        # dataset fails in well under a second with its line number.
        self._phase("reading_dataset")
        conversations = load_conversations(job.dataset)
        import torch

        random.seed(hp.seed)
        torch.manual_seed(hp.seed)
        device, use_bf16 = self._pick_device()
        self.device, self.use_bf16 = device, use_bf16
        self.dist.init(device)

        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # progress bars only clutter trainer.log

        self._phase("loading_tokenizer")
        tokenizer = self.models.tokenizer(job.base_model)
        chat_template = self._chat_template(tokenizer, hp.chatTemplate)
        if chat_template is None and not getattr(tokenizer, "chat_template", None):
            raise ConfigError(f"base_model {job.base_model!r} tokenizer has no chat_template")
        self.pad_id = next(x for x in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0) if x is not None)

        self._phase("tokenizing")
        examples, skipped = tokenize_conversations(
            tokenizer, conversations, hp.maxSeqLength,
            progress=lambda i, n: self._phase("tokenizing", done=i, total=n),
            chat_template=chat_template, history_rewriting=hp.historyRewriting,
        )
        if skipped:
            print(f"skipped {skipped} conversation(s) with no trained tokens", flush=True)
        if not examples:
            raise DataError("no conversation has a trained token (an assistant message with weight 1 "
                            f"within maxSeqLength={hp.maxSeqLength})")
        train, evals = self._split(examples)
        if hp.packing:
            train = pack_examples(train, hp.maxSeqLength)
        if self.dist.any(bool(self.stop)):
            return self._stop_before_training()
        self.train_set, self.eval_set = train, evals
        # One optimizer step takes batchSize × gradientAccumulation × world size rows of the
        # epoch's order (the global batch); each process trains its share of them.
        self.rows_per_step = hp.batchSize * hp.gradientAccumulation * self.dist.world_size
        self.nb = batches_per_epoch(len(train), hp.batchSize * self.dist.world_size)
        self.steps_per_epoch = math.ceil(self.nb / hp.gradientAccumulation)
        self.total_steps = self._total_steps(0, 0, 0)

        self._phase("loading_model")
        dtype = torch.bfloat16 if use_bf16 else torch.float32
        self.attention = self._attention_implementation()
        model, self.warm = self.models.base_model(job.base_model, dtype, self.attention, device)
        self.attention = getattr(model.config, "_attn_implementation", None) or self.attention
        # Seeded again once the model is there, so the adapter's initialisation and the dropout draw
        # the same numbers whether the model was just loaded (which may draw some) or kept loaded
        # by a resident process from an earlier job.
        random.seed(hp.seed)
        torch.manual_seed(hp.seed)
        if hp.gradientCheckpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.model = self._wrap_peft(model)
        self.model.train()
        from .loss import resolve_mode

        self.loss_mode, note = resolve_mode(hp.loss, self.model, device.type)
        if note:
            self._say(f"note: {note}")
        if hp.compile:
            # The decoder's forward compiled in place (nn.Module.compile): the PEFT wrapper, its
            # save_pretrained and the loss stay as they are. Shapes vary with the batch: dynamic.
            self.model.get_base_model().get_decoder().compile(dynamic=True)

        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ConfigError("no trainable parameters: check hyperparameters.targetModules")
        self.params = params
        if self.dist.enabled:
            # Every rank starts from rank 0's weights (the same seed gives the same LoRA init, but a
            # launcher's ranks need not share one library build), then draws its own dropout.
            self._phase("waiting_for_ranks")
            self.dist.broadcast_(params)
            if self.dist.rank > 0:
                torch.manual_seed(hp.seed + 1000003 * self.dist.rank)
        self.optimizer = torch.optim.AdamW(params, lr=hp.learningRate, weight_decay=hp.weightDecay)
        from transformers import get_scheduler

        self.step, self.epoch, self.pos = 0, 0, 0  # pos: rows of this epoch's order already trained
        self.last_loss: Optional[float] = None
        saved = self._read_checkpoint(job.resume_from) if job.resume_from else None
        if saved is not None:
            # Before the scheduler exists: its schedule spans the steps the run will really take.
            self.total_steps = self._total_steps(self.step, self.epoch, self.pos)
        self.scheduler = get_scheduler(hp.lrScheduler, self.optimizer, num_warmup_steps=hp.warmupSteps,
                                       num_training_steps=self.total_steps)
        if saved is not None:
            self._restore(job.resume_from, saved)

        n_trainable = sum(p.numel() for p in params)
        self.events.emit(
            "start", total_steps=self.total_steps, world_size=self.dist.world_size, device=self._device_name(),
            run_id=job.run_id, resumed_from_step=self.step if job.resume_from else None,
            train_examples=len(train), eval_examples=len(evals), trainable_parameters=n_trainable,
            bf16=use_bf16, setup_seconds=round(time.time() - t0, 3), loss=self.loss_mode, warm=self.warm,
            attention=self.attention, packing=hp.packing, compiled=hp.compile,
        )
        self._say(f"start: {len(train)} train rows, {len(evals)} eval, {self.total_steps} steps, "
                  f"device {self._device_name()}, bf16 {use_bf16}, trainable params {n_trainable}")
        self._train_loop()

    def _say(self, line: str) -> None:
        """A trainer.log line: every process of a launched run shares the log, rank 0 speaks for them."""
        if self.dist.is_main:
            print(line, flush=True)

    def _total_steps(self, step: int, epoch: int, pos: int) -> int:
        """Optimizer steps of the whole run, counted from step ``step`` at row ``pos`` of epoch
        ``epoch``. From the start it is ceil(epochs × steps per epoch); a checkpoint written with
        another global batch (another number of processes) is continued with the steps its
        remaining rows take now."""
        hp = self.hp
        n = len(self.train_set)
        total = math.ceil(hp.epochs * self.steps_per_epoch)
        if step:
            done = epoch * self.steps_per_epoch + pos / self.rows_per_step
            if abs(done - step) > 1e-9:
                total = step + max(1, math.ceil(hp.epochs * self.steps_per_epoch - done - 1e-9))
            if pos >= n:
                total = max(total, step)
        if hp.maxSteps is not None:
            total = min(total, hp.maxSteps)
        return max(1, total)

    def _attention_implementation(self) -> Optional[str]:
        """flash-attention 2 for packed rows on CUDA where it is installed (variable-length kernels:
        no padding, no mask), else transformers' default (SDPA), which gets a block-diagonal mask."""
        if not (self.hp.packing and self.device.type == "cuda"):
            return None
        try:
            import flash_attn  # noqa: F401
        except Exception:
            return None
        return "flash_attention_2"

    def _device_name(self) -> str:
        import torch

        w = self.dist.world_size
        if self.device.type == "cuda":
            name = f"cuda:{self.device.index} ({torch.cuda.get_device_name(self.device)})"
            return name if w == 1 else f"{w} × cuda, rank 0 on {name}, {self.dist.backend}"
        return "cpu" if w == 1 else f"{w} × cpu, {self.dist.backend}"

    def _split(self, examples):
        hp = self.hp
        if hp.evalSplit <= 0 or len(examples) < 2:
            return examples, []
        import torch

        g = torch.Generator()
        g.manual_seed(hp.seed)
        order = torch.randperm(len(examples), generator=g).tolist()
        n_eval = min(len(examples) - 1, max(1, round(len(examples) * hp.evalSplit)))
        eval_idx = set(order[:n_eval])
        train = [e for i, e in enumerate(examples) if i not in eval_idx]
        evals = [e for i, e in enumerate(examples) if i in eval_idx]
        return train, evals

    def _wrap_peft(self, model):
        from peft import LoraConfig, PeftModel, get_peft_model

        hp, job = self.hp, self.job
        source = job.resume_from or job.init_adapter
        if source:
            # Continue the given adapter as it is: its own rank/alpha/targets win
            # over the hyperparameters, and its weights are not re-initialised.
            with open(os.path.join(source, "adapter_config.json")) as fh:
                acfg = json.load(fh)
            if acfg.get("r") != hp.loraRank:
                print(f"note: continuing adapter {source} with its rank {acfg.get('r')} "
                      f"(hyperparameters.loraRank={hp.loraRank} ignored)", flush=True)
            return PeftModel.from_pretrained(model, source, is_trainable=True)
        cfg = LoraConfig(
            r=hp.loraRank, lora_alpha=hp.loraAlpha, lora_dropout=hp.loraDropout,
            target_modules=hp.targetModules, task_type="CAUSAL_LM", bias="none",
        )
        try:
            return get_peft_model(model, cfg)
        except ValueError as e:
            raise ConfigError(f"hyperparameters.targetModules: {e}") from None

    # ------------------------------------------------------------ checkpoints
    def _rng_state(self) -> dict:
        import torch

        state = {"python": random.getstate(), "torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def _read_checkpoint(self, path: str) -> dict:
        """A checkpoint's state, and the run's position taken from it."""
        import torch

        # weights_only: the state holds only tensors and plain containers, so a
        # tampered checkpoint cannot run code through pickle.
        st = torch.load(os.path.join(path, STATE_PT), map_location="cpu", weights_only=True)
        self.step, self.epoch = st["step"], st["epoch"]
        # Rows of the epoch's order trained; checkpoints from before several processes counted
        # micro-batches of one process instead.
        self.pos = st["rows_in_epoch"] if "rows_in_epoch" in st else st["batch_in_epoch"] * self.hp.batchSize
        self.last_loss = st.get("last_loss")
        return st

    def _restore(self, path: str, st: dict) -> None:
        import torch

        self.optimizer.load_state_dict(st["optimizer"])
        self.scheduler.load_state_dict(st["scheduler"])
        rng = st["rng"]
        random.setstate(rng["python"])
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and self.device.type == "cuda" and not self.dist.enabled:
            torch.cuda.set_rng_state_all(rng["cuda"])
        if self.dist.enabled and self.dist.rank > 0:
            # The checkpoint holds rank 0's generator; the other ranks draw their own dropout.
            torch.manual_seed(self.hp.seed + 1000003 * self.dist.rank + self.step)
        if st.get("train_rows") != len(self.train_set):
            self._say(f"warning: checkpoint saw {st.get('train_rows')} training rows, dataset now has "
                      f"{len(self.train_set)}; the data position is kept as is")
        saved_world = st.get("world_size", 1)
        if saved_world != self.dist.world_size:
            self._say(f"note: checkpoint written by {saved_world} process(es), resumed on {self.dist.world_size}: "
                      f"{self.total_steps - self.step} more step(s) of {self.rows_per_step} rows")
        self._say(f"resumed from {path} at step {self.step} (epoch {self.epoch}, row {self.pos})")

    def _save_checkpoint(self) -> str:
        import torch

        from .fsutil import publish_dir, temp_sibling

        root = Path(self.job.checkpoint_root)
        final = root / f"step-{self.step}"
        if not self.dist.is_main:
            return str(final.resolve())  # rank 0 writes it: every rank holds the same weights
        tmp = temp_sibling(final)
        self.model.save_pretrained(tmp)
        state = {
            "step": self.step, "epoch": self.epoch, "rows_in_epoch": self.pos,
            "batch_in_epoch": self.pos // self.hp.batchSize, "world_size": self.dist.world_size,
            "total_steps": self.total_steps, "train_rows": len(self.train_set),
            "last_loss": self.last_loss, "run_id": self.job.run_id,
        }
        torch.save({**state, "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                    "rng": self._rng_state()}, tmp / STATE_PT)
        (tmp / STATE_JSON).write_text(json.dumps({**state, "hyperparameters": asdict(self.hp)}, indent=2))
        publish_dir(tmp, final)
        self.events.emit("checkpoint", step=self.step, path=str(final.resolve()))
        self._say(f"checkpoint step {self.step}: {final}")
        self._prune(root, keep=final)
        return str(final.resolve())

    def _prune(self, root: Path, keep: Path) -> None:
        if self.hp.keepCheckpoints <= 0:
            return
        found = []
        for d in root.iterdir():
            m = re.fullmatch(r"step-(\d+)", d.name)
            if m and d.is_dir():
                found.append((int(m.group(1)), d))
        found.sort()
        for _n, d in found[: max(0, len(found) - self.hp.keepCheckpoints)]:
            if d != keep:
                shutil.rmtree(d, ignore_errors=True)

    def _save_final(self) -> str:
        from .fsutil import publish_dir, temp_sibling

        out = Path(self.job.output_dir)
        if not self.dist.is_main:
            return str(out.resolve())
        tmp = temp_sibling(out)
        self.model.save_pretrained(tmp)
        publish_dir(tmp, out)
        return str(out.resolve())

    # ------------------------------------------------------------- training
    def _batch(self, rows):
        from .data import collate

        ids, labels, attn, pos = collate(rows, self.pad_id)
        to = lambda t: None if t is None else t.to(self.device)  # noqa: E731
        return to(ids), to(labels), to(attn), to(pos)

    def _loss_sum(self, ids, labels, attn, pos):
        """Summed next-token cross-entropy over trained tokens (fp32), as hyperparameters.loss says (loss.py)."""
        import torch

        from .loss import loss_sum

        autocast = {"device_type": self.device.type, "dtype": torch.bfloat16} if self.use_bf16 else None
        return loss_sum(self.model, self.loss_mode, ids, labels, attn, pos, autocast=autocast)

    def _oom(self, exc, rows) -> TrainerFailure:
        width = max(len(r.input_ids) for r in rows)
        detail = str(exc).splitlines()[0] if str(exc) else ""
        return TrainerFailure(
            "cuda_oom",
            f"CUDA out of memory at step {self.step + 1} with batchSize={self.hp.batchSize}, "
            f"maxSeqLength={self.hp.maxSeqLength} (this batch: {len(rows)} rows x {width} tokens, "
            f"gradientCheckpointing={self.hp.gradientCheckpointing}); lower batchSize or maxSeqLength, "
            f"or enable gradientCheckpointing. {detail}")

    def _train_step(self, order) -> tuple[float, float, int]:
        """One optimizer step over up to gradientAccumulation micro-batches of the global batch
        (this process's share of each). Returns (mean loss per trained token over the global
        batch, grad norm, tokens processed by all processes)."""
        import torch

        hp, dist = self.hp, self.dist
        micro = hp.batchSize * dist.world_size
        window = order[self.pos:self.pos + self.rows_per_step]
        global_batches = [window[i:i + micro] for i in range(0, len(window), micro)]
        # Normalise by the trained tokens of the whole global batch (every process knows it: every
        # process holds the whole tokenised dataset), so accumulation and several processes give
        # the same gradient as one big batch.
        rows_all = [self.train_set[i] for i in window]
        n_trained = sum(1 for r in rows_all for x in r.labels[1:] if x != IGNORE_INDEX)
        n_tokens = sum(len(r.input_ids) for r in rows_all)
        total = 0.0
        failure: Optional[TrainerFailure] = None
        self.optimizer.zero_grad(set_to_none=True)
        for gb in global_batches:
            rows = [self.train_set[i] for i in shard(gb, dist.rank, dist.world_size, hp.batchSize)]
            if not rows:
                continue  # a short last batch: this process contributes a zero gradient
            try:
                ids, labels, attn, pos = self._batch(rows)
                loss = self._loss_sum(ids, labels, attn, pos) / max(1, n_trained)
                if hp.debugInjectNanAtStep is not None and self.step + 1 == hp.debugInjectNanAtStep \
                        and self._debug_nan_rank_matches():
                    loss = loss * float("nan")  # fault injection (test only)
                if not torch.isfinite(loss):
                    failure = TrainerFailure("nan_loss", f"loss is {loss.item()} at step {self.step + 1} "
                                             f"(epoch {self.epoch}){self._on_rank()}; stopped before the optimizer "
                                             f"step, no adapter written. Lower learningRate or check the data.")
                    break
                loss.backward()
            except torch.OutOfMemoryError as e:
                failure = self._oom(e, rows)
                break
            total += loss.item()
        if dist.enabled:
            total = self._sync_gradients(total, failure)
        elif failure is not None:
            raise failure
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, hp.maxGradNorm if hp.maxGradNorm > 0 else float("inf"))
        if not torch.isfinite(grad_norm):
            raise TrainerFailure("nan_loss", f"gradient norm is {grad_norm.item()} at step {self.step + 1} "
                                 f"(loss {total:.4f}); stopped before the optimizer step, no adapter written.")
        self.lr_used = self.optimizer.param_groups[0]["lr"]  # report the rate this step used, not the next one
        self.optimizer.step()
        self.scheduler.step()
        self.pos += len(window)
        return total, float(grad_norm.item()), n_tokens

    def _on_rank(self) -> str:
        return f" on rank {self.dist.rank}" if self.dist.enabled else ""

    def _debug_nan_rank_matches(self) -> bool:
        only = os.environ.get("LORA_QUEUE_DEBUG_NAN_RANK")  # test only: the NaN on one rank alone
        return only is None or not self.dist.enabled or int(only) == self.dist.rank

    def _sync_gradients(self, local_loss: float, failure: Optional[TrainerFailure]) -> float:
        """One all-reduce (sum) of every gradient, the step's loss and the flags the processes must
        agree on: a failure on any rank stops every rank, a stop request on any rank stops every
        rank after this same step. Returns the global batch's loss."""
        import torch

        grads = []
        for p in self.params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            grads.append(p.grad)
        flags = torch.tensor([local_loss, 1.0 if failure else 0.0, 1.0 if self.stop else 0.0,
                              1.0 if self.stop.checkpoint_requested else 0.0],
                             dtype=torch.float32, device=self.device)
        skip = os.environ.get("LORA_QUEUE_DEBUG_SKIP_GRAD_SYNC") == "1"  # test only: proves the replica check fails
        flat = torch.cat([flags] + ([] if skip else [g.reshape(-1).to(torch.float32) for g in grads]))
        self.dist.all_reduce_sum_(flat)
        if flat[1].item() > 0:
            # Every rank learns which rank failed and why; rank 0 reports it.
            reports = self.dist.gather((failure.kind, str(failure)) if failure else None)
            kind, message = next(r for r in reports if r is not None)
            raise TrainerFailure(kind, message)
        # Decided here, not from this process's own flag, which a signal may set between this
        # all-reduce and the end of the step on one rank and not on another.
        self.stop_agreed = flat[2].item() > 0
        self.checkpoint_agreed = flat[3].item() > 0
        if not skip:
            offset = 4
            for g in grads:
                n = g.numel()
                g.copy_(flat[offset:offset + n].view_as(g))
                offset += n
        return float(flat[0].item())

    def _check_replicas(self) -> None:
        """Every process must end with the same LoRA weights (they took the same steps with the same
        summed gradients); a difference means a broken gradient exchange, and no adapter is written."""
        if not self.dist.enabled:
            return
        import torch

        with torch.no_grad():
            fingerprint = [round(float(p.double().sum().item()), 6) for p in self.params[:64]]
            fingerprint.append(round(float(sum(p.double().pow(2).sum().item() for p in self.params)), 6))
        prints = self.dist.gather(fingerprint)
        if any(fp != prints[0] for fp in prints[1:]):
            bad = [r for r, fp in enumerate(prints) if fp != prints[0]]
            raise TrainerFailure("other", f"the processes' LoRA weights differ after training (ranks {bad} "
                                 "against rank 0): the gradient exchange is broken; no adapter written")

    def _evaluate(self) -> Optional[float]:
        import torch

        if not self.eval_set:
            return None
        self.model.eval()
        total, count = 0.0, 0
        bs = self.hp.batchSize
        dist = self.dist
        # Each process evaluates every world-size-th row; the sums are exchanged.
        mine = self.eval_set[dist.rank::dist.world_size]
        with torch.no_grad():
            for i in range(0, len(mine), bs):
                rows = mine[i:i + bs]
                ids, labels, attn, pos = self._batch(rows)
                total += self._loss_sum(ids, labels, attn, pos).item()
                count += int((labels[:, 1:] != IGNORE_INDEX).sum().item())
        self.model.train()
        if dist.enabled:
            sums = torch.tensor([total, float(count)], dtype=torch.float64 if self.device.type == "cpu" else torch.float32,
                                device=self.device)
            dist.all_reduce_sum_(sums)
            total, count = float(sums[0].item()), int(sums[1].item())
        loss = total / max(1, count)
        self.events.emit("eval", step=self.step, eval_loss=loss)
        self._say(f"eval step {self.step} eval_loss {loss:.4f}")
        return loss

    def _stop_before_training(self) -> None:
        """A stop request during setup: nothing was trained, so nothing new to save."""
        path = str(Path(self.job.resume_from).resolve()) if self.job.resume_from else None
        self.events.emit("done", adapter_path=path, final_loss=None, stopped=True, step=0,
                         signal=self._signal_name(), tokens=0)
        self._say(f"stopped by {self._signal_name()} before training started")

    def _signal_name(self) -> str:
        return self.stop.signal_name or "SIGTERM (on another rank)"

    def _finish_stopped(self, saved_at: Optional[int], path: Optional[str]) -> None:
        if self.step > 0 and saved_at != self.step:
            path = self._save_checkpoint()
        elif path is None and self.job.resume_from:
            path = str(Path(self.job.resume_from).resolve())
        self.events.emit("done", adapter_path=path, final_loss=self.last_loss, stopped=True, step=self.step,
                         signal=self._signal_name(), tokens=self.tokens_seen)
        self._say(f"stopped by {self._signal_name()} at step {self.step}; checkpoint {path}")

    def _train_loop(self) -> None:
        from .data import epoch_order

        hp = self.hp
        n = len(self.train_set)
        eval_every = hp.evalEverySteps or hp.checkpointEverySteps
        saved_at: Optional[int] = self.step if self.job.resume_from else None
        last_ckpt: Optional[str] = None
        if self.dist.any(bool(self.stop)):
            return self._finish_stopped(saved_at, None)
        self._phase("training", step=self.step, total_steps=self.total_steps)
        order = epoch_order(n, hp.seed, self.epoch)
        order_epoch = self.epoch
        while self.step < self.total_steps:
            if order_epoch != self.epoch:
                order = epoch_order(n, hp.seed, self.epoch)
                order_epoch = self.epoch
            t = time.time()
            loss, grad_norm, n_tokens = self._train_step(order)
            # The epoch's progress in micro-batches of the global batch (as one process counts them).
            epoch_float = self.epoch + min(1.0, math.ceil(self.pos / (hp.batchSize * self.dist.world_size)) / self.nb)
            if self.pos >= n:
                self.epoch, self.pos = self.epoch + 1, 0
            self.step += 1
            self.last_loss = loss
            self.tokens_seen += n_tokens
            dt = max(time.time() - t, 1e-9)
            lr = self.lr_used
            self._phase("training", step=self.step, total_steps=self.total_steps)
            if self.step % hp.logEverySteps == 0 or self.step == self.total_steps:
                # Tokens of the whole global batch over rank 0's step time (which includes waiting
                # for the slowest rank): the throughput of all the processes together.
                tps = n_tokens / dt
                self.events.emit("step", step=self.step, epoch=round(epoch_float, 4), loss=loss, lr=lr,
                                 grad_norm=grad_norm, tokens_per_second=round(tps, 1))
                self._say(f"step {self.step}/{self.total_steps} loss {loss:.4f} lr {format_lr(lr)} tok/s {tps:.0f}")
            if self.step % eval_every == 0 and self.step < self.total_steps:
                self._evaluate()
            if self.step % hp.checkpointEverySteps == 0 and self.step < self.total_steps:
                last_ckpt = self._save_checkpoint()
                saved_at = self.step
            # SIGUSR2 (Slurm's time-limit warning): a checkpoint now, and training goes on.
            checkpoint_now = self.checkpoint_agreed if self.dist.enabled else self.stop.checkpoint_requested
            if checkpoint_now:
                self.stop.checkpoint_requested = False
                if saved_at != self.step and self.step < self.total_steps:
                    last_ckpt = self._save_checkpoint()
                    saved_at = self.step
                    self._say(f"checkpoint at step {self.step} on SIGUSR2; training goes on")
            # With several processes the stop flag was agreed on in this step's all-reduce, so every
            # rank leaves here after the same step.
            stop_now = self.stop_agreed if self.dist.enabled else bool(self.stop)
            if stop_now and self.step < self.total_steps:
                return self._finish_stopped(saved_at, last_ckpt if saved_at == self.step else None)
            if hp.debugStepDelay:
                time.sleep(hp.debugStepDelay)
        self._evaluate()
        self._check_replicas()
        path = self._save_final()
        self.events.emit("done", adapter_path=path, final_loss=self.last_loss, stopped=False, step=self.step,
                         tokens=self.tokens_seen)
        self._say(f"done: {self.step} steps, final loss {self.last_loss:.4f}, adapter {path}")
