"""IRCoT: interleave chain-of-thought steps with retrieval; each new reasoning step is the next query.

Following the setting the s3 paper compares against: the top-k documents for the question first;
then, up to ``max_steps`` times, a reasoning LLM writes the next step of its reasoning given the
passages so far and ends it with ``<search_complete>Yes</search_complete>`` (enough to answer) or
``No``; the step text (without the tag) retrieves k more documents. Every document gathered goes to
the frozen generator, in the order found, without repeats. All questions of a batch advance together:
one batched LLM call and one batched search per step.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from baselines.base import ContextMethod, ContextRecord, Example, dedup_docs, reasoner_name
from generators.base import ChatRequest, Generator, SamplingParams
from generators.prompts import render_context
from retrievers.base import Retriever

_STEP_SYSTEM = (
    "You work towards the answer to a question one reasoning step at a time, using the passages "
    "provided. Write only the next step: one or two sentences that state a fact from the passages or "
    "name what still has to be found out. Finish the step with <search_complete>Yes</search_complete> "
    "if the passages now hold everything needed to answer, otherwise with "
    "<search_complete>No</search_complete>."
)

_COMPLETE = re.compile(r"<search_complete>\s*(.*?)\s*(?:</search_complete>|$)", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"</?[a-z_]+>", re.IGNORECASE)


def ircot_request(question: str, docs: Sequence[Any], steps: Sequence[str]) -> ChatRequest:
    """The reasoning-step prompt: passages, question and the steps written so far."""
    user = f"Passages:\n{render_context(list(docs))}\n\nQuestion: {question}\n"
    if steps:
        user += "Reasoning so far:\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1)) + "\n"
    user += "Next step:"
    return [{"role": "system", "content": _STEP_SYSTEM}, {"role": "user", "content": user}]


def parse_step(reply: str) -> tuple[str, bool]:
    """Split a reply into (step text without tags, whether it declared the search complete)."""
    m = _COMPLETE.search(reply)
    complete = bool(m) and m.group(1).strip().lower().startswith(("yes", "true", "1"))
    text = reply[: m.start()] if m else reply
    text = " ".join(_TAG.sub(" ", text).split())
    return text, complete


class IRCoT(ContextMethod):
    """Interleaved retrieval and chain-of-thought (Trivedi et al., 2023), as configured in the s3 paper.

    Args:
        reasoner: the LLM that writes the reasoning steps (any :class:`~generators.base.Generator`).
        retriever: the search backend.
        k: documents per retrieval (3).
        max_steps: reasoning steps at most (4).
        sampling: the reasoner's sampling (greedy by default, so evaluation is deterministic).

    Example::

        IRCoT(OpenAIGenerator("qwen2.5-7b-instruct", url), bm25).contexts(examples)
    """

    name = "ircot"

    def __init__(
        self,
        reasoner: Generator,
        retriever: Retriever,
        k: int = 3,
        max_steps: int = 4,
        sampling: SamplingParams | None = None,
    ):
        self.reasoner = reasoner
        self.retriever = retriever
        self.k = k
        self.max_steps = max_steps
        self.sampling = sampling or SamplingParams(temperature=0.0, max_tokens=128)

    def contexts(self, examples: Sequence[Example]) -> list[ContextRecord]:
        questions = [e.question for e in examples]
        docs = [list(d) for d in self.retriever.search(questions, self.k)]
        queries = [[q] for q in questions]
        steps: list[list[str]] = [[] for _ in examples]
        active = list(range(len(examples)))
        for _ in range(self.max_steps):
            if not active:
                break
            replies = self.reasoner.generate(
                [ircot_request(questions[i], docs[i], steps[i]) for i in active], self.sampling
            )
            searching = []
            for i, reply in zip(active, replies):
                text, complete = parse_step(reply)
                steps[i].append(text)
                if not complete and text:
                    searching.append(i)
            if searching:
                hits = self.retriever.search([steps[i][-1] for i in searching], self.k)
                for i, found in zip(searching, hits):
                    queries[i].append(steps[i][-1])
                    docs[i] = dedup_docs(docs[i] + list(found))
            active = searching
        return [
            ContextRecord(
                id=e.id,
                question=e.question,
                docs=dedup_docs(docs[i]),
                turns=len(steps[i]),
                searches=len(queries[i]),
                trace={"queries": queries[i], "steps": steps[i]},
            )
            for i, e in enumerate(examples)
        ]

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "reasoner": reasoner_name(self.reasoner),
            "k": self.k,
            "max_steps": self.max_steps,
            "sampling": self.sampling.key(),
        }
