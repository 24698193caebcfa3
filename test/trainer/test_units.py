"""In-process unit tests of the pieces around the training loop (fast, no model)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import torch
from lora_queue_trainer.config import ConfigError, load_job, parse_hyperparameters
from lora_queue_trainer.data import DataError, Example, epoch_order, load_conversations, pack_examples
from lora_queue_trainer.events import EventWriter
from lora_queue_trainer.fsutil import publish_dir, temp_sibling
from lora_queue_trainer.train import classify, format_lr

REPO = Path(__file__).resolve().parents[2]


def test_format_lr():
    assert format_lr(1.9e-4) == "1.9e-4"
    assert format_lr(0.01) == "1.0e-2"
    assert format_lr(0.0) == "0.0e0"


def test_classify_cuda_oom_names_batch_and_length():
    hp = parse_hyperparameters({"batchSize": 8, "maxSeqLength": 4096})
    kind, msg = classify(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), hp)
    assert kind == "cuda_oom" and "batchSize=8" in msg and "maxSeqLength=4096" in msg
    assert classify(RuntimeError("boom"))[0] == "other"
    assert classify(DataError("line 3: x"))[0] == "data"


@pytest.mark.parametrize("raw,needle", [
    ({"loraRank": 0}, "loraRank"),
    ({"batchSize": 2.5}, "batchSize"),
    ({"bf16": "yes"}, "bf16"),
    ({"lrScheduler": "exp"}, "lrScheduler"),
    ({"packing": 1}, "packing"),
    ({"targetModules": []}, "targetModules"),
    ({"learning_rate": 1e-4}, "learning_rate"),
])
def test_bad_hyperparameters_name_the_key(raw, needle):
    with pytest.raises(ConfigError, match=needle):
        parse_hyperparameters(raw)


def test_hyperparameter_defaults_and_coercion():
    hp = parse_hyperparameters({"epochs": 2, "bf16": True, "targetModules": ["q_proj", "v_proj"], "maxSteps": None})
    assert hp.epochs == 2.0 and isinstance(hp.epochs, float)
    assert hp.bf16 is True and hp.targetModules == ["q_proj", "v_proj"] and hp.maxSteps is None
    assert parse_hyperparameters(None).learningRate == 2e-4


def test_job_requires_keys(tmp_path):
    p = tmp_path / "job.json"
    p.write_text(json.dumps({"dataset": "/d", "base_model": "/m", "events": "/e"}))
    with pytest.raises(ConfigError, match="output_dir"):
        load_job(str(p))
    p.write_text(json.dumps({"dataset": "/d", "base_model": "/m", "events": "/e", "output_dir": "/o", "extra": 1}))
    with pytest.raises(ConfigError, match="extra"):
        load_job(str(p))


def test_dataset_validation_line_numbers(tmp_path):
    ok = '{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}'
    cases = {
        "tool_calls is only allowed": '{"messages": [{"role": "user", "content": "a", "tool_calls": []}]}',
        "content is missing": '{"messages": [{"role": "user"}]}',
        "non-empty": '{"messages": []}',
        '"tools" must be a list': '{"messages": [{"role": "user", "content": "a"}], "tools": {"name": "f"}}',
        "must have a function name":
            '{"messages": [{"role": "assistant", "content": null, "tool_calls": [{"function": {}}]}]}',
    }
    for needle, bad in cases.items():
        p = tmp_path / "d.jsonl"
        p.write_text(ok + "\n\n" + bad + "\n")  # blank line 2 is skipped but still counted
        with pytest.raises(DataError) as e:
            load_conversations(str(p))
        assert str(e.value).startswith("line 3:") and needle in str(e.value), str(e.value)
    p.write_text(ok + "\n" + '{"messages": [{"role": "assistant", "content": null, "tool_calls": '
                 '[{"type": "function", "function": {"name": "f", "arguments": {}}}]}]}\n')
    assert [c.line for c in load_conversations(str(p))] == [1, 2]


def test_pack_examples_keeps_whole_examples():
    ex = [Example([1] * 5, [1] * 5, 1), Example([2] * 4, [2] * 4, 2), Example([3] * 6, [-100] * 6, 3)]
    rows = pack_examples(ex, 10)
    assert [len(r.input_ids) for r in rows] == [9, 6]
    assert rows[0].labels == [1] * 5 + [2] * 4


def test_epoch_order_is_deterministic():
    assert epoch_order(10, 7, 0) == epoch_order(10, 7, 0)
    assert epoch_order(10, 7, 0) != epoch_order(10, 7, 1)


def test_event_writer_appends_whole_lines_from_threads(tmp_path):
    path = tmp_path / "sub" / "events.jsonl"
    path.parent.mkdir()
    path.write_text('{"type": "old", "time": 1.0}\n')
    w = EventWriter(path, heartbeat_seconds=0.01)
    w.start_heartbeat()
    threads = [threading.Thread(target=lambda: [w.emit("step", loss=float("nan"), n=i) for i in range(50)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.close()
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert events[0]["type"] == "old"  # appended, never truncated
    steps = [e for e in events if e["type"] == "step"]
    assert len(steps) == 200 and all(e["loss"] is None for e in steps)  # NaN is not JSON
    assert any(e["type"] == "heartbeat" for e in events)
    assert all(isinstance(e["time"], float) for e in events)


def test_event_writer_writes_no_heartbeat_after_done_or_error(tmp_path):
    for last in ("done", "error"):
        path = tmp_path / f"{last}.jsonl"
        w = EventWriter(path, heartbeat_seconds=0.005)
        w.start_heartbeat()
        time.sleep(0.05)
        w.emit(last, stopped=True)
        time.sleep(0.05)  # ten heartbeat periods before the writer is closed
        w.close()
        events = [json.loads(line) for line in path.read_text().splitlines()]
        assert any(e["type"] == "heartbeat" for e in events)
        assert events[-1]["type"] == last, [e["type"] for e in events[-3:]]


def test_publish_dir_replaces_atomically(tmp_path):
    final = tmp_path / "adapter"
    for content in ("one", "two"):
        tmp = temp_sibling(final)
        tmp.mkdir()
        (tmp / "adapter_config.json").write_text(content)
        publish_dir(tmp, final)
        assert (final / "adapter_config.json").read_text() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]  # no temp or old folders left


def _engine_trainer_error_kinds() -> list[str]:
    """The error kinds the engine knows, read from the one table (common/endKinds.ts) by Node:
    esbuild strips the types and the module runs as it does in the engine, so no parsing of
    TypeScript here and no generated copy to go stale."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH")
    script = (
        "const { transformSync } = require('esbuild');"
        "const src = require('fs').readFileSync('common/endKinds.ts', 'utf8');"
        "const m = { exports: {} };"
        "new Function('module', 'exports', 'require', transformSync(src, { loader: 'ts', format: 'cjs' }).code)(m, m.exports, require);"
        "process.stdout.write(JSON.stringify(m.exports.TRAINER_ERROR_KINDS));"
    )
    r = subprocess.run([node, "-e", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_error_kinds_are_the_engines():
    # A kind the engine does not know is taken as "other" (a crash, retried): a trainer that
    # reports one the table lacks loses its meaning, so the two lists must be the same.
    from lora_queue_trainer.events import ERROR_KINDS
    from lora_queue_trainer.train import EXIT_CODES

    engine = _engine_trainer_error_kinds()
    assert sorted(ERROR_KINDS) == sorted(engine)
    assert sorted(EXIT_CODES) == sorted(engine), "every error kind has its exit code"
