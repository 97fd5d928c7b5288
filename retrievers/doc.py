"""The ``Doc`` record: a retrieved passage that stays a record from the retriever to the generator.

Rendering documents (for the searcher's prompt, for the generator's context) is a pure function of
records; nothing ever re-parses documents out of rendered text.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Doc:
    """A passage: ``id``, ``title``, ``text``, an optional retrieval ``score`` and free-form ``meta``.

    ``contents`` is the Search-R1/FlashRAG corpus convention: the title in double quotes, a newline,
    then the text.
    """

    id: str
    title: str
    text: str
    score: float | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def contents(self) -> str:
        return f'"{self.title}"\n{self.text}'

    def with_score(self, score: float | None) -> Doc:
        return dataclasses.replace(self, score=score)

    def to_dict(self, with_score: bool = False) -> dict[str, Any]:
        """The wire/JSON form: ``id``, ``title``, ``text``, ``contents`` (and ``score`` if asked)."""
        out: dict[str, Any] = {
            "id": self.id,
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
        return cls(id=str(record.get("id", "")), title=title, text=text, score=score, meta=extra)


def split_contents(contents: str) -> tuple[str, str]:
    """Split ``'"Title"\\ntext'`` into (title without the quotes, text)."""
    first, sep, rest = contents.partition("\n")
    title = first.strip()
    if len(title) >= 2 and title[0] == '"' and title[-1] == '"':
        title = title[1:-1]
    if not sep:
        return title, ""
    return title, rest
