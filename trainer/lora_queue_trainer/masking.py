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

Which rule applies (docs/tokens.md, "The mask rules"), in order:

1. The template has ``{% generation %}`` blocks: the tokens
   ``apply_chat_template(..., return_assistant_tokens_mask=True)`` marks train
   (minus the blocks of weight-0 messages; the k-th block belongs to the k-th
   assistant message), and the sequence is that rendering.
2. The template is prefix-stable for this conversation: the prefix rule above.
3. Otherwise the template rewrites history (Qwen 3 drops earlier ``<think>``
   blocks). ``history_rewriting`` says what to do: ``"perTurn"`` (default)
   trains one sequence per trained assistant turn i, ``messages[:i+1]``
   rendered as inference renders it when turn i is the reply, with only turn i
   trained; ``"lastTurn"`` keeps the full rendering and trains only the last
   trained assistant turn; ``"refuse"`` raises the prefix rule's TemplateError.

``build_samples`` returns the sequences; the TypeScript side
(server/src/tokens/mask.ts, ``trainingSequences``) follows the same steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

IGNORE_INDEX = -100
TRAINED_ROLES = frozenset({"assistant"})
HISTORY_REWRITING = ("perTurn", "lastTurn", "refuse")
TRAINING_TEMPLATE_HINT = (
    "the template renders this turn differently once it is answered; point trainingChatTemplate at a "
    "prefix-preserving training template with {% generation %} markers (e.g. TRL's chat_templates/*_training.jinja)"
)
# transformers' own test for the tag (render_jinja_template).
_GENERATION_TAG = re.compile(r"\{\%-?\s*generation\s*-?\%\}")


class TemplateError(ValueError):
    """The chat template cannot be used to locate spans (e.g. not prefix-stable)."""


@dataclass
class MaskedSample:
    text: str
    spans: list[tuple[int, int]]  # character ranges of `text` that train
    input_ids: list[int]
    labels: list[int]
    rule: str = "prefix"  # generation | prefix | perTurn | lastTurn

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


def uses_generation(tokenizer, chat_template: str | None, tools: list | None) -> bool:
    """Whether the template apply_chat_template would use has {% generation %} blocks."""
    template = tokenizer.get_chat_template(chat_template, tools)
    return bool(_GENERATION_TAG.search(template))


def generation_spans(
    tokenizer, messages: Sequence[dict[str, Any]], chat_template: str | None = None, tools: list | None = None
) -> tuple[str, list[tuple[int, int]]]:
    """Rule 1: the rendering and the character ranges of its {% generation %}
    blocks, as apply_chat_template(return_assistant_tokens_mask=True) computes
    them, without the blocks of weight-0 assistant messages."""
    from transformers.utils.chat_template_utils import render_jinja_template

    template = tokenizer.get_chat_template(chat_template, tools)
    # apply_chat_template drops None-valued keys before rendering; so do we.
    plain = [{k: v for k, v in m.items() if v is not None} for m in messages]
    rendered, indices = render_jinja_template(
        conversations=[plain],
        tools=tools,
        chat_template=template,
        return_assistant_tokens_mask=True,
        add_generation_prompt=False,
        **tokenizer.special_tokens_map,
    )
    text, blocks = rendered[0], list(indices[0])
    assistants = [m for m in messages if m.get("role") == "assistant"]
    zero = any(m.get("weight", 1) == 0 for m in assistants)
    if zero and len(blocks) != len(assistants):
        raise TemplateError(
            f"the chat template wrote {len(blocks)} {{% generation %}} blocks for {len(assistants)} assistant "
            "messages, so the weight-0 message's block cannot be told apart"
        )
    spans = [(a, b) for k, (a, b) in enumerate(blocks) if b > a and not (zero and assistants[k].get("weight", 1) == 0)]
    return text, spans


