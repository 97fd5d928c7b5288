"""On-disk response cache for generator calls, keyed by (model, messages, sampling parameters).

A rerun of the same evaluation or precompute then costs no generator calls. The store is the library's
one disk cache (:class:`retrievers.disk_cache.DiskCache`: one SQLite file in WAL mode, shared by
threads, tasks and processes); each response is committed when it arrives, so an interrupted run
keeps what it already paid for.

Example::

    cache = ResponseCache("runs/cache/responses.sqlite")
    cache.put("qwen", [{"role": "user", "content": "hi"}], SamplingParams(), "hello")
    cache.get("qwen", [{"role": "user", "content": "hi"}], SamplingParams())  # -> "hello"
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from generators.base import ChatRequest, SamplingParams
from retrievers.disk_cache import DiskCache, stable_key


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
    return stable_key(
        {"model": model, "messages": messages, "sampling": _sampling_dict(sampling), "extra": extra or {}}
    )


class ResponseCache(DiskCache):
    """A thread-, task- and process-safe cache of generator responses (a :class:`~retrievers.disk_cache.DiskCache`).

    Args:
        path: the database file (created with its parent folders); an existing folder means
            ``<folder>/responses.sqlite``.
        timeout: seconds a writer waits for a lock held by another process before failing.
    """

    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        super().__init__(path, timeout, default_name="responses.sqlite")

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
        self.put_keys([(cache_key(model, r, sampling, extra), t) for r, t in zip(requests, responses)], model)
