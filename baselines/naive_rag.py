"""Naive RAG: the top-k documents for the raw question (k=3 as in the paper), BM25 or dense.

The retriever decides the flavour: RAG-BM25 with a BM25 retriever, RAG-E5 with a dense one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from baselines.base import ContextMethod, ContextRecord, Example
from evaluation.contexts import retrieval_query
from retrievers.base import Retriever
from retrievers.doc import Doc


def search_once(
    retriever: Retriever,
    examples: Sequence[Example],
    queries: Sequence[str],
    k: int,
    turns: int = 0,
    trace: Callable[[int, list[Doc]], dict[str, Any]] | None = None,
) -> list[ContextRecord]:
    """One search per question: the top ``k`` documents for ``queries[i]`` are the context of ``examples[i]``.

    Args:
        turns: LLM generations spent per question (a query rewriter: 1).
        trace: ``trace(i, docs)``, the trace of question ``i`` given its retrieved documents; default:
            the query and the retrieved ids.
    """
    hits = retriever.search(list(queries), k)
    return [
        ContextRecord(
            id=e.id,
            question=e.question,
            docs=list(docs[:k]),
            turns=turns,
            searches=1,
            trace=trace(i, docs) if trace else {"queries": [queries[i]], "retrieved": [[d.id for d in docs]]},
        )
        for i, (e, docs) in enumerate(zip(examples, hits))
    ]


class NaiveRAG(ContextMethod):
    """One retrieval per question with the question itself as the query; the top ``k`` go to the generator.

    Args:
        retriever: any :class:`~retrievers.base.Retriever`.
        k: documents per question (3 in the paper's static-RAG rows).
        name: the table label (e.g. ``"rag-bm25"``, ``"rag-e5"``).

    Example::

        NaiveRAG(bm25, k=3).contexts(examples)[0].docs   # the top-3 BM25 hits
    """

    def __init__(self, retriever: Retriever, k: int = 3, name: str = "naive-rag", retriever_name: str = ""):
        if k < 1:
            raise ValueError(f"NaiveRAG.k must be >= 1, got {k}")
        self.retriever = retriever
        self.k = k
        self.name = name
        self.retriever_name = retriever_name or type(retriever).__name__

    def contexts(self, examples: Sequence[Example]) -> list[ContextRecord]:
        queries = [retrieval_query(e) for e in examples]  # multiple choice: without the options
        return search_once(self.retriever, examples, queries, self.k)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "k": self.k, "retriever": self.retriever_name}
