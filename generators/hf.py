"""A local frozen generator on Hugging Face transformers: batched generation with the chat template.

For small generators on one machine (and for tests with tiny models). Requests are rendered with the
model's chat template, sorted by length and generated in left-padded batches (decoder-only models
continue from the right edge, so padding goes on the left); answers come back in request order,
truncated at stop strings.

Example::

    gen = TransformersGenerator("Qwen/Qwen2.5-0.5B-Instruct", device="cuda", batch_size=16)
    gen.answer("Who wrote Hamlet?", docs)
"""

from __future__ import annotations

import logging
from typing import Any

from generators.base import ChatRequest, Generator, SamplingParams, cut_at_stop

log = logging.getLogger(__name__)


class TransformersGenerator(Generator):
    """Frozen generator running a causal LM in this process.

    Args:
        model_path: a local folder or hub name (``from_pretrained``).
        device: torch device, e.g. ``"cpu"`` or ``"cuda:0"``.
        batch_size: requests per ``generate`` call.
        dtype: torch dtype name or object (``"float32"``, ``"bfloat16"``, ``"auto"``).
        trust_remote_code: passed to ``from_pretrained``.
    """

    def __init__(
        self,
        model_path: str,
        device: str = "cpu",
        batch_size: int = 8,
        dtype: Any = "float32",
        trust_remote_code: bool = False,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model_path = str(model_path)
        self.device = device
        self.batch_size = batch_size
        self.name = f"transformers:{self.model_path}"
        if isinstance(dtype, str) and dtype != "auto":
            if not hasattr(torch, dtype):
                raise ValueError(f"unknown dtype {dtype!r} (use e.g. 'float32', 'bfloat16' or 'auto')")
            dtype = getattr(torch, dtype)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path, trust_remote_code=trust_remote_code)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(f"{self.model_path}: the tokenizer has no chat template")
        self.model = AutoModelForCausalLM.from_pretrained(
            self.model_path, dtype=dtype, trust_remote_code=trust_remote_code
        ).to(device)
        self.model.eval()

    def _render(self, request: ChatRequest) -> str:
        return self.tokenizer.apply_chat_template(request, tokenize=False, add_generation_prompt=True)

    def generate(self, requests: list[ChatRequest], sampling: SamplingParams | None = None) -> list[str]:
        """Answer every request in left-padded batches; greedy when ``temperature == 0``."""
        import torch

        sampling = self.resolve_sampling(sampling)
        if not requests:
            return []
        texts = [self._render(r) for r in requests]
        lengths = [len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        greedy = sampling.temperature <= 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": sampling.max_tokens,
            "do_sample": not greedy,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if greedy:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p)
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        out: list[str] = [""] * len(texts)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            enc = self.tokenizer(
                [texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(self.device)
            with torch.inference_mode():
                gen = self.model.generate(**enc, **kwargs)
            new_tokens = gen[:, enc["input_ids"].shape[1] :]
            decoded = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            for i, text in zip(idx, decoded):
                out[i] = cut_at_stop(text, sampling.stop)
        return out