def _last_turn(tokenizer, messages, i, chat_template, tools) -> tuple[str, list[tuple[int, int]]]:
    """messages[:i+1] as inference renders it when message i is the reply; only message i trains."""
    sub = [dict(m, weight=0) if k < i and is_trained_message(m) else m for k, m in enumerate(messages[: i + 1])]
    try:
        return find_trained_spans(tokenizer, sub, chat_template, tools)
    except TemplateError as e:
        raise TemplateError(f"{e}, even with messages[:{i + 1}] rendered on their own: {TRAINING_TEMPLATE_HINT}") from None


def training_renderings(
    tokenizer,
    messages: Sequence[dict[str, Any]],
    chat_template: str | None = None,
    tools: list | None = None,
    history_rewriting: str = "perTurn",
) -> tuple[str, list[tuple[str, list[tuple[int, int]]]]]:
    """(rule, [(text, spans), ...]): the sequences one conversation trains as."""
    if history_rewriting not in HISTORY_REWRITING:
        raise ValueError(f"history_rewriting must be one of {', '.join(HISTORY_REWRITING)}, got {history_rewriting!r}")
    if uses_generation(tokenizer, chat_template, tools):
        return "generation", [generation_spans(tokenizer, messages, chat_template, tools)]
    try:
        return "prefix", [find_trained_spans(tokenizer, messages, chat_template, tools)]
    except TemplateError:
        if history_rewriting == "refuse":
            raise
    trained = [i for i, m in enumerate(messages) if is_trained_message(m)]
    if history_rewriting == "perTurn":
        return "perTurn", [_last_turn(tokenizer, messages, i, chat_template, tools) for i in trained]
    last = trained[-1]
    text, spans = _last_turn(tokenizer, messages, last, chat_template, tools)
    full = _render(tokenizer, messages, False, chat_template, tools)
    if not full.startswith(text):
        raise TemplateError(
            f"chat template is not prefix-stable: rendering messages[:{last + 1}] is not a prefix of the full "
            'conversation, so its last turn cannot be located (historyRewriting "lastTurn")'
        )
    return "lastTurn", [(full, spans)]


def _label(tokenizer, text: str, spans: list[tuple[int, int]], rule: str, max_length: int | None) -> MaskedSample:
    # The template already contains BOS etc., so no special tokens are added
    # (this matches apply_chat_template(tokenize=True)).
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    input_ids = list(enc["input_ids"])
    labels = [IGNORE_INDEX] * len(input_ids)
    if rule == "generation":
        # transformers' own marking: from the token holding the block's first
        # character to the one holding its last.
        for a, b in spans:
            start, end = enc.char_to_token(a), enc.char_to_token(b - 1)
            if start is None:
                break
            for t in range(start, end + 1 if end else len(input_ids)):
                labels[t] = input_ids[t]
    else:
        offsets = enc["offset_mapping"]
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
    return MaskedSample(text=text, spans=spans, input_ids=input_ids, labels=labels, rule=rule)


def build_samples(
    tokenizer,
    messages: Sequence[dict[str, Any]],
    max_length: int | None = None,
    chat_template: str | None = None,
    tools: list | None = None,
    history_rewriting: str = "perTurn",
) -> list[MaskedSample]:
    """Render, tokenize and label one conversation: one sample per sequence it
    trains as (each truncated to ``max_length`` tokens)."""
    rule, renderings = training_renderings(tokenizer, messages, chat_template, tools, history_rewriting)
    return [_label(tokenizer, text, spans, rule, max_length) for text, spans in renderings]


def build_sample(
    tokenizer,
    messages: Sequence[dict[str, Any]],
    max_length: int | None = None,
    chat_template: str | None = None,
    tools: list | None = None,
    history_rewriting: str = "perTurn",
) -> MaskedSample:
    """One conversation that trains as one sequence (raises TemplateError when
    it trains as several: use build_samples)."""
    samples = build_samples(tokenizer, messages, max_length, chat_template, tools, history_rewriting)
    if len(samples) != 1:
        raise TemplateError(f"the conversation trains as {len(samples)} sequences ({samples[0].rule}); use build_samples")
    return samples[0]
