"""The ``Doc`` record: a retrieved passage that stays a record from the retriever to the generator.

Rendering documents (for the searcher's prompt, for the generator's context) is a pure function of
records; nothing ever re-parses documents out of rendered text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Doc:
    """A passage: ``id``, ``title``, ``text``, an optional retrieval ``score`` and free-form ``meta``.

    ``contents`` is the Search-R1/FlashRAG corpus convention: the title in double quotes, a newline,
    then the text. A record read from a corpus keeps, in ``stored``, its ``id`` and ``contents`` where
    they differ from ``id`` and that convention (:func:`stored_fields`), so a server returns them as
    stored.
    """

    id: str
    title: str
    text: str
    score: float | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    #: the source record's ``id``/``contents`` where they differ from ``id`` and the convention
    stored: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def contents(self) -> str:
        return self.stored.get("contents", f'"{self.title}"\n{self.text}')

    def with_score(self, score: float | None) -> Doc:
        return dataclasses.replace(self, score=score)

    def to_dict(self, with_score: bool = False) -> dict[str, Any]:
        """The wire/JSON form: ``id``, ``title``, ``text``, ``contents`` (and ``score`` if asked)."""
        out: dict[str, Any] = {
            "id": self.stored.get("id", self.id),
            "title": self.title,
            "text": self.text,
            "contents": self.contents,
        }
        if self.meta:
            out.update({k: v for k, v in self.meta.items() if k not in out})
        if with_score and self.score is not None:
            out["score"] = self.score
        return out

    @classmethod
    def from_dict(cls, record: dict[str, Any], score: float | None = None) -> Doc:
        """Read either shape: ``{"id", "title", "text"}`` or ``{"id", "contents": '"Title"\\ntext'}``."""
        if "title" in record and "text" in record:
            title, text = str(record["title"]), str(record["text"])
        elif "contents" in record:
            title, text = split_contents(str(record["contents"]))
        else:
            raise KeyError("a document needs 'title' and 'text', or 'contents'")
        extra = {
            k: v
            for k, v in record.items()
            if k not in ("id", "title", "text", "contents", "score", "document")
        }
        if score is None and isinstance(record.get("score"), (int, float)):
            score = float(record["score"])
        return cls(
            id=str(record.get("id", "")), title=title, text=text, score=score, meta=extra,
            stored=stored_fields(record, title, text),
        )  # fmt: skip


def stored_fields(record: dict[str, Any], title: str, text: str) -> dict[str, Any]:
    """The values of ``record`` that a ``Doc`` of ``title`` and ``text`` would not reproduce: an id
    that is not a string, a ``contents`` other than ``'"title"\\ntext'`` (an unquoted title, CRLF).
    They go to ``Doc.stored`` so the record is served back byte-for-byte."""
    out: dict[str, Any] = {}
    if "id" in record and not isinstance(record["id"], str):
        out["id"] = record["id"]
    contents = record.get("contents")
    if isinstance(contents, str) and contents != f'"{title}"\n{text}':
        out["contents"] = contents
    return out


def split_contents(contents: str) -> tuple[str, str]:
    """Split ``'"Title"\\ntext'`` into (title without the quotes, text)."""
    first, sep, rest = contents.partition("\n")
    title = first.strip()
    if len(title) >= 2 and title[0] == '"' and title[-1] == '"':
        title = title[1:-1]
    if not sep:
        return title, ""
    return title, rest


def dedupe_docs(docs: Iterable[Doc], strip: bool = False) -> list[Doc]:
    """Documents in first-seen order with repeats removed: the same id (when set), or the same title and
    text (compared without surrounding whitespace when ``strip``).

    Example::

        >>> [d.id for d in dedupe_docs([Doc("1", "A", "x"), Doc("1", "A", "x"), Doc("2", "B", "y")])]
        ['1', '2']
    """
    seen_ids: set[str] = set()
    seen_content: set[tuple[str, str]] = set()
    out = []
    for doc in docs:
        content = (doc.title.strip(), doc.text.strip()) if strip else (doc.title, doc.text)
        if (doc.id and doc.id in seen_ids) or content in seen_content:
            continue
        if doc.id:
            seen_ids.add(doc.id)
        seen_content.add(content)
        out.append(doc)
    return out
