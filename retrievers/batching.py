"""The batching path: concurrent requests merged into batched calls on a few worker threads.

The retrieval server (:mod:`retrievers.server`) batches ``retriever.search`` with it, and ``s3 serve``
batches a searcher's ``search_batch`` the same way. Work never runs on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    queries: list
    k: int
    future: asyncio.Future = field(repr=False)


def _first_k(result: list, k: int) -> list:
    return result[:k]


class Batcher:
    """Merges concurrent requests into batched calls of ``run(inputs, k)`` on a few worker threads.

    ``run`` gets the inputs of every merged request (in order) and the largest ``k`` among them, and
    returns one result per input; each request gets its own results back, each cut to the request's
    own ``k`` by ``trim`` (default: the first ``k`` items). The retrieval server batches
    ``retriever.search``; ``s3 serve`` batches a searcher's ``search_batch`` the same way.

    ``gather_s``: when the previous batch merged several requests (concurrent clients, answered
    together, come back together), wait up to this long for more before running a batch; a lone
    client never waits. 0 (the retrieval server): run with whatever is queued.
    """

    def __init__(
        self,
        run: Callable[[list, int], list],
        workers: int,
        max_batch: int,
        trim: Callable[[Any, int], Any] = _first_k,
        gather_s: float = 0.0,
    ):
        self.run = run
        self.trim = trim
        self.gather_s = gather_s
        self._last_merged = 1
        self.workers = workers
        self.max_batch = max_batch
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="retrieve")
        self.queue: asyncio.Queue[_Pending] | None = None
        self.tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self.queue = asyncio.Queue()
        self.tasks = [asyncio.create_task(self._worker()) for _ in range(self.workers)]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def search(self, queries: list, k: int) -> list:
        if self.queue is None:
            self.start()
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(_Pending(queries, k, future))
        return await future

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            size = len(batch[0].queries)
            if self.gather_s > 0 and self._last_merged > 1:
                deadline = loop.time() + self.gather_s
                while size < self.max_batch and (left := deadline - loop.time()) > 0:
                    try:
                        item = await asyncio.wait_for(self.queue.get(), left)
                    except asyncio.TimeoutError:
                        break
                    batch.append(item)
                    size += len(item.queries)
            while size < self.max_batch and not self.queue.empty():
                item = self.queue.get_nowait()
                batch.append(item)
                size += len(item.queries)
            self._last_merged = len(batch)
            queries = [q for item in batch for q in item.queries]
            k = max(item.k for item in batch)
            try:
                results = await loop.run_in_executor(self.executor, self.run, queries, k)
            except Exception as exc:  # answered as HTTP 500 to every request in the batch
                log.exception("search failed for a batch of %d queries", len(queries))
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            start = 0
            for item in batch:
                if not item.future.done():
                    item.future.set_result(
                        [self.trim(r, item.k) for r in results[start : start + len(item.queries)]]
                    )
                start += len(item.queries)
