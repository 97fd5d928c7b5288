"""Scripted demonstrations of the ideal search on the embedded task (for SFT warm-starts and tests).

The ideal behaviour is deliberately simple, so that a tiny searcher can learn it:

- 1-hop question, answer passage among the initial documents: select it and stop.
- 2-hop question: select the first-hop passage from the initial documents, search for the bridge
  entity's name (the last words of the first-hop passage's first or second sentence), select the
  answer passage from the results and stop.

:func:`demonstration_turns` runs that script against a real retriever and returns structured
:class:`DemoTurn` records (what the policy writes, and the documents the environment answers with);
``DemoTurn.text`` renders a turn in s3's tag language.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from retrievers.base import Retriever
from retrievers.doc import Doc


@dataclass
class DemoTurn:
    """One policy turn of a demonstration.

    Attributes:
        selected: 1-based ids chosen from the latest information window (``[]`` = none of them;
            ``None`` = the turn makes no selection).
        complete: whether the turn ends the search.
        query: the search query (``None`` when the turn completes).
        results: the documents the retriever returned for ``query`` (the next information window).
    """

    selected: list[int] | None
    complete: bool
    query: str | None = None
    results: list[Doc] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The turn in s3's tags: ``<important_info>``, ``<search_complete>``, then ``<query>``."""
        parts = []
        if self.selected is not None:
            parts.append(f"<important_info>{json.dumps(self.selected)}</important_info>")
        parts.append(f"<search_complete>{self.complete}</search_complete>")
        if self.query is not None:
            parts.append(f"<query>{json.dumps({'query': self.query}, ensure_ascii=False)}</query>")
        return "\n".join(parts)


@dataclass
class SearchPlan:
    """The ground truth of one question: which passages matter and what to search for."""

    supporting_doc_ids: list[str]
    answer_doc_id: str
    ideal_queries: list[str]
    subject: str | None

    @classmethod
    def of(cls, example: Any) -> SearchPlan:
        """Read the plan from a task row (dict) or a :class:`s3.data.QAExample` (its ``meta``)."""
        row: Mapping[str, Any] = example if isinstance(example, Mapping) else {**example.meta}
        if "supporting_doc_ids" not in row:
            raise KeyError("not an embedded-task example: no 'supporting_doc_ids' (build it with s3.task)")
        return cls(
            supporting_doc_ids=[str(i) for i in row["supporting_doc_ids"]],
            answer_doc_id=str(row["answer_doc_id"]),
            ideal_queries=list(row.get("ideal_queries") or []),
            subject=row.get("subject"),
        )


def _positions(docs: Sequence[Doc], wanted: set[str]) -> list[int]:
    return [i for i, d in enumerate(docs, start=1) if d.id in wanted]


def demonstration_turns(
    example: Any,
    initial_docs: Sequence[Doc],
    retriever: Retriever,
    k: int = 8,
    max_searches: int = 3,
) -> list[DemoTurn]:
    """The ideal search for one embedded-task question, run against ``retriever``.

    Args:
        example: a task row or :class:`s3.data.QAExample` with the task's ground truth.
        initial_docs: the naive-RAG documents the searcher starts from.
        retriever: the retriever the searcher uses (results come from it, not from the ground truth).
        k: documents per search.
        max_searches: give up (and stop) after this many searches.

    Returns:
        The policy turns in order; the last one has ``complete=True``.

    Example::

        turns = demonstration_turns(row, initial_docs, bm25, k=8)
        "".join(t.text for t in turns)
    """
    plan = SearchPlan.of(example)
    needed = set(plan.supporting_doc_ids)
    turns: list[DemoTurn] = []
    window = list(initial_docs)
    have: set[str] = set()
    queries = list(plan.ideal_queries)
    # a supporting passage missing from the start is fetched by the subject's name first
    if needed - {d.id for d in window} - {plan.answer_doc_id} and plan.subject:
        queries.insert(0, plan.subject)
    if plan.answer_doc_id not in {d.id for d in window} and not queries and plan.subject:
        queries.append(plan.subject)
    while True:
        picked = _positions(window, needed - have)
        have |= {window[i - 1].id for i in picked}
        if needed <= have or not queries or len(turns) >= max_searches:
            turns.append(DemoTurn(picked, True))
            return turns
        query = queries.pop(0)
        results = retriever.search([query], k)[0]
        turns.append(DemoTurn(picked, False, query, results))
        window = results
