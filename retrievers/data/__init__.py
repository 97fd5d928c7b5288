"""The bundled sample corpus (original short encyclopedia-style passages) and sample questions.

``sample_corpus.jsonl`` holds ``{"id", "contents"}`` rows (ids are row numbers); ``sample_queries.jsonl``
holds ``{"question", "golden_answers", "doc_id"}`` rows whose answer is in passage ``doc_id``.
"""

from __future__ import annotations

import json
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def sample_corpus_path() -> Path:
    """Path of the bundled sample corpus (JSONL, Search-R1 ``{"id", "contents"}`` shape)."""
    return _HERE / "sample_corpus.jsonl"


def sample_queries_path() -> Path:
    """Path of the bundled sample questions (JSONL ``{"question", "golden_answers", "doc_id"}``)."""
    return _HERE / "sample_queries.jsonl"


def sample_queries() -> list[dict]:
    """The sample questions as dicts."""
    with open(sample_queries_path(), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
