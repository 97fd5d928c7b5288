"""s3: train and use search agents for RAG (a searcher LLM that gathers evidence for a frozen generator).

``from s3 import Searcher`` is the inference entry point; it is imported lazily, so ``import s3``
stays light (no torch, no transformers).

Example::

    from s3 import Searcher
    searcher = Searcher.from_pretrained("runs/searcher", retriever="bm25:idx/")
    result = searcher.search("Who wrote the novel the film was based on?")
    result.documents
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Searcher": "s3.searcher",
    "SearchResult": "s3.searcher",
    "SearcherConfig": "s3.searcher",
    "EpisodeConfig": "s3.episode",
    "RolloutConfig": "s3.rollout",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 's3' has no attribute {name!r}")
