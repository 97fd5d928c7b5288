"""The one on-disk cache of paid calls: generator responses (:mod:`generators.cache`) and web search
results (:mod:`retrievers.web.cache`) are both entries of a :class:`DiskCache`.

A cache is one SQLite file in WAL mode, mapping a key (a hash the caller computes with
:func:`stable_key`) to a text value: readers never block the writer, several processes can share the
file, every thread gets its own connection, and a busy timeout absorbs short write contention. Each
entry is committed when it is written, so an interrupted run keeps what it already paid for. It lives
in ``retrievers``, the lowest package, so that ``generators`` can use it too. (The table keeps the name
and columns of the generator's response cache, its first user, so files written before stay readable.)

Example::

    cache = DiskCache("runs/cache/responses.sqlite")
    key = stable_key({"model": "qwen", "prompt": "hi"})
    cache.put_key(key, "hello", tag="qwen")
    cache.get_key(key)  # -> "hello"
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_SCHEMA = "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT, response TEXT NOT NULL)"
_MAX_VARS = 500  # stay under SQLite's bound-parameter limit in IN (...) queries


def stable_key(material: Any) -> str:
    """A SHA-256 hex digest of JSON-serialisable ``material`` (dict order does not matter)."""
    blob = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class DiskCache:
    """A thread-, task- and process-safe SQLite map from keys to text values.

    Args:
        path: the database file (created with its parent folders); an existing folder means
            ``<folder>/<default_name>``.
        timeout: seconds a writer waits for a lock held by another process before failing.
        default_name: the file name used inside a folder.
    """

    def __init__(self, path: str | Path, timeout: float = 30.0, default_name: str = "cache.sqlite") -> None:
        path = Path(path)
        if path.is_dir():
            path = path / default_name
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: dict[threading.Thread, sqlite3.Connection] = {}
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
                # threads come and go (a pool per batch): close the connections of finished ones
                for thread in [t for t in self._connections if not t.is_alive()]:
                    self._connections.pop(thread).close()
                self._connections[threading.current_thread()] = conn
        return conn

    def get_key(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""
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

    def put_key(self, key: str, value: str, tag: str = "") -> None:
        """Store ``value`` under ``key`` (replacing an earlier one); ``tag`` says what made it (a model)."""
        self.put_keys([(key, value)], tag)

    def put_keys(self, items: Sequence[tuple[str, str]], tag: str = "") -> None:
        """Store many ``(key, value)`` pairs in one transaction."""
        conn = self._conn()
        with conn:
            conn.executemany(
                "INSERT OR REPLACE INTO responses (key, model, response) VALUES (?, ?, ?)",
                [(key, tag, value) for key, value in items],
            )

    def __len__(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        """Close every connection this object opened (in any thread)."""
        with self._lock:
            for conn in self._connections.values():
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
