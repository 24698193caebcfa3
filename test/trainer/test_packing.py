"""Packing without cross-contamination, and the memory options, against the plain path: the real
tiny model with a LoRA adapter, in process, on the CPU (fp32).

* a packed row (position ids restarting at each example, no attention across examples) gives the
  same summed loss and the same gradients as its examples run one by one;
* the chunked loss (loss.py) equals the full one, in value and gradients, packed or padded;
* gradient checkpointing and torch.compile change neither.
"""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from conftest import conversation  # noqa: E402
from lora_queue_trainer.data import Conversation, collate, pack_examples, tokenize_conversations  # noqa: E402
from lora_queue_trainer.loss import loss_sum, resolve_mode  # noqa: E402


def varied(i: int) -> dict:
    """Conversations of different lengths and shapes (multi-turn, a system prompt or not)."""
    c = conversation(i)
    if i % 3 == 1:
        c["messages"] = c["messages"][1:]
    if i % 3 == 2:
        c["messages"] += [{"role": "user", "content": "And twice that?" * (1 + i % 4)},
                          {"role": "assistant", "content": f"That is {4 * i}, " + "indeed " * (i % 5)}]
    return c


@pytest.fixture(scope="module")
def setup(tiny_model):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model, local_files_only=True)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32, local_files_only=True)
    model.config.use_cache = False
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
    with torch.no_grad():  # lora_B starts at zero: give the adapter an effect, so its gradients mean something
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    convs = [Conversation(i + 1, varied(i)["messages"]) for i in range(7)]
    examples, skipped = tokenize_conversations(tok, convs, 96)
    assert not skipped and len(examples) == 7
    return model, examples


def loss_and_grads(model, batches, mode="full", **kw):
    model.zero_grad(set_to_none=True)
    total = 0.0
    for rows in batches:
        ids, labels, attn, pos = collate(rows, 0)
        loss = loss_sum(model, mode, ids, labels, attn, pos, **kw)
        loss.backward()
        total += loss.item()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    return total, grads


def assert_close(a, b, what, tol=1e-5):
    sa, ga = a
    sb, gb = b
    assert sa == pytest.approx(sb, rel=tol, abs=tol), f"{what}: loss {sa} vs {sb}"
    worst = max(float((ga[k] - gb[k]).abs().max() / (gb[k].abs().max() + 1e-12)) for k in ga)
    assert worst < max(tol * 10, 1e-4), f"{what}: gradients differ by {worst} (relative)"


def test_a_packed_row_trains_as_its_examples_one_by_one(setup):
    model, examples = setup
    rows = pack_examples(examples, 400)
    assert len(rows) == 1 and rows[0].segments == [len(e.input_ids) for e in examples]
    packed = loss_and_grads(model, [rows])
    one_by_one = loss_and_grads(model, [[e] for e in examples])
    # Summed over the same trained tokens: equal sums are equal token-weighted means.
    assert_close(packed, one_by_one, "packed vs one by one")
    # The old packing (plain causal attention over the whole row) lets examples see each other.
    ids, labels, attn, pos = collate(rows, 0)
    leaky = loss_sum(model, "full", ids, labels, torch.ones_like(ids), None).item()
    assert abs(leaky - one_by_one[0]) > 1e-3 * abs(one_by_one[0]), "the test must tell the two apart"


def test_packed_rows_of_a_batch_with_padding(setup):
    model, examples = setup
    rows = pack_examples(examples, 110)
    assert len(rows) >= 3 and len({len(r.input_ids) for r in rows}) > 1  # rows of different widths: padded
    batched = loss_and_grads(model, [rows])
    one_by_one = loss_and_grads(model, [[e] for e in examples])
    assert_close(batched, one_by_one, "a padded batch of packed rows vs one by one")


def test_chunked_loss_equals_full(setup):
    model, examples = setup
    padded = [examples[:4], examples[4:]]
    # Chunks of 5 positions: many chunks, one cut in the middle of an example.
    assert_close(loss_and_grads(model, padded, "chunked", chunk_tokens=5), loss_and_grads(model, padded), "chunked, padded")
    packed = [pack_examples(examples, 200)]
    assert_close(loss_and_grads(model, packed, "chunked", chunk_tokens=7), loss_and_grads(model, packed), "chunked, packed")
    assert resolve_mode("chunked", model, "cpu") == ("chunked", None)
    mode, note = resolve_mode("fused", model, "cpu")
    assert mode == "chunked" and "CUDA" in note


def test_gradient_checkpointing_changes_nothing(setup):
    model, examples = setup
    batches = [examples[:4], pack_examples(examples[4:], 300)]
    plain = loss_and_grads(model, batches)
    model.get_base_model().gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    try:
        assert_close(loss_and_grads(model, batches), plain, "gradient checkpointing")
        assert_close(loss_and_grads(model, batches, "chunked", chunk_tokens=16), plain, "gradient checkpointing + chunked")
    finally:
        model.get_base_model().gradient_checkpointing_disable()


def test_trainer_reports_what_it_used(tmp_path, tiny_model):
    """End to end: packing with the chunked loss trains, and the start event says what was used."""
    from conftest import make_job, run_trainer, write_jsonl

    data = write_jsonl(tmp_path / "d.jsonl", [varied(i) for i in range(10)])
    job = make_job(tmp_path, tiny_model, data, hyperparameters={"packing": True, "maxSeqLength": 160, "loss": "chunked",
                                                                "maxSteps": 3, "batchSize": 2})
    run = run_trainer(tmp_path, job)
    assert run.returncode == 0, run.log()
    start = run.of("start")[0]
    assert (start["loss"], start["packing"], start["attention"]) == ("chunked", True, "sdpa"), json.dumps(start)
    assert start["train_examples"] < 10
    fused = run_trainer(tmp_path, make_job(tmp_path, tiny_model, data, name="fused",
                                           hyperparameters={"loss": "fused", "maxSteps": 1}))
    assert fused.returncode == 0, fused.log()
    assert fused.of("start")[0]["loss"] == "chunked" and "needs CUDA" in fused.stdout


@pytest.mark.skipif(not __import__("shutil").which("gcc") and not __import__("shutil").which("cc"),
                    reason="torch.compile on the CPU needs a C compiler")
def test_compile_changes_nothing(tmp_path, tiny_model):
    """torch.compile of the decoder: the same losses as the plain path, step for step."""
    from conftest import make_job, run_trainer, write_jsonl

    data = write_jsonl(tmp_path / "d.jsonl", [varied(i) for i in range(8)])
    hp = {"maxSteps": 3, "batchSize": 4, "maxSeqLength": 96}
    plain = run_trainer(tmp_path, make_job(tmp_path, tiny_model, data, name="plain", hyperparameters=hp))
    compiled = run_trainer(tmp_path, make_job(tmp_path, tiny_model, data, name="compiled",
                                              hyperparameters={**hp, "compile": True}), timeout=600)
    assert plain.returncode == 0 and compiled.returncode == 0, compiled.log()
    assert compiled.of("start")[0]["compiled"] is True
    assert [e["loss"] for e in compiled.of("step")] == pytest.approx([e["loss"] for e in plain.of("step")], rel=1e-4)
