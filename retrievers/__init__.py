"""Corpora, BM25 and dense indexes, web search engines, rerankers, and the /retrieve HTTP server and client."""

from retrievers.base import Retriever
from retrievers.doc import Doc, split_contents

__all__ = ["Doc", "Retriever", "split_contents"]
