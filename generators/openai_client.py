"""A concurrent client for any OpenAI-compatible chat endpoint (``vllm serve``, hosted APIs, ``transformers serve``).

Built on the official ``openai`` async client. Requests of a batch run concurrently up to a limit,
replicas (several base URLs) are shared round-robin, failed attempts are retried with backoff on the
next replica, and each attempt has a hard wall-clock limit, so a batch ends within
``(max_retries + 1) * (timeout + backoff)`` with either every answer or a :class:`GeneratorError`.

Servers differ in details; this client sticks to what all of them accept: it always sends
``max_tokens`` (some servers otherwise generate until the context is full) and truncates at stop
strings itself (``transformers serve`` keeps the stop string in the output, vLLM and OpenAI drop it).

All network work runs on one private event loop in a background thread, so :meth:`generate` works
from plain code and from inside a running event loop alike, and :meth:`agenerate` can be awaited from
any loop (e.g. TRL's async reward functions). The API key is read from an environment variable and
never logged.

Example::

    gen = OpenAIGenerator("Qwen/Qwen2.5-14B-Instruct", ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"])
    answers = gen.answer_batch(questions, contexts)
    print(gen.usage)
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from generators.base import ChatRequest, Generator, SamplingParams, cut_at_stop
from generators.cache import ResponseCache, cache_key
from retrievers.retry import RetriesExhausted, Retryable, RetryPolicy, retry_after_header

log = logging.getLogger(__name__)

#: the most stop strings some APIs accept; the rest are cut client-side only
MAX_SERVER_STOPS = 4
_RETRYABLE_STATUS = {408, 409, 425, 429}


class GeneratorError(RuntimeError):
    """A generator call failed for good (after retries, or with a non-retryable error)."""


@dataclass
class Usage:
    """Counters of an :class:`OpenAIGenerator`: calls made, tokens used, retries, cache hits, failures."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    cache_hits: int = 0
    failures: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _is_retryable(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, (asyncio.TimeoutError, openai.APIConnectionError)):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code >= 500 or exc.status_code in _RETRYABLE_STATUS
    return False


def _retry_after(exc: BaseException) -> float | None:
    """The ``Retry-After`` of an error answer (429, 503), if the server sent one."""
    response = getattr(exc, "response", None)
    return retry_after_header(getattr(response, "headers", None))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text[:300]}"


class OpenAIGenerator(Generator):
    """Frozen generator behind one or more OpenAI-compatible ``/v1/chat/completions`` endpoints.

    Args:
        model: the model name sent with every request (for ``transformers serve``: the exact path
            it was started with).
        base_url: one base URL (``http://host:port/v1``) or a list of replicas, used round-robin.
        api_key_env: environment variable holding the key; unset means ``"EMPTY"`` (local servers).
        concurrency: the most requests in flight at once, over all replicas.
        timeout: hard wall-clock limit of one attempt, in seconds.
        max_retries: extra attempts per request after a retryable failure (connection error,
            timeout, 408/409/429/5xx); each retry goes to the next replica.
        cache: an optional :class:`~generators.cache.ResponseCache`; hits cost no call.
        extra_body: extra JSON fields sent with every request (e.g. ``{"top_k": 20}`` for vLLM).
        backoff: first retry delay in seconds (doubling, with jitter, capped at ``max_backoff``); a
            ``Retry-After`` answer sets the delay instead (:mod:`retrievers.retry`).
        max_backoff: the longest delay between attempts.
    """

    def __init__(
        self,
        model: str,
        base_url: str | Sequence[str],
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 32,
        timeout: float = 60.0,
        max_retries: int = 3,
        cache: ResponseCache | None = None,
        extra_body: dict[str, Any] | None = None,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
    ) -> None:
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls or not all(isinstance(u, str) and u for u in urls):
            raise ValueError(f"base_url must be a URL or a non-empty list of URLs, got {base_url!r}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if max_retries < 0 or timeout <= 0:
            raise ValueError(f"need max_retries >= 0 and timeout > 0, got {max_retries} and {timeout}")
        self.model = model
        self.base_urls = [u.rstrip("/") for u in urls]
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.cache = cache
        self.extra_body = dict(extra_body or {})
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.name = f"openai:{model}"
        self.usage = Usage()
        self._rr = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._clients: list[Any] = []
        self._semaphore: asyncio.Semaphore | None = None
        self._start_lock = threading.Lock()

    def __repr__(self) -> str:  # no key in here, ever
        return f"OpenAIGenerator(model={self.model!r}, base_url={self.base_urls!r}, concurrency={self.concurrency})"

    # ------------------------------------------------------------------ the private event loop

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=run, name="openai-generator-loop", daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def _make_clients(self) -> None:
        # Called on the private loop: the clients and the semaphore belong to it.
        from openai import AsyncOpenAI

        key = os.environ.get(self.api_key_env) or "EMPTY"
        self._clients = [
            AsyncOpenAI(base_url=url, api_key=key, timeout=self.timeout, max_retries=0)
            for url in self.base_urls
        ]
        self._semaphore = asyncio.Semaphore(self.concurrency)

    # ------------------------------------------------------------------ public API

    def generate(self, requests: list[ChatRequest], sampling: SamplingParams | None = None) -> list[str]:
        """Answer every chat request concurrently, in order.

        Works from synchronous code and from inside a running event loop (the work runs on this
        client's own loop thread; the caller blocks until the batch is done).

        Raises:
            GeneratorError: a request failed after its retries, or with a non-retryable error.
        """
        loop = self._ensure_loop()
        if threading.current_thread() is self._thread:
            raise RuntimeError("generate() called from the generator's own loop; use agenerate()")
        return asyncio.run_coroutine_threadsafe(self._generate(requests, sampling), loop).result()

    async def agenerate(
        self, requests: list[ChatRequest], sampling: SamplingParams | None = None
    ) -> list[str]:
        """Async :meth:`generate`: awaitable from any event loop without blocking it."""
        loop = self._ensure_loop()
        if asyncio.get_running_loop() is loop:
            return await self._generate(requests, sampling)
        return await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(self._generate(requests, sampling), loop)
        )

    def close(self) -> None:
        """Close the HTTP clients and stop the loop thread (a later call starts them again)."""
        loop, thread = self._loop, self._thread
        if loop is None or loop.is_closed():
            return

        async def shutdown() -> None:
            for client in self._clients:
                await client.close()
            self._clients = []
            self._semaphore = None

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join(timeout=10)
            loop.close()
            self._loop = self._thread = None

    def __enter__(self) -> OpenAIGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _payload(self, sampling: SamplingParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            **self.extra_body,
            "model": self.model,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
        }
        if sampling.stop:
            body["stop"] = list(sampling.stop)[:MAX_SERVER_STOPS]
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        return body

    async def _generate(self, requests: list[ChatRequest], sampling: SamplingParams | None) -> list[str]:
        sampling = self.resolve_sampling(sampling)
        if not requests:
            return []
        if not self._clients:
            self._make_clients()
        out: list[str | None] = [None] * len(requests)
        keys: list[str] = []
        if self.cache is not None:
            keys = [cache_key(self.model, r, sampling, self.extra_body) for r in requests]
            out = list(self.cache.get_keys(keys))
            self.usage.cache_hits += sum(o is not None for o in out)
        todo = [i for i, o in enumerate(out) if o is None]
        body = self._payload(sampling)

        async def one(i: int) -> None:
            text = await self._call(requests[i], body)
            text = cut_at_stop(text, sampling.stop)
            out[i] = text
            if self.cache is not None:
                self.cache.put_key(keys[i], text, self.model)

        results = await asyncio.gather(*(one(i) for i in todo), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            self.usage.failures += len(errors)
            first = errors[0]
            if not isinstance(first, GeneratorError):
                first = GeneratorError(_describe(first))
            raise GeneratorError(
                f"{len(errors)} of {len(todo)} generator requests failed; first: {first}"
            ) from (errors[0])
        return [o if o is not None else "" for o in out]

    def _read_reply(self, resp: Any, url: str) -> str:
        try:
            usage = resp.get("usage") or {}
            self.usage.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            self.usage.completion_tokens += int(usage.get("completion_tokens") or 0)
            choices = resp["choices"]
            if not choices:
                return ""
            return choices[0]["message"].get("content") or ""
        except (AttributeError, KeyError, TypeError, IndexError, ValueError) as exc:
            raise GeneratorError(
                f"{url} sent a reply that is not an OpenAI chat completion: {str(resp)[:200]!r}"
            ) from exc

    async def _call(self, messages: ChatRequest, body: dict[str, Any]) -> str:
        assert self._semaphore is not None
        tried: list[str] = []
        start = next(self._rr)  # round-robin over requests; each retry moves on to the next replica

        async def attempt(n: int) -> str:
            idx = (start + n) % len(self._clients)
            tried.append(self.base_urls[idx])
            try:
                async with self._semaphore:
                    self.usage.requests += 1
                    # The client's generic POST with a plain dict body and reply: same auth, errors and
                    # transport as ``chat.completions.create``, without re-validating every message
                    # and response field in Python (that costs more CPU than the HTTP round trip).
                    resp = await asyncio.wait_for(
                        self._clients[idx].post(
                            "/chat/completions", body={"messages": messages, **body}, cast_to=object
                        ),
                        timeout=self.timeout,
                    )
            except Exception as exc:  # noqa: BLE001 - classified below
                if not _is_retryable(exc):
                    raise GeneratorError(
                        f"{self.base_urls[idx]} rejected the request for model {self.model!r}: {_describe(exc)}"
                    ) from exc
                log.warning(
                    "generator attempt %d/%d at %s failed: %s",
                    n + 1,
                    self.max_retries + 1,
                    self.base_urls[idx],
                    _describe(exc),
                )
                raise Retryable(_describe(exc), _retry_after(exc), cause=exc) from None
            return self._read_reply(resp, self.base_urls[idx])

        def on_retry(retry: int, problem: Retryable, delay: float) -> None:
            self.usage.retries += 1

        try:
            policy = RetryPolicy(self.max_retries, self.backoff, max_wait=self.max_backoff, jitter=0.25)
            return await policy.acall(attempt, on_retry=on_retry)
        except RetriesExhausted as exc:
            raise GeneratorError(
                f"generator request to model {self.model!r} failed after {exc.attempts} attempts "
                f"(endpoints tried: {', '.join(dict.fromkeys(tried))}); last error: {exc.last}"
            ) from exc.last.cause
