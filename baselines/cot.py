"""Chain of thought: no retrieval; the frozen generator reasons step by step and its answer is extracted.

The reasoning happens inside the generator call of the evaluation (prompt kind ``"cot"``,
:func:`generators.prompts.chain_of_thought`; answer pulled out with
:func:`generators.prompts.extract_cot_answer`), as in the paper, where CoT is the generator's own.
"""

from __future__ import annotations

from collections.abc import Sequence

from baselines.base import ContextMethod, ContextRecord, Example


class ChainOfThought(ContextMethod):
    """No documents; the generator gets the chain-of-thought prompt."""

    name = "cot"

    def contexts(self, examples: Sequence[Example]) -> list[ContextRecord]:
        return [ContextRecord(id=e.id, question=e.question, prompt="cot") for e in examples]
