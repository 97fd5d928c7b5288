"""ResponseCache: keys, persistence, and safety across threads, asyncio tasks and processes."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import sqlite3
import threading

from generators.base import SamplingParams
from generators.cache import ResponseCache, cache_key


def req(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"question {i}"}]


def test_key_covers_model_messages_sampling_and_extra():
    base = cache_key("m", req(1), SamplingParams())
    assert base == cache_key("m", req(1), SamplingParams())
    assert base == cache_key("m", req(1), SamplingParams().key())  # a dict of the same fields is the same key
    assert base != cache_key("m2", req(1), SamplingParams())
    assert base != cache_key("m", req(2), SamplingParams())
    assert base != cache_key("m", req(1), SamplingParams(max_tokens=65))
    assert base != cache_key("m", req(1), SamplingParams(stop=["\n"]))
    assert base != cache_key("m", req(1), SamplingParams(), extra={"top_k": 5})


def test_put_get_many_and_reopen(tmp_path):
    path = tmp_path / "sub" / "c.sqlite"
    cache = ResponseCache(path)
    sp = SamplingParams(max_tokens=8)
    assert cache.get("m", req(0), sp) is None
    cache.put("m", req(0), sp, "zero")
    cache.put_many("m", [req(1), req(2)], sp, ["one", "two"])
    cache.put("m", req(2), sp, "TWO")  # replaces
    assert cache.get_many("m", [req(2), req(9), req(0), req(1)], sp) == ["TWO", None, "zero", "one"]
    assert cache.get("m", req(0), SamplingParams()) is None
    cache.close()
    again = ResponseCache(tmp_path / "sub")  # a folder means <folder>/responses.sqlite
    assert again.path.name == "responses.sqlite" and len(again) == 0
    assert ResponseCache(path).get("m", req(1), sp) == "one" and len(ResponseCache(path)) == 3
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_get_many_beyond_sqlite_variable_limit(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    reqs = [req(i) for i in range(1200)]
    cache.put_many("m", reqs, None, [str(i) for i in range(1200)])
    assert cache.get_many("m", reqs, None) == [str(i) for i in range(1200)]


def test_threads_and_tasks_share_one_cache(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")

    def worker(t: int) -> None:
        for i in range(50):
            cache.put("m", req(t * 1000 + i), None, f"{t}-{i}")
            assert cache.get("m", req(t * 1000 + i), None) == f"{t}-{i}"

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()

    async def tasks() -> None:
        async def one(i: int) -> None:
            cache.put("m", req(90_000 + i), None, str(i))
            await asyncio.sleep(0)
            assert cache.get("m", req(90_000 + i), None) == str(i)

        await asyncio.gather(*(one(i) for i in range(100)))

    asyncio.run(tasks())
    assert len(cache) == 6 * 50 + 100
    cache.close()


def _process_writer(path: str, worker: int, n: int) -> None:
    cache = ResponseCache(path)
    for i in range(n):
        cache.put("m", req(worker * 10_000 + i), None, f"w{worker}-{i}")
    cache.close()


def test_processes_write_concurrently(tmp_path):
    path = str(tmp_path / "c.sqlite")
    ResponseCache(path).close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(path, w, 150)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    cache = ResponseCache(path)
    assert len(cache) == 450
    assert cache.get_many("m", [req(20_000 + 149), req(149)], None) == ["w2-149", "w0-149"]
