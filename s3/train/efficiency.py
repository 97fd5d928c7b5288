"""Cheaper training steps: partial fine-tuning, and log-probs of completion tokens only.

:func:`train_top_layers` trains only the top transformer blocks of a causal LM. With the lower blocks and the embeddings frozen, autograd records nothing below the first trained
block, so the backward pass (two thirds of a training step's compute) shrinks to the trained share
of the network: on a CPU this is what makes a 135M-parameter searcher trainable in minutes. The
embeddings stay frozen because most small models tie them to the output head, and a trainable
embedding would send gradients back through every block.

Example::

    trained, total = train_top_layers(model, 6)   # the last 6 blocks and the final norm

:func:`score_only_completion_tokens` keeps TRL's LM head from scoring prompt positions on devices
without Triton (the CPU), which both the GRPO and the SFT trainer do otherwise.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def decoder_blocks(model: Any) -> Any:
    """The model's list of transformer blocks (the longest ``nn.ModuleList`` in it)."""
    import torch

    lists = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList)]
    if not lists:
        raise ValueError(f"{type(model).__name__} has no list of transformer blocks to freeze")
    return max(lists, key=len)


def train_top_layers(model: Any, top: int) -> tuple[int, int]:
    """Freeze every parameter except the last ``top`` blocks and the norm that follows them.

    Returns (trainable parameters, all parameters). ``top`` at least the number of blocks trains the
    blocks and the final norm, with the embeddings and the head still frozen.
    """
    import torch

    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    blocks = decoder_blocks(model)
    for p in model.parameters():
        p.requires_grad_(False)
    for block in list(blocks)[-top:]:
        for p in block.parameters():
            p.requires_grad_(True)
    # the final norm(s): norm modules that are not inside any block
    in_blocks = {id(m) for block in blocks for m in block.modules()}
    for name, module in model.named_modules():
        is_norm = "norm" in type(module).__name__.lower() or name.split(".")[-1] in (
            "norm",
            "ln_f",
            "final_layernorm",
        )
        if is_norm and id(module) not in in_blocks and not isinstance(module, torch.nn.ModuleList):
            for p in module.parameters(recurse=False):
                p.requires_grad_(True)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    log.info(
        "training the top %d of %d blocks: %.1fM of %.1fM parameters",
        min(top, len(blocks)), len(blocks), trainable / 1e6, total / 1e6,
    )  # fmt: skip
    return trainable, total


def score_only_completion_tokens() -> None:
    """Make TRL's fused LM head score only the completion's tokens on every device.

    TRL 1.16 projects every position of the batch through the LM head when Triton is absent (it keeps
    tile shapes fixed for compiled backends such as Neuron), and masks the prompt afterwards. On a CPU
    that is most of a step: with a 49k vocabulary and 250-token prompts, scoring 30 completion tokens
    costs 10x less than scoring all 280. Scoring only the valid positions gives the same log-probs
    (the masked ones are zeroed either way); the kernel's torch fallback handles any shape.
    """
    import trl.trainer.utils as trl_utils

    use_triton = getattr(trl_utils, "_use_triton", None)
    if use_triton is None or getattr(use_triton, "s3_compact", False):
        return

    def compact_everywhere(device: Any) -> bool:
        return True

    compact_everywhere.s3_compact = True  # type: ignore[attr-defined]
    trl_utils._use_triton = compact_everywhere
