"""The one disk cache: generator responses and web search results are entries of the same SQLite store."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from generators.base import SamplingParams
from generators.cache import ResponseCache, cache_key
from retrievers.disk_cache import DiskCache, stable_key
from retrievers.web.cache import CACHE_FILE, SearchCache


def test_stable_key_ignores_dict_order_and_sees_every_value():
    assert stable_key({"a": 1, "b": [1, 2]}) == stable_key({"b": [1, 2], "a": 1})
    assert stable_key({"a": 1, "b": [1, 2]}) != stable_key({"a": 1, "b": [2, 1]})
    assert len(stable_key("x")) == 64


def test_both_caches_are_the_same_store(tmp_path):
    responses = ResponseCache(tmp_path / "responses.sqlite")
    responses.put("m", [{"role": "user", "content": "hi"}], SamplingParams(), "hello")
    search = SearchCache(tmp_path / "web")
    search.put("brave", "who wrote hamlet", {"k": 2}, [{"title": "Hamlet", "url": "u", "snippet": "s"}])
    assert search.get("brave", "who wrote hamlet", {"k": 2}) == [
        {"title": "Hamlet", "url": "u", "snippet": "s"}
    ]
    assert search.get("brave", "who wrote hamlet", {"k": 3}) is None and len(search) == 1
    # the same schema in both files, read back through the plain store
    for cache, path in ((responses, tmp_path / "responses.sqlite"), (search, tmp_path / "web" / CACHE_FILE)):
        cache.close()
        tables = sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        assert tables == [("responses",)]
    key = cache_key("m", [{"role": "user", "content": "hi"}], SamplingParams())
    assert DiskCache(tmp_path / "responses.sqlite").get_key(key) == "hello"


def test_search_cache_expires_and_skips_unreadable_entries(tmp_path, monkeypatch):
    cache = SearchCache(tmp_path, ttl_s=60)
    cache.put("serper", "q", {}, ["r"])
    assert cache.get("serper", "q", {}) == ["r"]
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    assert cache.get("serper", "q", {}) is None  # expired
    monkeypatch.undo()
    cache.store.put_key(stable_key({"engine": "serper", "query": "bad", "params": {}}), "{not json")
    assert cache.get("serper", "bad", {}) is None
    assert json.loads(cache.store.get_key(stable_key({"engine": "serper", "query": "q", "params": {}})))[
        "value"
    ] == ["r"]


def test_connections_of_finished_threads_are_closed(tmp_path):
    cache = DiskCache(tmp_path / "c.sqlite")
    for batch in range(5):  # a new pool per batch, as the web retriever searches
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i, b=batch: cache.put_key(f"{b}-{i}", str(i)), range(8)))
    # a thread's connection is closed once the thread is gone: at most this pool's and the main one
    # stay open (without pruning: 1 + 5 * 4), and the open ones all answer
    assert len(cache._connections) <= 1 + 4 and threading.current_thread() in cache._connections
    assert len(cache) == 40 and cache.get_keys(["4-7", "nope"]) == ["7", None]
    cache.close()
