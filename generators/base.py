"""The ``Generator`` contract: the frozen black box whose accuracy is s3's reward.

Batch-first and concurrent: ``generate(requests) -> list[str]`` takes chat requests (lists of
``{"role", "content"}`` messages); ``answer(question, docs)`` and ``answer_batch`` render the
answer-with-context prompt of :mod:`generators.prompts` and return the answer text.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from generators.prompts import answer_with_context
from retrievers.doc import Doc

Message = dict[str, str]
ChatRequest = list[Message]


@dataclass
class SamplingParams:
    """Sampling for a generator call (greedy by default: the generator is judged, not explored)."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 64
    stop: list[str] = field(default_factory=list)
    seed: int | None = None

    def key(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "stop": list(self.stop),
            "seed": self.seed,
        }


def pair_contexts(questions: Sequence[str], contexts: Sequence[list[Doc]]) -> list[tuple[str, list[Doc]]]:
    """The ``(question, documents)`` pairs of a batch answer call.

    Raises:
        ValueError: ``questions`` and ``contexts`` differ in length (a silent ``zip`` would drop answers).
    """
    if len(questions) != len(contexts):
        raise ValueError(f"{len(questions)} questions but {len(contexts)} contexts")
    return list(zip(questions, contexts))


def answer_requests(questions: Sequence[str], contexts: Sequence[list[Doc]]) -> list[ChatRequest]:
    """The answer-with-context chat request of each question and its documents (see :func:`pair_contexts`)."""
    return [answer_with_context(q, docs) for q, docs in pair_contexts(questions, contexts)]


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """Truncate at the first stop string; some servers keep the stop string in the output, some drop it."""
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut]


class Generator(ABC):
    """A frozen LLM: batch-first; subclasses implement :meth:`generate`."""

    #: a stable name used in cache keys and reports
    name: str = "generator"
    #: sampling used when a call passes none (set from config by ``generators.factory``)
    default_sampling: SamplingParams | None = None

    def resolve_sampling(self, sampling: SamplingParams | None) -> SamplingParams:
        """The sampling of a call: the given one, else this generator's default, else greedy defaults."""
        return sampling or self.default_sampling or SamplingParams()

    @abstractmethod
    def generate(self, requests: list[ChatRequest], sampling: SamplingParams | None = None) -> list[str]:
        """Answer every chat request (concurrently where the backend allows), in order."""

    async def agenerate(
        self, requests: list[ChatRequest], sampling: SamplingParams | None = None
    ) -> list[str]:
        """Async :meth:`generate` for callers inside an event loop (async reward functions).

        The default runs :meth:`generate` in a worker thread; network clients override it natively.
        """
        return await asyncio.to_thread(self.generate, requests, sampling)

    def answer_batch(
        self,
        questions: list[str],
        contexts: list[list[Doc]],
        sampling: SamplingParams | None = None,
    ) -> list[str]:
        """Answer each question from its documents with the answer-with-context prompt."""
        return self.generate(answer_requests(questions, contexts), sampling)

    async def aanswer_batch(
        self,
        questions: list[str],
        contexts: list[list[Doc]],
        sampling: SamplingParams | None = None,
    ) -> list[str]:
        """Async :meth:`answer_batch`."""
        return await self.agenerate(answer_requests(questions, contexts), sampling)

    def answer(self, question: str, docs: list[Doc], sampling: SamplingParams | None = None) -> str:
        """Answer one question from ``docs``."""
        return self.answer_batch([question], [docs], sampling)[0]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""
