"""On-disk cache of web search results keyed by (engine, query, parameters).

A training run asks the same queries many times; each web search costs money, so results are kept
on disk and reused across processes and restarts. Entries hold only the parsed results (title,
snippet, URL) and the non-secret parameters: API keys never reach the cache, neither in file
contents nor in file names (the file name is a SHA-256 of the key material).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def cache_key(engine: str, query: str, params: dict[str, Any]) -> str:
    """Stable hex digest of (engine, query, params); params must be JSON-serialisable."""
    material = json.dumps(
        {"engine": engine, "query": query, "params": params}, sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class SearchCache:
    """A directory of JSON files, one per (engine, query, params).

    Args:
        root: cache directory (created on demand).
        ttl_s: entries older than this many seconds are ignored (``None``: keep forever).

    Example:
        >>> cache = SearchCache("runs/web_cache")
        >>> cache.put("brave", "who wrote hamlet", {"k": 5}, [{"title": "...", "url": "...", "snippet": "..."}])
        >>> cache.get("brave", "who wrote hamlet", {"k": 5})[0]["title"]
        '...'
    """

    def __init__(self, root: str | os.PathLike, ttl_s: float | None = None):
        self.root = Path(root)
        self.ttl_s = ttl_s

    def _path(self, engine: str, key: str) -> Path:
        safe_engine = "".join(c if c.isalnum() or c in "-_" else "_" for c in engine)
        return self.root / safe_engine / key[:2] / f"{key}.json"

    def get(self, engine: str, query: str, params: dict[str, Any]) -> Any | None:
        """The cached value, or ``None`` when absent, expired or unreadable."""
        path = self._path(engine, cache_key(engine, query, params))
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            logger.warning("ignoring unreadable cache entry %s (%s)", path, err)
            return None
        if self.ttl_s is not None and time.time() - float(entry.get("created", 0)) > self.ttl_s:
            return None
        return entry.get("value")

    def put(self, engine: str, query: str, params: dict[str, Any], value: Any) -> None:
        """Store ``value`` atomically (write to a temporary file, then rename)."""
        path = self._path(engine, cache_key(engine, query, params))
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"engine": engine, "query": query, "params": params, "created": time.time(), "value": value}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(entry, f, ensure_ascii=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def __len__(self) -> int:
        return sum(1 for _ in self.root.rglob("*.json")) if self.root.exists() else 0
