"""job.json and its hyperparameters, as dataclasses with strict validation.

Unknown keys are rejected (a typo such as ``learningrate`` would otherwise be
silently ignored and the run would train with a default), and every error
names the offending key so the engine can show it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any, Optional, Union


class ConfigError(ValueError):
    """Bad job.json or hyperparameters (error kind ``config``)."""


LR_SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial")


@dataclass
class Hyperparameters:
    # LoRA shape (ignored when continuing from init_adapter / resume_from:
    # the adapter's own config wins, so its weights keep training unchanged).
    loraRank: int = 16
    loraAlpha: float = 32.0
    loraDropout: float = 0.05
    targetModules: Union[list, str] = "all-linear"
    # Optimisation (AdamW).
    learningRate: float = 2e-4
    weightDecay: float = 0.0
    maxGradNorm: float = 1.0
    lrScheduler: str = "cosine"
    warmupSteps: int = 0
    epochs: float = 1.0
    batchSize: int = 4
    gradientAccumulation: int = 1
    maxSteps: Optional[int] = None
    # Data.
    maxSeqLength: int = 2048
    packing: bool = False
    # The mask rule for chat templates that rewrite history (masking.py, docs/tokens.md).
    historyRewriting: str = "perTurn"
    # trainingChatTemplate: an absolute path to a .jinja file, or the name of one of
    # the base model's chat template variants; None = the model's own template.
    chatTemplate: Optional[str] = None
    evalSplit: float = 0.0
    evalEverySteps: Optional[int] = None  # default: checkpointEverySteps
    # Runtime.
    gradientCheckpointing: bool = False
    loss: str = "full"  # "full" | "chunked" | "fused" (loss.py)
    compile: bool = False  # torch.compile of the decoder
    bf16: Union[str, bool] = "auto"
    seed: int = 42
    checkpointEverySteps: int = 100
    keepCheckpoints: int = 3  # 0 keeps all
    requireGpu: bool = False
    logEverySteps: int = 1
    # Test-only fault-injection knobs; never set them in real jobs.
    debugInjectNanAtStep: Optional[int] = None  # makes the loss NaN at that step
    debugStepDelay: float = 0.0  # seconds slept after each step, so tests can signal mid-run


@dataclass
class Job:
    dataset: str
    base_model: str
    output_dir: str
    events: str
    run_id: str = ""
    init_adapter: Optional[str] = None
    resume_from: Optional[str] = None
    checkpoints_dir: Optional[str] = None  # default: <dirname(events)>/checkpoints
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)

    @property
    def checkpoint_root(self) -> str:
        return self.checkpoints_dir or os.path.join(os.path.dirname(os.path.abspath(self.events)), "checkpoints")


def _type_ok(name: str, value: Any, default: Any) -> Any:
    """Check/coerce one hyperparameter against the type of its default."""
    ints = {"loraRank", "warmupSteps", "batchSize", "gradientAccumulation", "maxSteps", "maxSeqLength",
            "evalEverySteps", "seed", "checkpointEverySteps", "keepCheckpoints", "logEverySteps",
            "debugInjectNanAtStep"}
    floats = {"loraAlpha", "loraDropout", "learningRate", "weightDecay", "maxGradNorm", "epochs",
              "evalSplit", "debugStepDelay"}
    bools = {"packing", "gradientCheckpointing", "requireGpu", "compile"}
    if value is None and name in {"maxSteps", "evalEverySteps", "debugInjectNanAtStep", "chatTemplate"}:
        return None
    if name == "historyRewriting":
        if value not in ("perTurn", "lastTurn", "refuse"):
            raise ConfigError(f'hyperparameters.historyRewriting must be "perTurn", "lastTurn" or "refuse", got {value!r}')
        return value
    if name == "chatTemplate":
        if not isinstance(value, str) or not value:
            raise ConfigError(f"hyperparameters.chatTemplate must be a non-empty string, got {value!r}")
        return value
    if name in ints:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise ConfigError(f"hyperparameters.{name} must be an integer, got {value!r}")
        return int(value)
    if name in floats:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"hyperparameters.{name} must be a number, got {value!r}")
        return float(value)
    if name in bools:
        if not isinstance(value, bool):
            raise ConfigError(f"hyperparameters.{name} must be true or false, got {value!r}")
        return value
    if name == "bf16":
        if value not in ("auto", True, False):
            raise ConfigError(f'hyperparameters.bf16 must be "auto", true or false, got {value!r}')
        return value
    if name == "loss":
        if value not in ("full", "chunked", "fused"):
            raise ConfigError(f'hyperparameters.loss must be "full", "chunked" or "fused", got {value!r}')
        return value
    if name == "lrScheduler":
        if value not in LR_SCHEDULERS:
            raise ConfigError(f"hyperparameters.lrScheduler must be one of {', '.join(LR_SCHEDULERS)}, got {value!r}")
        return value
    if name == "targetModules":
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list) and value and all(isinstance(x, str) and x for x in value):
            return value
        raise ConfigError('hyperparameters.targetModules must be "all-linear" or a list of module names, '
                          f"got {value!r}")
    return value


def parse_hyperparameters(raw: Any) -> Hyperparameters:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("hyperparameters must be an object")
    hp = Hyperparameters()
    known = {f.name: f for f in dataclasses.fields(Hyperparameters)}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"hyperparameters.{key} is not a known hyperparameter")
        setattr(hp, key, _type_ok(key, value, getattr(hp, key)))
    checks = [
        ("loraRank", hp.loraRank >= 1),
        ("loraDropout", 0.0 <= hp.loraDropout < 1.0),
        ("learningRate", hp.learningRate > 0),
        ("maxGradNorm", hp.maxGradNorm >= 0),
        ("warmupSteps", hp.warmupSteps >= 0),
        ("epochs", hp.epochs > 0),
        ("batchSize", hp.batchSize >= 1),
        ("gradientAccumulation", hp.gradientAccumulation >= 1),
        ("maxSteps", hp.maxSteps is None or hp.maxSteps >= 1),
        ("maxSeqLength", hp.maxSeqLength >= 8),
        ("evalSplit", 0.0 <= hp.evalSplit < 1.0),
        ("evalEverySteps", hp.evalEverySteps is None or hp.evalEverySteps >= 1),
        ("checkpointEverySteps", hp.checkpointEverySteps >= 1),
        ("keepCheckpoints", hp.keepCheckpoints >= 0),
        ("logEverySteps", hp.logEverySteps >= 1),
        ("debugStepDelay", hp.debugStepDelay >= 0),
    ]
    for name, ok in checks:
        if not ok:
            raise ConfigError(f"hyperparameters.{name} is out of range: {getattr(hp, name)!r}")
    return hp


def load_job(path: str) -> Job:
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"job file not found: {path}") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"job file {path} is not valid JSON: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError("job file must hold a JSON object")
    known = {f.name for f in dataclasses.fields(Job)}
    for key in raw:
        if key not in known:
            raise ConfigError(f"job key {key!r} is not known")
    for key in ("dataset", "base_model", "output_dir", "events"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ConfigError(f"job key {key!r} is required and must be a non-empty string")
    for key in ("init_adapter", "resume_from", "checkpoints_dir", "run_id"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise ConfigError(f"job key {key!r} must be a string or null")
    hp = parse_hyperparameters(raw.get("hyperparameters"))
    return Job(
        dataset=raw["dataset"],
        base_model=raw["base_model"],
        output_dir=raw["output_dir"],
        events=raw["events"],
        run_id=raw.get("run_id") or "",
        init_adapter=raw.get("init_adapter") or None,
        resume_from=raw.get("resume_from") or None,
        checkpoints_dir=raw.get("checkpoints_dir") or None,
        hyperparameters=hp,
    )


def events_path_from_job_file(path: str) -> Optional[str]:
    """Best effort: the events path of a job file that may fail validation,
    so even a config error can be reported through events.jsonl."""
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
        ev = raw.get("events") if isinstance(raw, dict) else None
        return ev if isinstance(ev, str) and ev else None
    except Exception:
        return None
