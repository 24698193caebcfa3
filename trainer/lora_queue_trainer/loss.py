"""The training loss: summed next-token cross-entropy over the trained tokens, three ways.

* ``full``: the model's logits for every position (batch × sequence × vocabulary), then the
  cross-entropy in fp32. What transformers computes; the reference.
* ``chunked``: the decoder's last hidden states, kept only at the positions that train (a chat
  dataset masks most tokens), then the output projection and the cross-entropy a chunk of
  ``CHUNK_TOKENS`` positions at a time, each chunk under activation checkpointing, so at most one
  chunk's logits exist at once, in the forward pass and in the backward pass. The same sum (tested
  to 1e-5 on the CPU), without the batch × sequence × vocabulary tensor: with Llama 3's 128k
  vocabulary that tensor is 1 GiB in fp32 for 2,048 tokens.
* ``fused``: Liger's fused linear cross-entropy (``liger-kernel``, CUDA and Triton) on the same
  selected positions, where it is installed and the device is CUDA; otherwise ``chunked``, and the
  trainer says so.

Both shortcuts need the logits to be a plain linear map of the last hidden state. A model whose
forward changes them (Gemma 2's ``final_logit_softcapping``, Cohere's ``logit_scale``) falls back to
``full``, with a note.
"""

from __future__ import annotations

from typing import Any, Optional

IGNORE_INDEX = -100
CHUNK_TOKENS = 1024
LOSS_MODES = ("full", "chunked", "fused")


def _plain_head(model) -> Optional[str]:
    """Why the logits are not ``lm_head(hidden)`` for this model (None when they are)."""
    cfg = getattr(model, "config", None)
    for key in ("final_logit_softcapping", "logit_scale", "output_multiplier_scale", "logits_scaling"):
        value = getattr(cfg, key, None)
        if value not in (None, 1, 1.0):
            return f"the model's config sets {key}={value}"
    return None


def resolve_mode(requested: str, model, device_type: str) -> tuple[str, Optional[str]]:
    """The loss actually used for ``requested`` on this model and device, and a note when it differs."""
    if requested == "full":
        return "full", None
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    why = _plain_head(base)
    if why is not None:
        return "full", f"loss {requested!r} needs logits that are lm_head(hidden states), but {why}: using 'full'"
    if not hasattr(base, "get_decoder") or base.get_output_embeddings() is None:
        return "full", f"loss {requested!r}: {type(base).__name__} has no separate decoder and output layer: using 'full'"
    if requested == "fused":
        if device_type != "cuda":
            return "chunked", "loss 'fused' (Liger) needs CUDA: using 'chunked', the same sum"
        try:
            import liger_kernel.transformers.fused_linear_cross_entropy  # noqa: F401
        except Exception as e:  # not installed, or no Triton
            return "chunked", f"loss 'fused' needs liger-kernel ({type(e).__name__}: {e}): using 'chunked', the same sum"
    return requested, None


def _shifted(labels):
    import torch.nn.functional as F

    # Shift the labels, not the logits: slicing the logits copies the whole batch x tokens x
    # vocabulary tensor (and its gradient on backward). Same loss, as transformers computes it;
    # measured with bench/trainer/loss_shift.py.
    return F.pad(labels, (0, 1), value=IGNORE_INDEX)[:, 1:]


def loss_sum(model, mode: str, ids, labels, attn, position_ids=None, autocast: Optional[dict[str, Any]] = None,
             chunk_tokens: int = CHUNK_TOKENS):
    """Summed cross-entropy (fp32) over the positions whose next token trains."""
    import contextlib

    import torch
    import torch.nn.functional as F

    def ctx():
        return torch.autocast(**autocast) if autocast else contextlib.nullcontext()

    shift = _shifted(labels)
    if mode == "full":
        with ctx():
            logits = model(input_ids=ids, attention_mask=attn, position_ids=position_ids).logits
        return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), shift.reshape(-1),
                               ignore_index=IGNORE_INDEX, reduction="sum")

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = base.get_output_embeddings()
    with ctx():
        hidden = base.get_decoder()(input_ids=ids, attention_mask=attn, position_ids=position_ids).last_hidden_state
    keep = shift.reshape(-1) != IGNORE_INDEX
    h = hidden.reshape(-1, hidden.size(-1))[keep]
    y = shift.reshape(-1)[keep]
    if mode == "fused":
        from liger_kernel.transformers.fused_linear_cross_entropy import LigerFusedLinearCrossEntropyLoss

        return LigerFusedLinearCrossEntropyLoss(reduction="sum")(head.weight, h, y, getattr(head, "bias", None)).float()

    def chunk_loss(hc, yc):
        with ctx():
            logits = head(hc)
        return F.cross_entropy(logits.float(), yc, reduction="sum")

    from torch.utils.checkpoint import checkpoint

    total = h.new_zeros((), dtype=torch.float32)
    for i in range(0, h.size(0), chunk_tokens):
        # Checkpointed: the chunk's logits are recomputed in the backward pass instead of kept.
        total = total + checkpoint(chunk_loss, h[i:i + chunk_tokens], y[i:i + chunk_tokens], use_reentrant=False)
    return total
