"""The common interface of everything evaluated: a *context method* turns questions into generator contexts.

s3 searchers, their ablations and every baseline (direct, CoT, naive RAG, IRCoT, Search-o1, query
rewriting, Search-R1, the oracle) implement :class:`ContextMethod`. Each returns, per question, one
:class:`ContextRecord`: the documents handed to the frozen generator, which prompt the generator
answers with, the search counts, and a JSON trace of how the context was gathered. One scorer
(:mod:`evaluation.run`) then judges all methods the same way.

Example::

    class FirstDoc(ContextMethod):
        name = "first-doc"
        def contexts(self, examples):
            return [ContextRecord(id=e.id, question=e.question, docs=[retriever.search_one(e.question, 1)[0]])
                    for e in examples]
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from retrievers.doc import Doc

#: how the frozen generator is prompted for a record: with its documents (the s3 generator prompt),
#: zero-shot from its own knowledge, or with chain-of-thought reasoning (answer extracted afterwards)
PromptKind = Literal["context", "zero-shot", "cot"]
PROMPT_KINDS: tuple[str, ...] = ("context", "zero-shot", "cot")


class Example(Protocol):
    """What a context method needs of a QA example (``s3.data.QAExample`` fits)."""

    id: str
    question: str
    golden_answers: list[str]


@dataclass
class ContextRecord:
    """The context one method gathered for one question.

    Attributes:
        id: the example id (the join key with the gold answers).
        question: the question text as asked.
        docs: the documents handed to the generator, in order (records, never rendered text).
        prompt: which generator prompt to use (see :data:`PromptKind`).
        turns: policy/LLM generations the method spent on this question (0 for static methods).
        searches: retriever calls the method issued for this question (naive RAG: 1).
        trace: a JSON-serialisable account of how the context was built (queries, selections, ...).
    """

    id: str
    question: str
    docs: list[Doc] = field(default_factory=list)
    prompt: PromptKind = "context"
    turns: int = 0
    searches: int = 0
    trace: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.prompt not in PROMPT_KINDS:
            raise ValueError(f"ContextRecord.prompt: {self.prompt!r} is not one of {list(PROMPT_KINDS)}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to ``contexts.jsonl`` (documents with their scores)."""
        return {
            "id": self.id,
            "question": self.question,
            "prompt": self.prompt,
            "turns": self.turns,
            "searches": self.searches,
            "docs": [_doc_to_json(d) for d in self.docs],
            "trace": self.trace,
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> ContextRecord:
        """Read the form written by :meth:`to_dict`; a missing field raises ``KeyError`` naming it."""
        for key in ("id", "question", "docs"):
            if key not in record:
                raise KeyError(f"context record has no {key!r} field")
        return cls(
            id=str(record["id"]),
            question=str(record["question"]),
            docs=[Doc.from_dict(d) for d in record["docs"]],
            prompt=record.get("prompt", "context"),
            turns=int(record.get("turns", 0)),
            searches=int(record.get("searches", 0)),
            trace=dict(record.get("trace") or {}),
        )


def _doc_to_json(doc: Doc) -> dict[str, Any]:
    out = doc.to_dict(with_score=True)
    out.pop("contents", None)  # derivable from title and text; keeps the files small
    return out


class ContextMethod(ABC):
    """A way of gathering the generator's context for a batch of questions.

    Subclasses set :attr:`name` and implement :meth:`contexts`. Methods must be deterministic for a
    fixed input batch (greedy decoding, fixed retrieval) so that an interrupted evaluation resumes to
    the same table.
    """

    #: the row label in result tables (overridden per instance by the evaluation spec)
    name: str = "method"

    @abstractmethod
    def contexts(self, examples: Sequence[Example]) -> list[ContextRecord]:
        """One :class:`ContextRecord` per example, in the same order."""

    def describe(self) -> dict[str, Any]:
        """The settings that determine this method's output (saved beside the results)."""
        return {"name": self.name, "class": type(self).__name__}

    def unavailable(self, examples: Sequence[Example]) -> str | None:
        """Why this method cannot run on ``examples`` (the table says so and the run goes on), or None."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release models, servers, indexes."""


def retrieval_query(example: Example) -> str:
    """What a method's first retrieval searches for: the question, or for a multiple-choice question
    its text without the options (``meta["retrieval_question"]``; MIRAGE's question-only retrieval)."""
    meta = getattr(example, "meta", None) or {}
    return str(meta.get("retrieval_question") or example.question)


def example_options(example: Example) -> dict[str, str] | None:
    """The answer options (letter -> text) of a multiple-choice example, else None."""
    meta = getattr(example, "meta", None) or {}
    options = meta.get("options")
    return dict(options) if options else None
