"""The oracle context: the gold supporting documents of each question (the headroom row of the table).

Needs examples that name their supporting documents (``supporting_doc_ids``, as the embedded task and
HotpotQA-style sets provide) and a way to look documents up by id (the corpus).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from baselines.base import ContextMethod, ContextRecord, Example, example_field
from retrievers.doc import Doc

#: example fields that may hold the gold document ids, tried in order
SUPPORT_FIELDS = ("supporting_doc_ids", "supporting_docs", "supporting_ids")


def supporting_ids(example: Any) -> list[str]:
    """The gold document ids of an example; ``ValueError`` naming the example if it has none."""
    for name in SUPPORT_FIELDS:
        ids = example_field(example, name)
        if ids:
            return [str(i.get("id") if isinstance(i, dict) else i) for i in ids]
    raise ValueError(
        f"example {getattr(example, 'id', example)!r} names no supporting documents "
        f"(looked for {list(SUPPORT_FIELDS)}); the oracle row needs them"
    )


class OracleContext(ContextMethod):
    """The gold supporting documents, in the order the example lists them.

    Args:
        lookup: document id -> ``Doc`` (a mapping, or a function returning None when unknown); None
            when the run has no corpus (the row is then skipped, saying why).
        name: the table label.

    Example::

        oracle = OracleContext.from_corpus("task/corpus.jsonl")
        oracle.contexts(examples)[0].docs     # the supporting passages
    """

    def __init__(
        self, lookup: Mapping[str, Doc] | Callable[[str], Doc | None] | None, name: str = "oracle"
    ) -> None:
        self._lookup = lookup.get if isinstance(lookup, Mapping) else lookup
        self.name = name

    @classmethod
    def from_corpus(
        cls, path: str | os.PathLike, ids: set[str] | None = None, name: str = "oracle"
    ) -> OracleContext:
        """Load the documents of a corpus file (optionally only ``ids``) into memory."""
        from retrievers.corpus import read_corpus

        docs = {d.id: d for d in read_corpus(path) if ids is None or d.id in ids}
        return cls(docs, name=name)

    def unavailable(self, examples: Sequence[Example]) -> str | None:
        """The oracle needs every example to name its supporting documents."""
        if self._lookup is None:
            return "no corpus to look the supporting documents up in (set corpus=FILE)"
        lacking = sum(not any(example_field(e, f) for f in SUPPORT_FIELDS) for e in examples)
        if lacking:
            return (
                f"{lacking} of {len(examples)} questions name no supporting documents "
                f"({', '.join(SUPPORT_FIELDS)})"
            )
        return None

    def contexts(self, examples: Sequence[Example]) -> list[ContextRecord]:
        out = []
        for e in examples:
            docs = []
            for doc_id in supporting_ids(e):
                doc = self._lookup(doc_id)
                if doc is None:
                    raise KeyError(f"example {e.id!r}: supporting document {doc_id!r} is not in the corpus")
                docs.append(doc)
            out.append(
                ContextRecord(
                    id=e.id, question=e.question, docs=docs, trace={"gold_ids": [d.id for d in docs]}
                )
            )
        return out
