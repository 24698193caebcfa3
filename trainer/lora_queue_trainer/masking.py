"""Which tokens of a chat sample are trained: the training mask contract.

A token trains when it lies in the rendered span of an assistant message whose
``weight`` is not 0: the message's content and tool calls, and the end-of-turn
token that closes it. Everything else (system/user/tool/developer turns, the
assistant header, BOS, padding, assistant turns with weight 0) gets label -100.

Spans are found by rendering the model's own chat template as text on growing
prefixes of the conversation, never by pattern-matching a particular template:

* ``before`` = render(messages[:i], add_generation_prompt=True)
  ends where the assistant's reply starts (after its header);
* ``after``  = render(messages[:i+1]) ends after the turn's end-of-turn token.

The span of message i is ``[len(before), len(after))`` with trailing whitespace
trimmed (ChatML's newline after ``<|im_end|>`` belongs to no one). For templates
whose generation prompt adds nothing, or that render it differently, the start
falls back to ``len(render(messages[:i]))`` and then to where the message's
content begins inside the turn, so templates without generation markers work.

Token labels come from the tokenizer's character offsets on the full rendering:
a token trains when its character range overlaps a trained span. A token that
straddles a span boundary (rare with byte-level BPE, since headers end in
special tokens or newlines) is therefore trained.

The same function backs the trainer and the fixtures under
``test/trainer/fixtures/masking_cases.json``, which the TypeScript side uses to
check its own implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

IGNORE_INDEX = -100
TRAINED_ROLES = frozenset({"assistant"})


class TemplateError(ValueError):
    """The chat template cannot be used to locate spans (e.g. not prefix-stable)."""


@dataclass
class MaskedSample:
    text: str
    spans: list[tuple[int, int]]  # character ranges of `text` that train
    input_ids: list[int]
    labels: list[int]

    @property
    def num_trained(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE_INDEX)


def is_trained_message(message: dict[str, Any]) -> bool:
    return message.get("role") in TRAINED_ROLES and message.get("weight", 1) != 0


def _render(tokenizer, messages: Sequence[dict], add_generation_prompt: bool, chat_template: str | None,
            tools: list | None = None) -> str:
    if not messages:
        # Many templates fail on an empty conversation; the empty prefix
        # renders as nothing for our purposes.
        return ""
    # `tools` only when given, so tokenizer wrappers that inject their own keep working.
    extra = {"tools": tools} if tools is not None else {}
    text = tokenizer.apply_chat_template(
        list(messages),
        tokenize=False,
        add_generation_prompt=add_generation_prompt,
        chat_template=chat_template,
        **extra,
    )
    if not isinstance(text, str):
        raise TemplateError("apply_chat_template(tokenize=False) did not return text")
    return text


def find_trained_spans(
    tokenizer, messages: Sequence[dict[str, Any]], chat_template: str | None = None, tools: list | None = None
) -> tuple[str, list[tuple[int, int]]]:
    """Render ``messages`` (with the line's ``tools`` definitions, if any) and
    return (text, character spans that train)."""
    full = _render(tokenizer, messages, False, chat_template, tools)
    spans: list[tuple[int, int]] = []
    for i, message in enumerate(messages):
        if not is_trained_message(message):
            continue
        after = _render(tokenizer, messages[: i + 1], False, chat_template, tools)
        if not full.startswith(after):
            raise TemplateError(
                f"chat template is not prefix-stable: rendering messages[:{i + 1}] "
                "is not a prefix of the full conversation"
            )
        plain_before = _render(tokenizer, messages[:i], False, chat_template, tools)
        if not after.startswith(plain_before):
            raise TemplateError(
                f"chat template is not prefix-stable: rendering messages[:{i}] "
                f"is not a prefix of messages[:{i + 1}]"
            )
        start = len(plain_before)
        prompt_before = _render(tokenizer, messages[:i], True, chat_template, tools)
        if len(prompt_before) > len(plain_before) and after.startswith(prompt_before):
            start = len(prompt_before)
        else:
            # No usable generation prompt: skip the header by finding where the
            # content itself starts inside this turn.
            content = message.get("content")
            if isinstance(content, str) and content.strip():
                found = after.find(content.strip(), start)
                if found >= 0:
                    start = found
        end = len(after)
        while end > start and after[end - 1].isspace():
            end -= 1
        if end > start:
            spans.append((start, end))
    return full, spans


def build_sample(
    tokenizer,
    messages: Sequence[dict[str, Any]],
    max_length: int | None = None,
    chat_template: str | None = None,
    tools: list | None = None,
) -> MaskedSample:
    """Render, tokenize and label one conversation (truncated to ``max_length`` tokens)."""
    text, spans = find_trained_spans(tokenizer, messages, chat_template, tools)
    # The template already contains BOS etc., so no special tokens are added
    # (this matches apply_chat_template(tokenize=True)).
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    input_ids = list(enc["input_ids"])
    offsets = enc["offset_mapping"]
    labels = [IGNORE_INDEX] * len(input_ids)
    si = 0
    for t, (a, b) in enumerate(offsets):
        # Spans are sorted and disjoint; offsets are non-decreasing.
        while si < len(spans) and spans[si][1] <= a:
            si += 1
        if si < len(spans) and a < spans[si][1] and b > spans[si][0]:
            labels[t] = input_ids[t]
    if max_length is not None and len(input_ids) > max_length:
        input_ids = input_ids[:max_length]
        labels = labels[:max_length]
    return MaskedSample(text=text, spans=spans, input_ids=input_ids, labels=labels)
