"""Append-only JSONL records that a killed run resumes: the one reader and writer that precompute's
naive-RAG cache, evaluation's contexts and answers, ``s3 search --output`` and the training log share.
It lives in ``evaluation``, the lowest package that writes such a run, so evaluation imports nothing
from ``s3``.

A run appends one JSON object per line and flushes it; a kill can leave the last line torn (no
newline, or not valid JSON). Reading drops that line and, with ``repair``, cuts it off the file, so
the next append starts on a fresh line instead of being glued to the fragment. A bad line anywhere
else is corruption, not an interruption: it raises :class:`RecordsError` naming the file and line.

Example::

    done = {r["id"] for r in read_records(path)}
    append_records(path, [{"id": "q7", "answer": "Paris"}])
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class RecordsError(ValueError):
    """A records file with a broken line before its last one."""


def read_records(path: str | os.PathLike, repair: bool = True) -> list[dict[str, Any]]:
    """The records of ``path`` in file order (``[]`` if it does not exist).

    Args:
        repair: truncate a torn last line off the file (a resuming writer must; a reader need not).

    Raises:
        RecordsError: a line other than the last is not a JSON object.
    """
    path = Path(path)
    if not path.is_file():
        return []
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    records: list[dict[str, Any]] = []
    good_end = 0
    for lineno, raw in enumerate(lines, start=1):
        try:
            if not raw.endswith(b"\n"):
                raise ValueError("no newline at the end: the write was interrupted")
            record = json.loads(raw) if raw.strip() else None
            if record is not None and not isinstance(record, dict):
                raise ValueError(f"a JSON {type(record).__name__}, not an object")
        except ValueError as exc:
            if lineno == len(lines):
                log.warning(
                    "%s:%d: dropping a torn last line (%d bytes) from an interrupted run",
                    path,
                    lineno,
                    len(raw),
                )
                break
            raise RecordsError(f"{path}:{lineno}: corrupt line ({exc}); fix or delete the file") from None
        if record is not None:
            records.append(record)
        good_end += len(raw)
    if repair and good_end < len(data):
        with open(path, "r+b") as f:
            f.truncate(good_end)
    return records


def append_records(path: str | os.PathLike, records: Sequence[dict[str, Any]]) -> None:
    """Append ``records`` as JSON lines and flush them to disk before returning."""
    if not records:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
        f.flush()
        os.fsync(f.fileno())
