"""Training-mask contract (lora_queue_trainer.masking) on the real Llama 3 tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lora_queue_trainer.masking import IGNORE_INDEX, TemplateError, build_sample, find_trained_spans

FIXTURE = Path(__file__).parent / "fixtures" / "masking_cases.json"
CASES = json.loads(FIXTURE.read_text())["cases"]

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# A template with no generation prompt at all: the header can only be told
# from the content by locating the content.
NO_GEN_PROMPT = "{% for m in messages %}[{{ m['role'] }}]: {{ m['content'] }}</s>{% endfor %}"


@pytest.fixture(scope="module")
def tok(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model, local_files_only=True)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(tok, case):
    s = build_sample(tok, case["messages"])
    assert s.text == case["rendered"]
    assert [s.text[a:b] for a, b in s.spans] == case["trained_segments"]
    assert [list(x) for x in s.spans] == case["spans_codepoints"]
    assert s.input_ids == case["input_ids"]
    assert s.labels == case["labels"]


def trained_text(tok, s) -> str:
    return tok.decode([t for t, lab in zip(s.input_ids, s.labels, strict=True) if lab != IGNORE_INDEX])


def test_end_of_turn_token_trained_header_not(tok):
    s = build_sample(tok, CASES[0]["messages"])
    eot = tok.convert_tokens_to_ids("<|eot_id|>")
    header_end = tok.convert_tokens_to_ids("<|end_header_id|>")
    trained = [t for t, lab in zip(s.input_ids, s.labels, strict=True) if lab != IGNORE_INDEX]
    assert trained[-1] == eot
    assert header_end not in trained
    assert trained_text(tok, s) == "Hello there!<|eot_id|>"
    # Only the assistant turn's eot trains, not those closing system/user turns.
    assert s.input_ids.count(eot) == 3 and trained.count(eot) == 1
    # BOS never trains.
    assert s.labels[0] == IGNORE_INDEX


def test_weight_zero_masked_and_labels_equal_ids(tok):
    case = next(c for c in CASES if c["name"] == "weight_zero_masked")
    s = build_sample(tok, case["messages"])
    assert "Berlin" not in trained_text(tok, s)
    assert trained_text(tok, s) == "Paris.<|eot_id|>"
    assert all(lab in (IGNORE_INDEX, t) for t, lab in zip(s.input_ids, s.labels, strict=True))


def test_tool_calls_trained_tool_results_not(tok):
    case = next(c for c in CASES if c["name"] == "tool_call_only")
    text = trained_text(tok, build_sample(tok, case["messages"]))
    assert '"get_weather"' in text and '"city": "Paris"' in text
    assert "18C, sunny" not in text  # the tool's answer is input, not output


def test_no_trained_turn_has_no_labels(tok):
    case = next(c for c in CASES if c["name"] == "no_trained_turn")
    assert build_sample(tok, case["messages"]).num_trained == 0


def test_truncation_keeps_prefix(tok):
    full = build_sample(tok, CASES[0]["messages"])
    cut = build_sample(tok, CASES[0]["messages"], max_length=10)
    assert cut.input_ids == full.input_ids[:10] and cut.labels == full.labels[:10]


def test_chatml_trailing_newline_not_trained(tok):
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    text, spans = find_trained_spans(tok, msgs, chat_template=CHATML)
    assert [text[a:b] for a, b in spans] == ["yo<|im_end|>"]


def test_template_without_generation_prompt(tok):
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello you"},
            {"role": "user", "content": "bye"}, {"role": "assistant", "content": "bye now"}]
    text, spans = find_trained_spans(tok, msgs, chat_template=NO_GEN_PROMPT)
    assert [text[a:b] for a, b in spans] == ["hello you</s>", "bye now</s>"]


def test_non_prefix_stable_template_rejected(tok):
    # Renders the message count up front, so a prefix renders differently.
    unstable = "{{ messages|length }}{% for m in messages %}{{ m['role'] }}:{{ m['content'] }};{% endfor %}"
    msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"}]
    with pytest.raises(TemplateError):
        find_trained_spans(tok, msgs, chat_template=unstable)


def test_tools_reach_every_rendering(tok):
    # Headers end in a newline: Llama 3's pre-tokenizer would glue a lone ">" to
    # the next word, and a token straddling the span start trains.
    template = ("{% if tools %}TOOLS {{ tools | tojson }}\n{% endif %}"
                "{% for m in messages %}<{{ m['role'] }}>\n{{ m['content'] }}</s>{% endfor %}"
                "{% if add_generation_prompt %}<assistant>\n{% endif %}")
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    msgs = [{"role": "user", "content": "Weather?"}, {"role": "assistant", "content": "Sunny."}]
    s = build_sample(tok, msgs, chat_template=template, tools=tools)
    assert s.text.startswith('TOOLS [{"type": "function"')
    assert [s.text[a:b] for a, b in s.spans] == ["Sunny.</s>"]
    assert trained_text(tok, s) == "Sunny.</s>"
