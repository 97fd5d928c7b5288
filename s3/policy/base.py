"""The policy backend interface: the searcher's own LLM, token ids in, sampled token ids out.

A backend samples one continuation per prompt and returns the sampled token ids exactly (never
re-tokenised text) with their log-probabilities where it has them. Stop strings are a hint a backend
may honour to stop early; the rollout re-applies them in token space, so a backend that runs past a
stop string is still correct. Backends: :mod:`s3.policy.hf` (transformers ``generate``),
:mod:`s3.policy.vllm`, :mod:`s3.policy.openai` (a served model) and :mod:`s3.policy.scripted`
(replays given text; deterministic tests and demonstrations).

Example::

    policy = HFPolicy.from_pretrained("runs/searcher")
    [gen] = policy.generate([prompt_ids], max_new_tokens=500, temperature=0.0)
    gen.token_ids, gen.logprobs, gen.finish_reason
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Generation:
    """One sampled continuation.

    Attributes:
        token_ids: the sampled ids, in order (the prompt excluded).
        logprobs: one log-probability per sampled id (of the sampling distribution: logits divided by
            the temperature, before top-p), or ``None`` when the backend has none.
        finish_reason: ``"stop"`` (stop string or EOS) or ``"length"``.
    """

    token_ids: list[int]
    logprobs: list[float] | None = None
    finish_reason: str = "stop"


class PolicyBackend(ABC):
    """Samples continuations of token-id prompts; ``tokenizer`` is the model's Hugging Face tokenizer."""

    #: the tokenizer the prompts are written in (used by the rollout for templates and observations)
    tokenizer: Any = None
    #: a short name for logs and traces
    name: str = "policy"

    @abstractmethod
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
        """Sample one continuation per prompt.

        Args:
            prompts: token-id prompts.
            max_new_tokens: most tokens to sample per prompt.
            temperature: 0 means greedy.
            top_p: nucleus sampling mass.
            stop: stop strings (a hint; the rollout enforces them).
            seed: sampling seed where the backend supports one.
            meta: optional per-prompt information (``question``, ``turn``); backends may ignore it.

        Returns:
            one :class:`Generation` per prompt, in order.
        """

    @property
    def eos_token_id(self) -> int | None:
        return getattr(self.tokenizer, "eos_token_id", None)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


def shortest_prefix(tokenizer: Any, ids: Sequence[int], has_stop: Callable[[str], bool]) -> int | None:
    """Length of the shortest prefix of ``ids`` whose decoded text satisfies ``has_stop``; ``None`` if none.

    ``has_stop`` must stay true once true for longer prefixes (true of "contains a stop string"), so a
    binary search over prefix lengths finds the first one. Used to cut a turn in token space.
    """

    def check(n: int) -> bool:
        return has_stop(tokenizer.decode(list(ids[:n]), skip_special_tokens=True))

    n = len(ids)
    if n == 0 or not check(n):
        return None
    if n == 1 or not check(n - 1):  # the usual case: generation stopped right at the stop string
        return n
    lo, hi = 1, n - 1  # invariant: prefix hi has a stop
    while lo < hi:
        mid = (lo + hi) // 2
        if check(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi
