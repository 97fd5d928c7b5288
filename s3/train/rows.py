"""Question rows (a file written by ``s3 precompute``) and episodes run over them.

A row carries ``question``, ``golden_answers`` and usually ``initial_docs`` (the naive-RAG documents);
training, held-out scoring and demonstrations all read rows and run the rollout over them here.

Example::

    rows = load_rows("runs/pre/train.jsonl", limit=100)
    trajectories = run_rows(policy, rows, retriever, protocol, EpisodeConfig(), RolloutConfig.greedy())
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from retrievers.corpus import CorpusError, iter_records
from retrievers.doc import Doc
from s3.config import ConfigError
from s3.episode import EpisodeConfig
from s3.rollout import RolloutConfig, RolloutStats, Trajectory, run_rollout


def load_rows(path: str, limit: int = 0) -> list[dict[str, Any]]:
    """Questions from a file written by ``s3 precompute`` (``question``, ``golden_answers``, ``initial_docs``).

    Repeated questions keep their first row (the rollout finds a row by its question text).

    Raises:
        ConfigError: a missing file or a row without the needed fields, naming the file and line.
    """
    rows: dict[str, dict[str, Any]] = {}
    try:
        for lineno, row in iter_records(path):
            for key in ("question", "golden_answers"):
                if key not in row:
                    raise ConfigError(f"{path}:{lineno}: missing field {key!r}")
            if isinstance(row["golden_answers"], str):
                row["golden_answers"] = [row["golden_answers"]]
            rows.setdefault(row["question"], row)
            if limit and len(rows) >= limit:
                break
    except CorpusError as exc:
        if exc.line is None:
            raise ConfigError(f"{path}: training file not found (run `s3 precompute` first)") from None
        raise ConfigError(str(exc)) from None
    if not rows:
        raise ConfigError(f"{path}: no questions")
    return list(rows.values())


def row_initial_docs(row: dict[str, Any]) -> list[Doc] | None:
    """The naive-RAG documents stored with a row, or ``None`` (the rollout then retrieves them)."""
    docs = row.get("initial_docs")
    return None if docs is None else [Doc.from_dict(d) for d in docs]


def rows_initial_docs(rows: Sequence[dict[str, Any]]) -> list[list[Doc]] | None:
    """Every row's stored documents, or ``None`` when a row has none (the rollout retrieves for all)."""
    initial = [row_initial_docs(r) for r in rows]
    return None if any(d is None for d in initial) else initial  # type: ignore[return-value]


def run_rows(
    policy: Any,
    rows: Sequence[dict[str, Any]],
    retriever: Any,
    protocol: Any,
    episode_cfg: EpisodeConfig,
    rollout_cfg: RolloutConfig,
    stats: RolloutStats | None = None,
) -> list[Trajectory]:
    """One episode per row (from its stored documents when every row has them), in order."""
    questions = [r["question"] for r in rows]
    return run_rollout(
        policy, retriever, protocol, questions, rows_initial_docs(rows), episode_cfg, rollout_cfg, stats
    )
