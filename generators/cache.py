"""On-disk response cache for generator calls, keyed by (model, messages, sampling parameters).

A rerun of the same evaluation or precompute then costs no generator calls. The store is one SQLite
file in WAL mode: readers never block the writer, several processes can share it, every thread gets
its own connection, and a busy timeout absorbs short write contention. Each response is committed
when it arrives, so an interrupted run keeps what it already paid for.

Example::

    cache = ResponseCache("runs/cache/responses.sqlite")
    cache.put("qwen", [{"role": "user", "content": "hi"}], SamplingParams(), "hello")
    cache.get("qwen", [{"role": "user", "content": "hi"}], SamplingParams())  # -> "hello"
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from generators.base import ChatRequest, SamplingParams

_SCHEMA = "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT, response TEXT NOT NULL)"
_MAX_VARS = 500  # stay under SQLite's bound-parameter limit in IN (...) queries


def _sampling_dict(sampling: SamplingParams | dict[str, Any] | None) -> dict[str, Any]:
    if sampling is None:
        return SamplingParams().key()
    if isinstance(sampling, SamplingParams):
        return sampling.key()
    return dict(sampling)


def cache_key(
    model: str,
    messages: ChatRequest,
    sampling: SamplingParams | dict[str, Any] | None,
    extra: dict[str, Any] | None = None,
) -> str:
    """A stable hash of everything that decides a response: model, messages, sampling, extra body."""
    payload = {
        "model": model,
        "messages": messages,
        "sampling": _sampling_dict(sampling),
        "extra": extra or {},
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """A thread-, task- and process-safe SQLite cache of generator responses.

    Args:
        path: the database file (created with its parent folders); an existing folder means
            ``<folder>/responses.sqlite``.
        timeout: seconds a writer waits for a lock held by another process before failing.
    """

    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        path = Path(path)
        if path.is_dir():
            path = path / "responses.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(_SCHEMA)
        conn.commit()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.timeout, check_same_thread=False)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    # -- by key

    def get_key(self, key: str) -> str | None:
        row = self._conn().execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def get_keys(self, keys: Sequence[str]) -> list[str | None]:
        """Look up many keys at once; None for each miss."""
        found: dict[str, str] = {}
        conn = self._conn()
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _MAX_VARS):
            chunk = unique[start : start + _MAX_VARS]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(f"SELECT key, response FROM responses WHERE key IN ({marks})", chunk)
            found.update(rows.fetchall())
        return [found.get(k) for k in keys]

    def put_key(self, key: str, response: str, model: str = "") -> None:
        conn = self._conn()
        with conn:
            conn.execute(
                "INSERT OR REPLACE INTO responses (key, model, response) VALUES (?, ?, ?)",
                (key, model, response),
            )

    # -- by (model, messages, sampling)

    def get(
        self,
        model: str,
        messages: ChatRequest,
        sampling: SamplingParams | dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str | None:
        """The cached response for this call, or None."""
        return self.get_key(cache_key(model, messages, sampling, extra))

    def get_many(
        self,
        model: str,
        requests: Sequence[ChatRequest],
        sampling: SamplingParams | dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> list[str | None]:
        """Cached responses for many requests with the same model and sampling (None for misses)."""
        return self.get_keys([cache_key(model, r, sampling, extra) for r in requests])

    def put(
        self,
        model: str,
        messages: ChatRequest,
        sampling: SamplingParams | dict[str, Any] | None,
        response: str,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Store one response (replacing any earlier one for the same call)."""
        self.put_key(cache_key(model, messages, sampling, extra), response, model)

    def put_many(
        self,
        model: str,
        requests: Sequence[ChatRequest],
        sampling: SamplingParams | dict[str, Any] | None,
        responses: Sequence[str],
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Store many responses in one transaction."""
        if len(requests) != len(responses):
            raise ValueError(f"{len(requests)} requests but {len(responses)} responses")
        rows = [(cache_key(model, r, sampling, extra), model, t) for r, t in zip(requests, responses)]
        conn = self._conn()
        with conn:
            conn.executemany("INSERT OR REPLACE INTO responses (key, model, response) VALUES (?, ?, ?)", rows)

    def __len__(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        """Close every connection this object opened (in any thread)."""
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
