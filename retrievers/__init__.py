"""Corpora, BM25 and dense indexes, web search engines, rerankers, and the /retrieve HTTP server and client."""

from retrievers.base import Retriever
from retrievers.doc import Doc, split_contents

__all__ = [
    "Doc",
    "Retriever",
    "split_contents",
    "build_index",
    "load_retriever",
    "read_corpus",
    "CorpusError",
    "BM25Retriever",
    "HTTPRetriever",
    "RetrieverUnavailable",
]

# Heavy parts are imported on first use so that ``import retrievers`` stays light (no torch/faiss).
_LAZY = {
    "build_index": "retrievers.factory",
    "load_retriever": "retrievers.factory",
    "read_corpus": "retrievers.corpus",
    "CorpusError": "retrievers.corpus",
    "BM25Retriever": "retrievers.bm25",
    "HTTPRetriever": "retrievers.client",
    "RetrieverUnavailable": "retrievers.client",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'retrievers' has no attribute {name!r}")
