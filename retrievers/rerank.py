"""Cross-encoder reranking: score (query, passage) pairs jointly and reorder retrieved documents.

A reranker is the cheapest accuracy gain in RAG: retrieve ``n`` candidates with a fast retriever
(BM25, dense, web), score each against the query with a cross-encoder, keep the best ``k``.
``CrossEncoderReranker`` loads any sequence-classification checkpoint (MS MARCO MiniLM, BGE
reranker, a local folder) through transformers or sentence-transformers, batches pairs across all
queries, and runs on CPU or GPU. ``RerankedRetriever`` wraps any ``Retriever`` and also exposes
``search_rerank(queries, n, k)``, which the ``/retrieve`` server calls for requests carrying
``topk_retrieval`` and ``topk_rerank``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from retrievers.base import Retriever
from retrievers.doc import Doc

logger = logging.getLogger(__name__)

BACKENDS = ("transformers", "sentence-transformers")


def default_passage(doc: Doc) -> str:
    """The passage a cross-encoder reads for ``doc``: title, newline, text."""
    return f"{doc.title}\n{doc.text}" if doc.title else doc.text


class CrossEncoderReranker:
    """Scores (query, passage) pairs with a cross-encoder; higher is more relevant.

    Args:
        model: a Hugging Face model id or local folder of a sequence-classification model with one
            output (relevance logit) or two (the last class is "relevant").
        backend: ``"transformers"`` (raw logits) or ``"sentence-transformers"`` (``CrossEncoder``,
            whose default activation is monotone, so the order is the same).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default: CUDA when available.
        batch_size: pairs per forward pass.
        max_length: tokens per pair (longer pairs are truncated, passage side first).
        passage_fn: how a ``Doc`` becomes the passage text.

    Example:
        >>> reranker = CrossEncoderReranker("cross-encoder/ms-marco-MiniLM-L-6-v2", batch_size=64)
        >>> reranker.rerank(["who wrote hamlet"], [docs], k=3)[0][0].title
    """

    def __init__(
        self,
        model: str,
        *,
        backend: str = "transformers",
        device: str | None = None,
        batch_size: int = 32,
        max_length: int = 512,
        passage_fn: Callable[[Doc], str] = default_passage,
    ):
        if backend not in BACKENDS:
            raise ValueError(f"reranker backend must be one of {BACKENDS}, got {backend!r}")
        if batch_size < 1:
            raise ValueError(f"reranker batch_size must be >= 1, got {batch_size}")
        import torch

        self.model_name = model
        self.backend = backend
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size = batch_size
        self.max_length = max_length
        self.passage_fn = passage_fn
        if backend == "sentence-transformers":
            from sentence_transformers import CrossEncoder

            self._cross_encoder = CrossEncoder(model, device=self.device, max_length=max_length)
            self.model = self._cross_encoder.model
            self.tokenizer = self._cross_encoder.tokenizer
        else:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.model = AutoModelForSequenceClassification.from_pretrained(model).to(self.device).eval()
        # Never feed more tokens than the model has positions for (a pair past it would fail).
        limits = [max_length, getattr(self.model.config, "max_position_embeddings", None)]
        limits.append(getattr(self.tokenizer, "model_max_length", None))
        self.max_length = min(int(x) for x in limits if x and x < 1_000_000)
        if backend == "sentence-transformers":
            self._cross_encoder.max_length = self.max_length
        if self.model.config.num_labels not in (1, 2):
            raise ValueError(
                f"reranker {model!r}: expected a model with 1 or 2 output labels, "
                f"got num_labels={self.model.config.num_labels}"
            )

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Relevance score of each (query, passage) pair, computed ``batch_size`` pairs at a time."""
        if not pairs:
            return []
        if self.backend == "sentence-transformers":
            scores = self._cross_encoder.predict(
                [list(p) for p in pairs],
                batch_size=self.batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
            )
            scores = scores[:, -1] if scores.ndim == 2 else scores
            return [float(s) for s in scores]
        import torch

        out: list[float] = []
        with torch.inference_mode():
            for start in range(0, len(pairs), self.batch_size):
                batch = pairs[start : start + self.batch_size]
                encoded = self.tokenizer(
                    [q for q, _ in batch],
                    [p for _, p in batch],
                    padding=True,
                    truncation="only_second",
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                logits = self.model(**encoded).logits
                out.extend(logits[:, -1].float().cpu().tolist())
        return out

    def score(self, query: str, docs: Sequence[Doc]) -> list[float]:
        """Scores of ``docs`` for one query."""
        return self.score_pairs([(query, self.passage_fn(d)) for d in docs])

    def rerank(
        self, queries: Sequence[str], docs: Sequence[Sequence[Doc]], k: int | None = None
    ) -> list[list[Doc]]:
        """Reorder each query's documents by score (best first), keep ``k``; Docs carry the new score.

        All pairs of all queries are scored together, so batches stay full. Ties keep the input
        order (the stable sort preserves the first retriever's ranking).
        """
        if len(queries) != len(docs):
            raise ValueError(f"rerank: {len(queries)} queries but {len(docs)} document lists")
        pairs = [(q, self.passage_fn(d)) for q, ds in zip(queries, docs) for d in ds]
        scores = self.score_pairs(pairs)
        out: list[list[Doc]] = []
        pos = 0
        for ds in docs:
            scored = [(scores[pos + i], i, d) for i, d in enumerate(ds)]
            pos += len(ds)
            scored.sort(key=lambda t: (-t[0], t[1]))
            kept = scored if k is None else scored[:k]
            out.append([d.with_score(s) for s, _, d in kept])
        return out


class RerankedRetriever(Retriever):
    """Retrieve ``n`` candidates with ``base``, rerank them, keep the best ``k``.

    Args:
        base: any retriever (BM25, dense, HTTP client, web engine, fusion).
        reranker: a ``CrossEncoderReranker`` (anything with ``rerank(queries, docs, k)``).
        n: candidates retrieved per query (the reference rerank server's ``topk_retrieval``).
        k: documents kept per query when ``search_rerank`` gets no ``k`` (``topk_rerank``).

    Example:
        >>> reranked = RerankedRetriever(bm25, CrossEncoderReranker("BAAI/bge-reranker-base"), n=50, k=5)
        >>> reranked.search(["who wrote hamlet"], k=5)
    """

    def __init__(self, base: Retriever, reranker: Any, n: int = 50, k: int = 5):
        if n < 1 or k < 1:
            raise ValueError(f"RerankedRetriever: n and k must be >= 1, got n={n}, k={k}")
        self.base = base
        self.reranker = reranker
        self.n = n
        self.k = k

    def search(self, queries: list[str], k: int) -> list[list[Doc]]:
        """The best ``k`` of ``max(n, k)`` candidates per query, by reranker score."""
        return self.search_rerank(queries, n=max(self.n, k), k=k)

    def search_rerank(
        self, queries: list[str], n: int | None = None, k: int | None = None
    ) -> list[list[Doc]]:
        """Retrieve ``n`` (default ``self.n``), rerank, keep ``k`` (default ``self.k``)."""
        n = self.n if n is None else n
        k = self.k if k is None else k
        if k <= 0:
            return [[] for _ in queries]
        candidates = self.base.search(list(queries), max(n, 1))
        return self.reranker.rerank(list(queries), candidates, k)

    def close(self) -> None:
        self.base.close()


def build_reranked_retriever(
    spec: dict[str, Any], load_retriever: Callable[..., Retriever]
) -> RerankedRetriever:
    """Build from ``{"kind": "rerank", "base": {...}, "model": ..., "n": 50, "k": 5, ...}``.

    ``base`` is the spec of the retriever to rerank (a dict, an index directory or a ``/retrieve``
    URL, opened with ``load_retriever``: :func:`retrievers.factory.load_retriever`, which passes itself); ``model``,
    ``backend``, ``device``, ``batch_size`` and ``max_length`` configure the cross-encoder.
    """
    options = dict(spec)
    options.pop("kind", None)
    if "base" not in options or "model" not in options:
        raise ValueError(
            "retriever kind 'rerank' needs 'base' (a retriever spec) and 'model' (a cross-encoder)"
        )
    base_spec = options.pop("base")
    # Overrides a server applies to the top-level spec (``--threads``, ``--corpus``) concern the base.
    passed_down = {key: options.pop(key) for key in ("threads", "corpus") if key in options}
    base = load_retriever(base_spec, **passed_down) if passed_down else load_retriever(base_spec)
    reranker_keys = ("backend", "device", "batch_size", "max_length")
    reranker = CrossEncoderReranker(
        options.pop("model"), **{k: options.pop(k) for k in reranker_keys if k in options}
    )
    try:
        return RerankedRetriever(base, reranker, **options)
    except TypeError as err:
        raise ValueError(f"retriever kind 'rerank': bad option ({err})") from None
