"""The ``Retriever`` contract: batch-first search returning ``Doc`` records, best first."""

from __future__ import annotations

from abc import ABC, abstractmethod

from retrievers.doc import Doc


class Retriever(ABC):
    """``search(queries, k) -> one list of Docs per query``, each sorted best first, at most ``k`` long."""

    @abstractmethod
    def search(self, queries: list[str], k: int) -> list[list[Doc]]:
        """Search a batch of queries."""

    def search_one(self, query: str, k: int) -> list[Doc]:
        """Convenience wrapper for one query."""
        return self.search([query], k)[0]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (HTTP pools, index handles)."""

    def __enter__(self) -> Retriever:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
