"""Make your own HF ``Trainer`` / TRL ``SFTTrainer`` script speak the LoRA Queue protocol.

    from lora_queue_trainer.callback import LoraQueueCallback
    cb = LoraQueueCallback(job["events"], output_dir=job["output_dir"])
    trainer = Trainer(..., callbacks=[cb])
    with cb.reporting():          # turns an exception into an `error` event
        trainer.train()

What it writes to events.jsonl (same format as the reference trainer):
``start`` on train begin; ``step`` for every log with a loss; ``eval`` for every
evaluation; ``checkpoint`` on every save; ``heartbeat`` every 5 s from a
background thread; ``done`` on train end; ``error`` from ``reporting()`` or on a
non-finite logged loss (``nan_loss``: training is stopped and the final adapter
is not written).

Signals: SIGTERM or SIGUSR1 set ``control.should_save`` and
``control.should_training_stop`` at the end of the current step, so the Trainer
saves a checkpoint and leaves ``train()``; ``done`` then says ``stopped: true``
with the checkpoint as ``adapter_path``. SIGUSR2 ("checkpoint now": Slurm's
time-limit warning, docs/slurm.md) sets ``control.should_save`` only: a
checkpoint at the end of the current step, and training goes on.

If ``output_dir`` is given, the callback saves the final adapter there itself
on a normal end (atomically: temporary folder, fsync, rename) before ``done``,
so ``done.adapter_path`` always names a complete adapter.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
import traceback
from typing import Optional

from transformers import TrainerCallback

from .events import EventWriter


class LoraQueueCallback(TrainerCallback):
    def __init__(self, events_path: str, output_dir: Optional[str] = None, run_id: str = "",
                 handle_signals: bool = True):
        self.events = EventWriter(events_path)
        self.output_dir = output_dir
        self.run_id = run_id
        self.handle_signals = handle_signals
        self.stop_signal: Optional[str] = None
        self.checkpoint_requested = False
        self.failed = False
        self.last_loss: Optional[float] = None
        self.last_checkpoint: Optional[str] = None
        self._step_started = time.time()
        self._tokens_seen_at_log = 0
        self._time_at_log = time.time()
        self._done = False
        # Beat from construction on, so the engine sees a live process while
        # the user's script is still loading the model and data.
        self.events.status = {"phase": "loading"}
        self.events.start_heartbeat()

    # -------------------------------------------------------------- signals
    def _on_signal(self, signum, _frame) -> None:
        if self.stop_signal is None:
            self.stop_signal = signal.Signals(signum).name
            print(f"received {self.stop_signal}: will checkpoint after the current step and stop", flush=True)

    def _install_signals(self) -> None:
        # signal.signal only works on the main thread; in other setups the
        # caller can still call request_stop() itself.
        if self.handle_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGUSR1):
                signal.signal(sig, self._on_signal)
            signal.signal(signal.SIGUSR2, self._on_checkpoint_signal)

    def _on_checkpoint_signal(self, _signum, _frame) -> None:
        self.checkpoint_requested = True
        print("received SIGUSR2: will checkpoint after the current step and train on", flush=True)

    def request_stop(self, reason: str = "request") -> None:
        self.stop_signal = self.stop_signal or reason

    # ------------------------------------------------------------ callbacks
    def on_train_begin(self, args, state, control, **kwargs):
        self._install_signals()
        self.events.status = {"phase": "training"}
        self._time_at_log = time.time()
        self.events.emit("start", total_steps=state.max_steps, world_size=args.world_size, device=str(args.device),
                         run_id=self.run_id)

    def on_step_end(self, args, state, control, **kwargs):
        self.events.status = {"phase": "training", "step": state.global_step, "total_steps": state.max_steps}
        if self.stop_signal and not control.should_training_stop:
            control.should_save = True
            control.should_training_stop = True
        elif self.checkpoint_requested:
            self.checkpoint_requested = False
            control.should_save = True
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" in logs:
            loss = float(logs["loss"])
            now = time.time()
            tokens = getattr(state, "num_input_tokens_seen", 0) or 0
            tps = None
            if tokens:
                tps = (tokens - self._tokens_seen_at_log) / max(now - self._time_at_log, 1e-9)
            self._tokens_seen_at_log, self._time_at_log = tokens, now
            self.events.emit("step", step=state.global_step, epoch=state.epoch, loss=loss,
                             lr=logs.get("learning_rate"), grad_norm=logs.get("grad_norm"), tokens_per_second=tps)
            from .train import format_lr

            lr = logs.get("learning_rate")
            print(f"step {state.global_step}/{state.max_steps} loss {loss:.4f} "
                  f"lr {'-' if lr is None else format_lr(lr)} tok/s {'-' if tps is None else f'{tps:.0f}'}", flush=True)
            if not math.isfinite(loss):
                self.failed = True
                self.events.emit("error", kind="nan_loss", message=f"loss is {loss} at step {state.global_step}")
                control.should_training_stop = True
                control.should_save = False
            else:
                self.last_loss = loss
        if "eval_loss" in logs:
            self.events.emit("eval", step=state.global_step, eval_loss=logs["eval_loss"])
        return control

    def on_save(self, args, state, control, **kwargs):
        path = os.path.abspath(os.path.join(args.output_dir, f"checkpoint-{state.global_step}"))
        self.last_checkpoint = path
        self.events.emit("checkpoint", step=state.global_step, path=path)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if self.failed:
            self.events.close()
            return
        stopped = self.stop_signal is not None
        adapter_path = self.last_checkpoint if stopped else None
        if not stopped and self.output_dir and model is not None:
            adapter_path = self._save_final(model)
        self.events.emit("done", adapter_path=adapter_path, final_loss=self.last_loss, stopped=stopped,
                         step=state.global_step)
        self._done = True
        self.events.close()

    def _save_final(self, model) -> str:
        from .fsutil import publish_dir, temp_sibling

        tmp = temp_sibling(self.output_dir)
        model.save_pretrained(tmp)
        publish_dir(tmp, self.output_dir)
        return os.path.abspath(self.output_dir)

    # ---------------------------------------------------------------- errors
    def report_error(self, exc: BaseException) -> str:
        """Emit an ``error`` event for ``exc`` and return its kind."""
        from .train import classify

        kind, message = classify(exc)
        if kind == "other":
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        self.events.emit("error", kind=kind, message=message)
        self.events.close()
        return kind

    @contextlib.contextmanager
    def reporting(self):
        """``with cb.reporting(): trainer.train()``: exceptions become ``error`` events and re-raise."""
        try:
            yield self
        except BaseException as exc:
            if not isinstance(exc, (KeyboardInterrupt, SystemExit)):
                self.report_error(exc)
            raise
