"""Bounded retries with exponential backoff that honour a server's ``Retry-After``: the one retry loop of
every network client in the library (the ``/retrieve`` client, the web search engines, the generator
client). It lives in ``retrievers``, the lowest package, so that ``generators`` can use it too.

An attempt is a function of its 0-based number. It returns its result, raises :class:`Retryable` when
another attempt may succeed (a timeout, a refused connection, 429, 5xx), or raises anything else to
stop at once. After the last attempt :class:`RetriesExhausted` carries the last problem, for the caller
to turn into its own clear error.

Example::

    def attempt(n: int) -> httpx.Response:
        response = client.post(url, json=payload)
        if response.status_code in (429, 503):
            raise Retryable(f"HTTP {response.status_code}", retry_after_header(response.headers))
        return response

    try:
        response = RetryPolicy(max_retries=3, backoff=0.5).call(attempt)
    except RetriesExhausted as exc:
        raise RuntimeError(f"gave up after {exc.attempts} attempts: {exc.last}") from exc.last.cause
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


class Retryable(Exception):
    """Raised by an attempt that failed in a way another attempt may fix.

    Args:
        problem: what went wrong, for logs and the final error.
        retry_after: the server's requested wait in seconds (used instead of the backoff), if any.
        cause: the exception behind the problem, if any.
        status: the HTTP status behind the problem, if any.
    """

    def __init__(
        self,
        problem: str,
        retry_after: float | None = None,
        cause: BaseException | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(problem)
        self.problem = problem
        self.retry_after = retry_after
        self.cause = cause
        self.status = status


class RetriesExhausted(Exception):
    """Every attempt failed with a :class:`Retryable`; ``last`` is the final one."""

    def __init__(self, last: Retryable, attempts: int) -> None:
        super().__init__(f"gave up after {attempts} attempts; last problem: {last.problem}")
        self.last = last
        self.attempts = attempts


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or ``None``."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def retry_after_header(headers: Mapping[str, str] | None) -> float | None:
    """:func:`parse_retry_after` of the ``Retry-After`` entry of response headers (any case)."""
    if not headers:
        return None
    return parse_retry_after(headers.get("retry-after") or headers.get("Retry-After"))


@dataclass
class RetryPolicy:
    """How often and how long to retry.

    Args:
        max_retries: attempts after the first (``0``: one attempt, no retry).
        backoff: wait before the first retry, in seconds; doubled for each further retry.
        max_wait: cap on any single wait, a server's ``Retry-After`` included (``None``: no cap).
        jitter: each backoff is multiplied by a random factor in ``[1 - jitter, 1]``, so clients that
            failed together do not retry together (``0``: exact waits). ``Retry-After`` is exact.
    """

    max_retries: int = 3
    backoff: float = 0.5
    max_wait: float | None = None
    jitter: float = 0.0

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry)."""
        if retry_after is not None:
            wait = retry_after
        else:
            wait = self.backoff * 2 ** (retry - 1) * (1.0 - self.jitter * random.random())
        return wait if self.max_wait is None else min(self.max_wait, wait)

    def call(
        self,
        attempt: Callable[[int], T],
        *,
        sleep: Callable[[float], Any] | None = None,
        on_retry: Callable[[int, Retryable, float], Any] | None = None,
    ) -> T:
        """Run ``attempt(0)``, ``attempt(1)``, ... until one returns; see the module docstring.

        ``on_retry(retry, problem, delay)`` is called before each wait (for logs and counters);
        ``sleep`` waits (default :func:`time.sleep`).

        Raises:
            RetriesExhausted: every attempt raised :class:`Retryable`.
        """
        for n in range(self.max_retries + 1):
            try:
                return attempt(n)
            except Retryable as problem:
                (sleep or time.sleep)(self._wait_after(n, problem, on_retry))
        raise AssertionError("unreachable")

    async def acall(
        self,
        attempt: Callable[[int], Awaitable[T]],
        *,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        on_retry: Callable[[int, Retryable, float], Any] | None = None,
    ) -> T:
        """:meth:`call` for an async ``attempt``; waits without blocking the event loop."""
        for n in range(self.max_retries + 1):
            try:
                return await attempt(n)
            except Retryable as problem:
                await (sleep or asyncio.sleep)(self._wait_after(n, problem, on_retry))
        raise AssertionError("unreachable")

    def _wait_after(self, n: int, problem: Retryable, on_retry) -> float:
        """The wait after failed attempt ``n`` (0-based); raises :class:`RetriesExhausted` after the last."""
        if n == self.max_retries:
            raise RetriesExhausted(problem, n + 1) from problem.cause
        delay = self.delay(n + 1, problem.retry_after)
        if on_retry is not None:
            on_retry(n + 1, problem, delay)
        return delay
