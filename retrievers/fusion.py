"""Reciprocal rank fusion (RRF) of several retrievers, itself a ``Retriever``.

RRF (Cormack, Clarke and Buettcher, SIGIR 2009) merges rankings without comparing their scores:
a document's fused score is the sum over rankings of ``weight / (c + rank)``, with ``rank`` counted
from 1 and the constant ``c`` (60 in the paper) damping the head of each list. A document missing
from a ranking gets nothing from it. It combines, for example, BM25 and a dense index, or a local
corpus and a web engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from retrievers.base import Retriever
from retrievers.doc import Doc

RRF_C = 60


def doc_key(doc: Doc) -> str:
    """Identity of a document across rankings: its id, else its contents."""
    return doc.id or doc.contents


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Doc]],
    *,
    c: float = RRF_C,
    weights: Sequence[float] | None = None,
    k: int | None = None,
) -> list[Doc]:
    """Fuse rankings (each best first) into one list, best first, with ``score`` = fused score.

    Ties are broken by the best single rank a document reached, then by first appearance (earlier
    ranking, then higher position), so the result is deterministic. A document that appears in
    several rankings keeps the record of its first appearance. A repeated document within one
    ranking counts once, at its best rank.

    Example:
        >>> fused = reciprocal_rank_fusion([bm25_docs, dense_docs], c=60, k=5)
    """
    if weights is not None and len(weights) != len(rankings):
        raise ValueError(f"rrf: {len(weights)} weights for {len(rankings)} rankings")
    if c < 0:
        raise ValueError(f"rrf: the constant c must be >= 0, got {c}")
    scores: dict[str, float] = {}
    best_rank: dict[str, int] = {}
    first_seen: dict[str, tuple[int, int]] = {}
    records: dict[str, Doc] = {}
    for i, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else float(weights[i])
        counted: set[str] = set()
        for rank, doc in enumerate(ranking, start=1):
            key = doc_key(doc)
            if key in counted:
                continue
            counted.add(key)
            scores[key] = scores.get(key, 0.0) + weight / (c + rank)
            best_rank[key] = min(best_rank.get(key, rank), rank)
            if key not in first_seen:
                first_seen[key] = (i, rank)
                records[key] = doc
    order = sorted(scores, key=lambda key: (-scores[key], best_rank[key], first_seen[key]))
    if k is not None:
        order = order[:k]
    return [records[key].with_score(scores[key]) for key in order]


class FusionRetriever(Retriever):
    """Search every retriever and fuse their rankings with RRF.

    Args:
        retrievers: the retrievers to fuse.
        c: the RRF constant (60 in the original paper).
        weights: one weight per retriever (default 1 each).
        depth: documents requested from each retriever (default: the ``k`` asked for).

    Example:
        >>> hybrid = FusionRetriever([bm25, dense], depth=50)
        >>> hybrid.search(["who wrote hamlet"], k=5)
    """

    def __init__(
        self,
        retrievers: Sequence[Retriever],
        *,
        c: float = RRF_C,
        weights: Sequence[float] | None = None,
        depth: int | None = None,
    ):
        if not retrievers:
            raise ValueError("FusionRetriever needs at least one retriever")
        if weights is not None and len(weights) != len(retrievers):
            raise ValueError(f"FusionRetriever: {len(weights)} weights for {len(retrievers)} retrievers")
        self.retrievers = list(retrievers)
        self.c = c
        self.weights = list(weights) if weights is not None else None
        self.depth = depth

    def search(self, queries: list[str], k: int) -> list[list[Doc]]:
        if k <= 0:
            return [[] for _ in queries]
        depth = max(k, self.depth or 0)
        per_retriever = [r.search(list(queries), depth) for r in self.retrievers]
        return [
            reciprocal_rank_fusion(
                [results[q] for results in per_retriever], c=self.c, weights=self.weights, k=k
            )
            for q in range(len(queries))
        ]

    def close(self) -> None:
        for r in self.retrievers:
            r.close()


def build_fusion_retriever(spec: dict[str, Any], load_retriever: Callable[..., Retriever]) -> FusionRetriever:
    """Build from ``{"kind": "fusion", "retrievers": [{...}, {...}], "c": 60, "weights": [...], "depth": 50}``;
    each entry of ``retrievers`` is opened with ``load_retriever`` (:func:`retrievers.factory.load_retriever`
    passes itself)."""
    options = dict(spec)
    options.pop("kind", None)
    subs = options.pop("retrievers", None)
    if not isinstance(subs, list) or not subs:
        raise ValueError("retriever kind 'fusion' needs 'retrievers': a non-empty list of retriever specs")
    try:
        return FusionRetriever([load_retriever(s) for s in subs], **options)
    except TypeError as err:
        raise ValueError(f"retriever kind 'fusion': bad option ({err})") from None
