"""Chat JSONL loading, validation, tokenization, batching and packing."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .masking import IGNORE_INDEX, TemplateError, build_samples

ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})


class DataError(ValueError):
    """Bad dataset content (error kind ``data``); the message names the line."""


@dataclass
class Conversation:
    line: int  # 1-based line number in the JSONL file
    messages: list[dict[str, Any]]
    tools: Optional[list] = None  # function definitions passed to the chat template


def _check_message(lineno: int, idx: int, m: Any) -> None:
    where = f"line {lineno}: messages[{idx}]"
    if not isinstance(m, dict):
        raise DataError(f"{where} must be an object")
    role = m.get("role")
    if role not in ROLES:
        raise DataError(f"{where}.role must be one of {', '.join(sorted(ROLES))}, got {role!r}")
    content = m.get("content")
    has_calls = bool(m.get("tool_calls"))
    if content is None:
        if not (role == "assistant" and has_calls):
            raise DataError(f"{where}.content is missing")
    elif not isinstance(content, str):
        raise DataError(f"{where}.content must be a string")
    if "weight" in m and (isinstance(m["weight"], bool) or m["weight"] not in (0, 1)):
        raise DataError(f"{where}.weight must be 0 or 1, got {m['weight']!r}")
    if "tool_calls" in m and m["tool_calls"] is not None:
        calls = m["tool_calls"]
        if role != "assistant":
            raise DataError(f"{where}.tool_calls is only allowed on assistant messages")
        if not isinstance(calls, list):
            raise DataError(f"{where}.tool_calls must be a list")
        for j, c in enumerate(calls):
            fn = c.get("function", c) if isinstance(c, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                raise DataError(f"{where}.tool_calls[{j}] must have a function name")
    for key in ("tool_call_id", "name"):
        if key in m and m[key] is not None and not isinstance(m[key], str):
            raise DataError(f"{where}.{key} must be a string")


def load_conversations(path: str) -> list[Conversation]:
    try:
        fh = open(path, encoding="utf-8")
    except OSError as e:
        raise DataError(f"cannot open dataset {path}: {e}") from None
    out: list[Conversation] = []
    with fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue  # blank lines (e.g. a trailing newline) carry nothing
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"line {lineno}: invalid JSON: {e.msg} (column {e.colno})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("messages"), list) or not obj["messages"]:
                raise DataError(f'line {lineno}: expected an object with a non-empty "messages" list')
            for idx, m in enumerate(obj["messages"]):
                _check_message(lineno, idx, m)
            tools = obj.get("tools")
            if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)):
                raise DataError(f'line {lineno}: "tools" must be a list of objects')
            out.append(Conversation(lineno, obj["messages"], tools or None))
    if not out:
        raise DataError(f"dataset {path} has no conversations")
    return out


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    line: int
    # For a packed row: the lengths of the examples in it, in order (their positions restart at 0
    # at each, and attention never crosses from one to another). None: one example.
    segments: Optional[list[int]] = None


def tokenize_conversations(
    tokenizer,
    conversations: list[Conversation],
    max_length: int,
    progress: Optional[Callable[[int, int], None]] = None,
    chat_template: Optional[str] = None,
    history_rewriting: str = "perTurn",
) -> tuple[list[Example], int]:
    """Returns (examples with at least one trained token, number skipped).

    A conversation may train as several sequences (``perTurn``, for a template
    that rewrites history): each is an example of its own."""
    examples: list[Example] = []
    skipped = 0
    for i, conv in enumerate(conversations):
        try:
            samples = build_samples(tokenizer, conv.messages, max_length=max_length, chat_template=chat_template,
                                    tools=conv.tools, history_rewriting=history_rewriting)
        except TemplateError as e:
            raise TemplateError(f"line {conv.line}: {e}") from None
        except Exception as e:  # the template raised on this conversation's content
            raise DataError(f"line {conv.line}: chat template failed: {e}") from None
        kept = [s for s in samples if s.num_trained]
        if not kept:
            # Nothing to learn (no weighted assistant turn, or truncated away).
            skipped += 1
        for s in kept:
            examples.append(Example(s.input_ids, s.labels, conv.line))
        if progress is not None and (i + 1) % 200 == 0:
            progress(i + 1, len(conversations))
    return examples, skipped


def pack_examples(examples: list[Example], max_length: int) -> list[Example]:
    """Greedy padding-free packing in dataset order: whole examples concatenated into rows of at
    most ``max_length`` tokens, each row remembering its examples' lengths. ``collate`` turns them
    into position ids that restart at every example, from which transformers builds a
    block-diagonal causal mask (SDPA, eager) or variable-length attention (flash-attention): an
    example never attends to the one before it, so a packed row trains exactly as its examples
    would one by one (test_packing.py)."""
    rows: list[Example] = []
    cur_ids: list[int] = []
    cur_labels: list[int] = []
    segments: list[int] = []
    first_line = 0
    for ex in examples:
        if cur_ids and len(cur_ids) + len(ex.input_ids) > max_length:
            rows.append(Example(cur_ids, cur_labels, first_line, segments))
            cur_ids, cur_labels, segments = [], [], []
        if not cur_ids:
            first_line = ex.line
        cur_ids = cur_ids + ex.input_ids
        # The last token of an example is not trained to predict the next example's first token:
        # that label is the next example's own first label, always masked (BOS/header never train).
        cur_labels = cur_labels + ex.labels
        segments.append(len(ex.input_ids))
    if cur_ids:
        rows.append(Example(cur_ids, cur_labels, first_line, segments))
    return rows


def collate(batch: list[Example], pad_id: int):
    """(input ids, labels, attention mask, position ids) of a batch. Rows of single examples are
    right-padded and masked by the attention mask (position ids None: the model counts them).
    A batch with packed rows has no attention mask but position ids that restart at 0 at every
    example and at the padding, so each example, and the padding, is a block of its own."""
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    packed = any(e.segments is not None for e in batch)
    attn = None if packed else torch.zeros((len(batch), width), dtype=torch.long)
    pos = torch.zeros((len(batch), width), dtype=torch.long) if packed else None
    for r, e in enumerate(batch):
        n = len(e.input_ids)
        ids[r, :n] = torch.tensor(e.input_ids, dtype=torch.long)
        labels[r, :n] = torch.tensor(e.labels, dtype=torch.long)
        if attn is not None:
            attn[r, :n] = 1
        if pos is not None:
            at = 0
            for length in (e.segments or [n]) + ([width - n] if width > n else []):
                pos[r, at:at + length] = torch.arange(length)
                at += length
    return ids, labels, attn, pos


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """Deterministic shuffle per (seed, epoch) so a resumed run sees the same order."""
    import torch

    g = torch.Generator()
    g.manual_seed(seed * 1000003 + epoch)
    return torch.randperm(n, generator=g).tolist()


def batches_per_epoch(n_examples: int, batch_size: int) -> int:
    return math.ceil(n_examples / batch_size)
