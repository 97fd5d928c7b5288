"""Direct inference: no retrieval, the frozen generator answers from its own knowledge (zero-shot prompt)."""

from __future__ import annotations

from collections.abc import Sequence

from baselines.base import ContextMethod, ContextRecord, Example


class DirectAnswer(ContextMethod):
    """No documents; the generator gets the zero-shot prompt.

    Example::

        DirectAnswer().contexts(examples)[0].docs   # []
    """

    name = "direct"

    def contexts(self, examples: Sequence[Example]) -> list[ContextRecord]:
        return [ContextRecord(id=e.id, question=e.question, prompt="zero-shot") for e in examples]
