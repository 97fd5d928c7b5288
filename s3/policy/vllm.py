"""Policy backend on vLLM's offline engine (GPU; ``pip install 's3-search-agent[vllm]'``).

Written against vLLM's documented API (``LLM.generate`` with ``TokensPrompt`` and ``SamplingParams``);
it cannot be installed or run on a machine without CUDA, so it is not exercised by the test suite.
For training, the trainer's own vLLM engine is used instead (see ``s3.training``).

Log-probs: vLLM returns the raw model's log-probs by default; the transformers backend returns those
of the temperature-scaled distribution. Pass ``logprobs_mode="processed_logprobs"`` to
``from_pretrained`` (an ``LLM`` argument in recent vLLM) where the two must agree.

Example::

    policy = VLLMPolicy.from_pretrained("runs/searcher", gpu_memory_utilization=0.5)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from s3.policy.base import Generation, PolicyBackend

log = logging.getLogger(__name__)


class VLLMPolicy(PolicyBackend):
    """A vLLM ``LLM`` as the searcher; returns sampled ids with their log-probs."""

    name = "vllm"

    def __init__(self, llm: Any, tokenizer: Any):
        self.llm = llm
        self.tokenizer = tokenizer

    @classmethod
    def from_pretrained(cls, path: str, **llm_kwargs: Any) -> VLLMPolicy:
        """Start ``vllm.LLM(model=path, **llm_kwargs)`` (e.g. ``tensor_parallel_size``, ``dtype``)."""
        try:
            from vllm import LLM
        except ImportError as exc:
            raise ImportError(
                "the vllm backend needs vLLM on a CUDA machine: pip install 's3-search-agent[vllm]'"
            ) from exc
        llm_kwargs.pop("device", None)
        llm = LLM(model=path, **llm_kwargs)
        return cls(llm, llm.get_tokenizer())

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        *,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
        meta: Sequence[dict[str, Any]] | None = None,
    ) -> list[Generation]:
        if not prompts:
            return []
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(
            n=1,
            max_tokens=max_new_tokens,
            temperature=max(0.0, temperature),
            top_p=top_p if temperature > 0 else 1.0,
            stop=list(stop) or None,
            include_stop_str_in_output=True,
            logprobs=0,  # the sampled token's own log-prob
            seed=seed,
        )
        outputs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=list(p)) for p in prompts], params, use_tqdm=False
        )
        gens = []
        for out in outputs:
            comp = out.outputs[0]
            ids = list(comp.token_ids)
            logprobs = None
            if comp.logprobs is not None:
                logprobs = [float(step[tid].logprob) for step, tid in zip(comp.logprobs, ids)]
            gens.append(Generation(ids, logprobs, "length" if comp.finish_reason == "length" else "stop"))
        return gens
