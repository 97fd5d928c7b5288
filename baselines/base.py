"""What every baseline shares: the context-method interface (re-exported) and small helpers.

The interface itself lives in :mod:`evaluation.contexts` so that the evaluation run needs nothing
from ``baselines`` or ``s3``; baselines subclass :class:`ContextMethod` and return one
:class:`ContextRecord` per question.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from evaluation.contexts import ContextMethod, ContextRecord, Example
from generators.base import Generator, SamplingParams
from retrievers.doc import dedupe_docs as dedup_docs

__all__ = [
    "ContextMethod",
    "ContextRecord",
    "Example",
    "dedup_docs",
    "example_field",
    "reasoner_name",
    "sampling_dict",
    "parse_json_query",
]


def example_field(example: Any, name: str, default: Any = None) -> Any:
    """Read ``name`` from an example object, its ``meta``/``extra`` mapping, or a dict example."""
    if isinstance(example, dict):
        return example.get(name, default)
    if hasattr(example, name):
        return getattr(example, name)
    for holder in ("meta", "extra", "metadata"):
        data = getattr(example, holder, None)
        if isinstance(data, dict) and name in data:
            return data[name]
    return default


def reasoner_name(generator: Generator) -> str:
    """A stable label for the LLM a baseline reasons with (saved in the run's settings)."""
    return str(getattr(generator, "name", type(generator).__name__))


def sampling_dict(sampling: SamplingParams) -> dict[str, Any]:
    return sampling.key()


_JSON_OBJ = re.compile(r"\{.*?\}", re.DOTALL)


def parse_json_query(text: str) -> str | None:
    """The ``"query"`` of the first JSON object in ``text`` that has one; None if there is none.

    Example::

        >>> parse_json_query('<answer>{"query": "capital of France"}</answer>')
        'capital of France'
    """
    for m in _JSON_OBJ.finditer(text):
        try:
            obj = json.loads(m.group())
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("query"), str) and obj["query"].strip():
            return obj["query"].strip()
    return None


def questions_of(examples: Sequence[Example]) -> list[str]:
    return [e.question for e in examples]
