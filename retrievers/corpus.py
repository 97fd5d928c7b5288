"""Corpus reading: stream passages from JSONL files as ``Doc`` records.

Three row shapes are accepted, and may be mixed in one file:

* the Search-R1 / FlashRAG shape ``{"id": "0", "contents": "\\"Title\\"\\ntext"}`` (quoted title line);
* the explicit shape ``{"id": "0", "title": "Title", "text": "text"}``;
* the MedRAG / MedCorp shape ``{"id", "title", "content", "contents"}`` (``contents`` = title and
  content joined for BM25; the passage is read from ``title`` and ``content``).

Reading streams line by line (also from ``.jsonl.gz``), so a 21M-passage corpus never has to fit in
memory. Any malformed row raises :class:`CorpusError` naming the file, the line and the field.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import IO

from retrievers.doc import Doc, split_contents, stored_fields

__all__ = [
    "CorpusError",
    "batched",
    "count_docs",
    "iter_records",
    "read_corpus",
    "write_corpus",
]


class CorpusError(ValueError):
    """A corpus file that cannot be read; the message names the file, the line and the field."""

    def __init__(self, path: str | os.PathLike, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def iter_records(
    path: str | os.PathLike,
    error: Callable[[Path, int | None, str], Exception] = CorpusError,
) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, record)`` for each non-blank JSON line of ``path`` (1-based lines).

    The one strict JSONL reader of the project (corpora, QA files, question lists, training logs);
    ``.gz`` files are read transparently.

    Args:
        path: the JSONL file.
        error: builds the exception to raise from ``(path, line or None, message)``; the caller's own
            error type (``CorpusError`` by default).

    Raises:
        CorpusError (or what ``error`` builds): the file is missing, or a line is not a JSON object.
    """
    path = Path(path)
    if not path.is_file():
        raise error(path, None, "file not found")
    with _open_text(path) as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise error(path, lineno, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(record, dict):
                raise error(path, lineno, f"expected a JSON object, got {type(record).__name__}")
            yield lineno, record


def record_to_doc(record: dict, path: str | os.PathLike = "<record>", lineno: int | None = None) -> Doc:
    """Validate one corpus row and turn it into a ``Doc`` (extra columns go to ``Doc.meta``).

    Raises:
        CorpusError: a field is missing or has the wrong type.
    """
    if "id" not in record:
        raise CorpusError(path, lineno, "missing field 'id'")
    doc_id = record["id"]
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
        raise CorpusError(
            path, lineno, f"field 'id' must be a string or integer, got {type(doc_id).__name__}"
        )
    if "title" in record and "text" in record:
        title, text = record["title"], record["text"]
        for name, value in (("title", title), ("text", text)):
            if not isinstance(value, str):
                raise CorpusError(
                    path, lineno, f"field '{name}' must be a string, got {type(value).__name__}"
                )
    elif "title" in record and "content" in record:  # MedRAG snippets (MedCorp)
        title, text = record["title"], record["content"]
        for name, value in (("title", title), ("content", text)):
            if not isinstance(value, str):
                raise CorpusError(
                    path, lineno, f"field '{name}' must be a string, got {type(value).__name__}"
                )
    elif "contents" in record:
        contents = record["contents"]
        if not isinstance(contents, str):
            raise CorpusError(
                path, lineno, f"field 'contents' must be a string, got {type(contents).__name__}"
            )
        title, text = split_contents(contents)
    elif "text" in record or "title" in record:
        missing = "title" if "text" in record else "text"
        raise CorpusError(path, lineno, f"missing field '{missing}' (or give 'contents')")
    else:
        raise CorpusError(path, lineno, "missing field 'contents' (or 'title' and 'text')")
    meta = {k: v for k, v in record.items() if k not in ("id", "title", "text", "content", "contents")}
    return Doc(id=str(doc_id), title=title, text=text, meta=meta, stored=stored_fields(record, title, text))


def read_corpus(path: str | os.PathLike, *, check_unique_ids: bool = False) -> Iterator[Doc]:
    """Stream the passages of a JSONL corpus as ``Doc`` records, in file order.

    Args:
        path: a ``.jsonl`` (or ``.jsonl.gz``) file in either row shape.
        check_unique_ids: also fail on a repeated ``id`` (keeps a set of ids in memory).

    Returns:
        An iterator of ``Doc``; nothing is read until it is consumed.

    Raises:
        CorpusError: naming file, line and field of the first bad row.

    Example:
        >>> for doc in read_corpus("corpus.jsonl"):  # doctest: +SKIP
        ...     print(doc.id, doc.title)
    """
    seen: set[str] | None = set() if check_unique_ids else None
    for lineno, record in iter_records(path):
        doc = record_to_doc(record, path, lineno)
        if seen is not None:
            if doc.id in seen:
                raise CorpusError(path, lineno, f"duplicate id {doc.id!r}")
            seen.add(doc.id)
        yield doc


def count_docs(path: str | os.PathLike) -> int:
    """Count the non-blank lines of a corpus file quickly (no JSON parsing), for progress bars."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(path, None, "corpus file not found")
    opener = gzip.open if path.suffix == ".gz" else open
    count = 0
    with opener(path, "rb") as handle:
        for line in handle:
            if line.strip():
                count += 1
    return count


def batched(items: Iterable, size: int) -> Iterator[list]:
    """Group an iterable into lists of ``size`` (the last one may be shorter)."""
    if size < 1:
        raise ValueError("batch size must be >= 1")
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def write_corpus(docs: Iterable[Doc], path: str | os.PathLike, shape: str = "contents") -> int:
    """Write docs as JSONL, ``shape="contents"`` (Search-R1) or ``"title_text"``; returns the row count."""
    if shape not in ("contents", "title_text"):
        raise ValueError(f"shape must be 'contents' or 'title_text', got {shape!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for doc in docs:
            if shape == "contents":
                row = {"id": doc.id, "contents": doc.contents}
            else:
                row = {"id": doc.id, "title": doc.title, "text": doc.text}
            row.update({k: v for k, v in doc.meta.items() if k not in row})
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count
