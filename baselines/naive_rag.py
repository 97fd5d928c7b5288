"""Naive RAG: the top-k documents for the raw question (k=3 as in the paper), BM25 or dense.

The retriever decides the flavour: RAG-BM25 with a BM25 retriever, RAG-E5 with a dense one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from baselines.base import ContextMethod, ContextRecord, Example
from evaluation.contexts import retrieval_query
from retrievers.base import Retriever


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
        hits = self.retriever.search(queries, self.k)
        return [
            ContextRecord(
                id=e.id,
                question=e.question,
                docs=list(docs[: self.k]),
                searches=1,
                trace={"queries": [query], "retrieved": [[d.id for d in docs]]},
            )
            for e, query, docs in zip(examples, queries, hits)
        ]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "k": self.k, "retriever": self.retriever_name}
