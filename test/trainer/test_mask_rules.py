"""The mask rules beyond the prefix rule: {% generation %} blocks, and what a
history-rewriting template trains as (perTurn, lastTurn, refuse). The
token fixtures (test/fixtures/tokens/expected.json, made with transformers by
scripts/make_token_fixtures.py) are checked here against masking.py too, so
the trainer and the editor (test/tokens/) follow the same file."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from lora_queue_trainer import masking
from lora_queue_trainer.data import Conversation, tokenize_conversations
from lora_queue_trainer.masking import IGNORE_INDEX, TemplateError, build_samples

from conftest import DROPS_REASONING

REPO = Path(__file__).resolve().parents[2]
TOKENS = REPO / "test" / "fixtures" / "tokens"
DOC = json.loads((TOKENS / "expected.json").read_text())
EXAMPLES = {e["name"]: e for e in DOC["examples"]}

CHAT = [
    {"role": "user", "content": "2+2?"},
    {"role": "assistant", "reasoning_content": "two and two", "content": "4"},
    {"role": "user", "content": "3+3?"},
    {"role": "assistant", "reasoning_content": "three and three", "content": "6"},
]


def _model(name: str, tmp: Path) -> tuple[object, str | None]:
    from transformers import AutoTokenizer

    spec = DOC["models"][name]
    src = REPO / spec["tokenizerJson"]
    if not src.exists():
        pytest.skip(f"{src} is not installed (npm ci)")
    folder = tmp / name
    folder.mkdir()
    os.symlink(src, folder / "tokenizer.json")
    shutil.copy(TOKENS / spec["folder"] / "tokenizer_config.json", folder / "tokenizer_config.json")
    template = (REPO / spec["trainingChatTemplate"]).read_text() if spec.get("trainingChatTemplate") else None
    return AutoTokenizer.from_pretrained(str(folder)), template


@pytest.mark.parametrize("model", sorted(DOC["models"]))
def test_token_fixtures(model, tmp_path):
    tok, template = _model(model, tmp_path)
    for name, want in DOC["expected"][model].items():
        ex = EXAMPLES[name]
        if "error" in want:
            with pytest.raises(Exception):
                build_samples(tok, ex["messages"], chat_template=template, tools=ex.get("tools"))
            continue
        if "maskError" in want:
            with pytest.raises(TemplateError) as e:
                build_samples(tok, ex["messages"], chat_template=template, tools=ex.get("tools"))
            assert str(e.value) == want["maskError"]
            continue
        samples = build_samples(tok, ex["messages"], chat_template=template, tools=ex.get("tools"))
        assert samples[0].rule == want["rule"], name
        assert sum(s.num_trained for s in samples) == want["trainable"], name
        seqs = want.get("sequences") or [want]
        assert len(samples) == len(seqs), name
        for s, w in zip(samples, seqs, strict=True):
            assert "".join(s.text[a:b] for a, b in s.spans) == w["trainedText"], name
            if "ids" in w:
                assert s.input_ids == w["ids"] and s.labels == w["labels"], name


def test_qwen3_multi_turn_trains_per_turn(tmp_path):
    tok, _ = _model("qwen3", tmp_path)
    msgs = EXAMPLES["reasoning_multi_turn"]["messages"]
    tools = EXAMPLES["reasoning_multi_turn"]["tools"]
    samples = build_samples(tok, msgs, tools=tools)
    assert [s.rule for s in samples] == ["perTurn"] * 3
    # Each sequence is the conversation up to that reply, as inference renders it,
    # and only that reply (with its own reasoning) trains.
    trained = [tok.decode([t for t, lab in zip(s.input_ids, s.labels) if lab != IGNORE_INDEX]) for s in samples]
    assert trained[0].startswith("<think>\n91 = 7 * 13, so no.\n</think>") and trained[0].endswith("No: 91 = 7 × 13.<|im_end|>")
    assert "The tool says rain." in trained[2] and "91 = 7" not in trained[2]
    # Earlier turns keep their place in the context but lose their reasoning, as at inference.
    assert "No: 91 = 7 × 13." in samples[2].text and "91 = 7 * 13, so no." not in samples[2].text
    with pytest.raises(TemplateError, match="not prefix-stable"):
        build_samples(tok, msgs, tools=tools, history_rewriting="refuse")


def test_history_rewriting_rules(tok_llama):
    per = build_samples(tok_llama, CHAT, chat_template=DROPS_REASONING)
    assert [s.rule for s in per] == ["perTurn", "perTurn"]
    assert ["".join(s.text[a:b] for a, b in s.spans) for s in per] == ["[think]two and two[/think]4</s>", "[think]three and three[/think]6</s>"]
    last = build_samples(tok_llama, CHAT, chat_template=DROPS_REASONING, history_rewriting="lastTurn")
    assert len(last) == 1 and last[0].rule == "lastTurn"
    assert last[0].text == tok_llama.apply_chat_template(CHAT, tokenize=False, chat_template=DROPS_REASONING)
    assert ["".join(last[0].text[a:b] for a, b in last[0].spans)] == ["[think]three and three[/think]6</s>"]
    with pytest.raises(TemplateError):
        build_samples(tok_llama, CHAT, chat_template=DROPS_REASONING, history_rewriting="refuse")
    with pytest.raises(ValueError):
        build_samples(tok_llama, CHAT, chat_template=DROPS_REASONING, history_rewriting="sometimes")


GEN = (
    "{%- for m in messages %}<{{ m.role }}>\n{%- if m.role == 'assistant' %}{% generation %}{{ m.content }}</s>{% endgeneration %}"
    "{%- else %}{{ m.content }}</s>{%- endif %}\n{%- endfor %}"
)


def test_generation_blocks_and_weight_zero(tok_llama):
    msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "first", "weight": 0},
            {"role": "user", "content": "b"}, {"role": "assistant", "content": "second"}]
    (s,) = build_samples(tok_llama, msgs, chat_template=GEN)
    assert s.rule == "generation"
    assert [s.text[a:b] for a, b in s.spans] == ["second</s>"]
    out = tok_llama.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True, chat_template=GEN)
    marked = [i for i, m in enumerate(out["assistant_masks"]) if m]
    trained = [i for i, lab in enumerate(s.labels) if lab != IGNORE_INDEX]
    # transformers marks both turns; weight 0 takes the first one out.
    assert set(trained) < set(marked) and trained == marked[-len(trained):]
    # One block for two assistant messages: which is the weight-0 one cannot be told.
    one_block = GEN.replace("{%- if m.role == 'assistant' %}", "{%- if m.role == 'assistant' and loop.last %}")
    with pytest.raises(TemplateError, match="cannot be told apart"):
        build_samples(tok_llama, msgs, chat_template=one_block)


def test_per_turn_sequences_are_examples_of_their_own(tok_llama, monkeypatch):
    monkeypatch.setattr(tok_llama, "chat_template", DROPS_REASONING)
    examples, skipped = tokenize_conversations(tok_llama, [Conversation(7, CHAT, None)], 512)
    assert skipped == 0 and len(examples) == 2 and {e.line for e in examples} == {7}
    assert tokenize_conversations(tok_llama, [Conversation(7, CHAT, None)], 512, history_rewriting="lastTurn")[0].__len__() == 1
    with pytest.raises(TemplateError, match="line 7"):
        tokenize_conversations(tok_llama, [Conversation(7, CHAT, None)], 512, history_rewriting="refuse")


@pytest.fixture(scope="module")
def tok_llama(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model, local_files_only=True)


def test_uses_generation_follows_transformers_test():
    assert masking._GENERATION_TAG.search("{%- generation -%}") and not masking._GENERATION_TAG.search("{{ generation }}")


def test_named_template_variant_as_the_trainer_loads_it(tmp_path):
    # A model folder with additional_chat_templates/training.jinja: trainingChatTemplate "training"
    # reaches the trainer as hyperparameters.chatTemplate and picks that variant's text.
    from lora_queue_trainer.config import ConfigError
    from lora_queue_trainer.train import Trainer
    from transformers import AutoTokenizer

    spec = DOC["models"]["qwen3"]
    src = REPO / spec["tokenizerJson"]
    if not src.exists():
        pytest.skip(f"{src} is not installed (npm ci)")
    folder = tmp_path / "qwen3"
    (folder / "additional_chat_templates").mkdir(parents=True)
    os.symlink(src, folder / "tokenizer.json")
    shutil.copy(TOKENS / spec["folder"] / "tokenizer_config.json", folder / "tokenizer_config.json")
    training = (REPO / DOC["models"]["qwen3_trl"]["trainingChatTemplate"]).read_text()
    (folder / "additional_chat_templates" / "training.jinja").write_text(training)
    tok = AutoTokenizer.from_pretrained(str(folder))
    assert Trainer._chat_template(tok, "training") == training
    assert Trainer._chat_template(tok, None) is None
    with pytest.raises(ConfigError, match="no chat template of that name"):
        Trainer._chat_template(tok, "nope")
    want = DOC["expected"]["qwen3_trl"]["multi_turn"]
    (s,) = build_samples(tok, EXAMPLES["multi_turn"]["messages"], chat_template=training)
    assert (len(s.input_ids), s.num_trained, s.rule) == (want["tokens"], want["trainable"], "generation")
