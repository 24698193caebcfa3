"""A trainer that stays loaded between runs (config ``trainer.resident``; docs/trainer.md).

    python -m lora_queue_trainer --resident <socket>      (cwd: the queue root; the engine starts it)

The process listens on a unix socket (a path relative to the queue root, so a long root does not
hit the 108-byte limit of socket paths) and serves one job at a time. Everything a job promises
stays as it is for a cold run (events.jsonl, trainer.log, checkpoints, the adapter, the exit code):
only the Python start, the imports, the tokenizer and the base model are paid once. Per job the
adapter is fresh (or init_adapter/resume_from), the optimizer and scheduler new, the RNG seeded
from the job, and afterwards the adapter's layers are taken out of the base model again
(train.py ``ModelCache``).

Messages, one JSON object per line:

    resident → client, on connect   {"hello": "lora-queue-resident", "protocol": 1, "pid": N, "jobs": n}
    client → resident               {"job": "<runs/ID/job.json>", "log": "<runs/ID/trainer.log>"}
    client → resident, any time     {"signal": "SIGTERM" | "SIGUSR1"}   (stop now / after the step, for this job)
    resident → client               {"exit": code, "warm": bool}

then the connection closes and the next client is served. The client is the run's exit recorder
(server/src/engine/exitRecorder.ts), which the engine starts per run as for a cold run; it
forwards the engine's signals here and exits with the job's code. A client that goes away in the
middle of a job counts as SIGTERM for that job (it stops with a checkpoint).

Signals to this process itself: SIGTERM or SIGINT while a job runs stop that job (as the message
would) and the process exits after it; while idle it exits at once (exit code 0). After every job
it writes ``stats.json`` beside the socket (jobs, RSS, GPU memory, loads) for the engine, which
recycles it after a number of jobs or when its memory has grown (server/src/engine/resident.ts).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Optional

HELLO = "lora-queue-resident"
PROTOCOL = 1


def _rss_bytes() -> Optional[int]:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _gpu_bytes() -> Optional[int]:
    try:
        import torch

        if torch.cuda.is_available():
            return int(torch.cuda.memory_reserved())
    except Exception:
        pass
    return None


class Resident:
    def __init__(self, sock_path: str):
        from .train import ModelCache

        self.sock_path = sock_path
        self.stats_path = os.path.join(os.path.dirname(sock_path) or ".", "stats.json")
        self.models = ModelCache(keep=True)
        self.jobs = 0
        self.current = None  # the StopRequest of the job running, if any
        self.exit_asked: Optional[str] = None
        self.first_rss: Optional[int] = None
        self.first_gpu: Optional[int] = None

    # ------------------------------------------------------------------ signals
    def _on_signal(self, signum, _frame) -> None:
        name = signal.Signals(signum).name
        if signum in (signal.SIGTERM, signal.SIGINT):
            self.exit_asked = name
        if self.current is not None:
            self.current.request(name)

    # ------------------------------------------------------------------ serving
    def serve(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
            signal.signal(sig, self._on_signal)
        try:
            os.unlink(self.sock_path)
        except FileNotFoundError:
            pass
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)  # only this user may hand it jobs
        try:
            srv.bind(self.sock_path)
        finally:
            os.umask(old)
        srv.listen(4)
        srv.settimeout(0.5)
        print(f"resident trainer pid {os.getpid()} listening on {self.sock_path}", flush=True)
        try:
            while self.exit_asked is None:
                try:
                    conn, _ = srv.accept()
                except socket.timeout:
                    continue
                except InterruptedError:
                    continue
                try:
                    self._serve_one(conn)
                finally:
                    conn.close()
        finally:
            srv.close()
            try:
                os.unlink(self.sock_path)
            except OSError:
                pass
        print(f"resident trainer pid {os.getpid()} exits ({self.exit_asked}) after {self.jobs} job(s)", flush=True)
        return 0

    def _serve_one(self, conn: socket.socket) -> None:
        from .distributed import Dist
        from .train import StopRequest, run_job

        conn.settimeout(30)
        rfile = conn.makefile("rb")
        conn.sendall((json.dumps({"hello": HELLO, "protocol": PROTOCOL, "pid": os.getpid(), "jobs": self.jobs}) + "\n").encode())
        try:
            line = rfile.readline()
        except OSError:
            return
        try:
            req = json.loads(line)
            job_file, log_file = str(req["job"]), str(req["log"])
        except (ValueError, KeyError, TypeError):
            return  # not a client of ours: nothing to do
        conn.settimeout(None)
        stop = StopRequest()
        finished = threading.Event()

        def listen() -> None:
            # The engine's signals for this job, through the client; EOF before the end: the client is gone.
            try:
                for raw in rfile:
                    try:
                        msg = json.loads(raw)
                    except ValueError:
                        continue
                    if isinstance(msg, dict) and msg.get("signal") in ("SIGTERM", "SIGUSR1", "SIGINT"):
                        stop.request(str(msg["signal"]))
            except OSError:
                pass
            if not finished.is_set():
                stop.request("SIGTERM (the run's exit recorder is gone)")

        reader = threading.Thread(target=listen, daemon=True)
        self.current = stop
        if self.exit_asked:
            stop.request(self.exit_asked)
        saved = self._redirect(log_file)
        code = 1
        warm = self.models.model is not None
        try:
            reader.start()
            print(f"resident trainer pid {os.getpid()}: job {self.jobs + 1} ({job_file}), "
                  f"base model {'already loaded' if warm else 'to load'}", flush=True)
            code = run_job(job_file, stop, Dist(), self.models)
        finally:
            finished.set()
            self.current = None
            self._restore(saved)
        self.jobs += 1
        try:
            conn.sendall((json.dumps({"exit": code, "warm": warm}) + "\n").encode())
        except OSError:
            pass
        # The job's adapter out of the base model, memory freed: while the engine settles the run.
        self.models.release_pending()
        self._write_stats()
        print(f"job {self.jobs} ({job_file}) ended with code {code}", flush=True)

    @staticmethod
    def _redirect(log_file: str) -> tuple[int, int]:
        """The job's output to its own trainer.log, as a cold run's; returns the saved descriptors."""
        sys.stdout.flush()
        sys.stderr.flush()
        saved = (os.dup(1), os.dup(2))
        fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        return saved

    @staticmethod
    def _restore(saved: tuple[int, int]) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])

    def _write_stats(self) -> None:
        rss, gpu = _rss_bytes(), _gpu_bytes()
        if self.first_rss is None:
            self.first_rss, self.first_gpu = rss, gpu
        stats = {
            "pid": os.getpid(), "jobs": self.jobs, "rss_bytes": rss, "first_rss_bytes": self.first_rss,
            "gpu_reserved_bytes": gpu, "first_gpu_reserved_bytes": self.first_gpu, "loaded": self.models.model_key[0] if self.models.model_key else None,
            "loads": self.models.loads, "load_seconds": round(self.models.load_seconds, 3),
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        tmp = f"{self.stats_path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w") as fh:
                json.dump(stats, fh)
            os.replace(tmp, self.stats_path)
        except OSError as e:
            print(f"resident: cannot write {self.stats_path}: {e}", flush=True)


def main(argv: list[str]) -> int:
    from .distributed import Dist
    from .train import offline_env

    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: python -m lora_queue_trainer --resident <socket path>", file=sys.stderr)
        return 2
    if Dist.from_env().enabled:
        print("error config: trainer.resident runs one process: it cannot run under a launcher "
              "(torchrun, accelerate launch); set trainer.resident to false for several processes", file=sys.stderr)
        return 2
    offline_env()
    # The slow imports once, before the first job (they are most of a cold start).
    import torch  # noqa: F401
    import transformers  # noqa: F401
    import peft  # noqa: F401

    return Resident(argv[0]).serve()
