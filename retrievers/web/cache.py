"""On-disk cache of web search results keyed by (engine, query, parameters).

A training run asks the same queries many times; each web search costs money, so results are kept
on disk and reused across processes and restarts. The store is the library's one disk cache
(:class:`retrievers.disk_cache.DiskCache`, a SQLite file ``search.sqlite`` in the cache folder).
Entries hold only the parsed results (title, snippet, URL) and the non-secret parameters: API keys
never reach the cache (the key of an entry is a SHA-256 of the engine, query and parameters).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from retrievers.disk_cache import DiskCache, stable_key

logger = logging.getLogger(__name__)

#: the cache file inside a cache folder
CACHE_FILE = "search.sqlite"


def cache_key(engine: str, query: str, params: dict[str, Any]) -> str:
    """Stable hex digest of (engine, query, params); params must be JSON-serialisable."""
    return stable_key({"engine": engine, "query": query, "params": params})


class SearchCache:
    """Web search results on disk, one entry per (engine, query, params).

    Args:
        root: cache folder (created on demand); the entries live in ``root/search.sqlite``.
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
        self.store = DiskCache(self.root / CACHE_FILE)

    def get(self, engine: str, query: str, params: dict[str, Any]) -> Any | None:
        """The cached value, or ``None`` when absent, expired or unreadable."""
        key = cache_key(engine, query, params)
        raw = self.store.get_key(key)
        if raw is None:
            return None
        try:
            entry = json.loads(raw)
        except ValueError as err:
            logger.warning("ignoring unreadable cache entry %s in %s (%s)", key, self.store.path, err)
            return None
        if self.ttl_s is not None and time.time() - float(entry.get("created", 0)) > self.ttl_s:
            return None
        return entry.get("value")

    def put(self, engine: str, query: str, params: dict[str, Any], value: Any) -> None:
        """Store ``value`` (committed at once)."""
        entry = {"engine": engine, "query": query, "params": params, "created": time.time(), "value": value}
        self.store.put_key(cache_key(engine, query, params), json.dumps(entry, ensure_ascii=False), engine)

    def __len__(self) -> int:
        return len(self.store)

    def close(self) -> None:
        self.store.close()
