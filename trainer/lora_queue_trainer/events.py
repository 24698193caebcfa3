"""events.jsonl writer shared by the trainer and the HF callback.

One JSON object per line, appended, flushed and fsynced a line at a time, so
the engine tailing the file never sees a partial line and nothing reported is
lost if the machine dies right after. Every event has ``type`` and ``time``
(unix seconds, float). A background thread writes ``heartbeat`` every few
seconds (also while the model loads or data is tokenized, when the main thread
is busy inside a library call).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from typing import Any

HEARTBEAT_SECONDS = 5.0  # the contract asks for at least one every 10 s

# The engine's one table of ends (common/endKinds.ts) knows exactly these; test_units.py checks it.
ERROR_KINDS = ("nan_loss", "cuda_oom", "gpu_unavailable", "data", "config", "other")


def _clean(value: Any) -> Any:
    # JSON has no NaN/Infinity; the engine's parser would reject them.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class EventWriter:
    def __init__(self, path: str | os.PathLike, heartbeat_seconds: float = HEARTBEAT_SECONDS):
        self.path = os.fspath(path)
        parent = os.path.dirname(self.path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")
        self._lock = threading.Lock()
        self._heartbeat_seconds = heartbeat_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.status: dict[str, Any] = {}  # extra fields carried by heartbeats (e.g. phase)

    def emit(self, type_: str, **fields: Any) -> dict[str, Any]:
        event = {"type": type_, "time": time.time()}
        event.update(_clean(fields))
        line = json.dumps(event, ensure_ascii=False, allow_nan=False)
        with self._lock:
            # `done` and `error` end the stream: a heartbeat thread that woke just after one of
            # them writes nothing more (the engine and the tests read the last event as the end).
            if self._fh.closed or (type_ == "heartbeat" and self._stop.is_set()):
                return event
            if type_ in ("done", "error"):
                self._stop.set()
            self._fh.write(line + "\n")
            self._fh.flush()
            try:
                os.fsync(self._fh.fileno())
            except OSError:
                pass  # e.g. a pipe or a filesystem without fsync: flushed is enough
        return event

    def start_heartbeat(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._beat, name="lora-queue-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self._heartbeat_seconds):
            self.emit("heartbeat", **self.status)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._lock:
            if not self._fh.closed:
                self._fh.close()
