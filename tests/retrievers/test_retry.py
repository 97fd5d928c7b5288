"""The one retry loop of the network clients: backoff, its cap and jitter, Retry-After, the final error."""

from __future__ import annotations

import asyncio
import email.utils
import time

import httpx
import pytest

from retrievers.client import HTTPRetriever, RetrieverRequestError, RetrieverUnavailable
from retrievers.retry import RetriesExhausted, Retryable, RetryPolicy, parse_retry_after, retry_after_header


def flaky(failures: list[Retryable], result: str = "ok"):
    """An attempt that raises each of ``failures`` in turn, then returns ``result``; records attempts."""
    seen: list[int] = []

    def attempt(n: int) -> str:
        seen.append(n)
        if n < len(failures):
            raise failures[n]
        return result

    return attempt, seen


def test_backoff_doubles_up_to_the_cap_and_retry_after_wins():
    attempt, seen = flaky([Retryable("a"), Retryable("b"), Retryable("c", retry_after=7.0), Retryable("d")])
    slept: list[float] = []
    retries: list[tuple[int, str, float]] = []
    policy = RetryPolicy(max_retries=4, backoff=0.5, max_wait=1.5)
    assert (
        policy.call(attempt, sleep=slept.append, on_retry=lambda r, p, d: retries.append((r, str(p), d)))
        == "ok"
    )
    assert seen == [0, 1, 2, 3, 4]
    assert slept == [0.5, 1.0, 1.5, 1.5]  # 0.5, 1, (Retry-After 7 capped at 1.5), 4 capped at 1.5
    assert [(r, p) for r, p, _ in retries] == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    assert [d for *_, d in retries] == slept


def test_retry_after_is_exact_and_jitter_only_shortens():
    policy = RetryPolicy(max_retries=3, backoff=2.0, jitter=0.25)
    assert policy.delay(1, retry_after=3.0) == 3.0
    waits = [policy.delay(2) for _ in range(200)]
    assert all(3.0 <= w <= 4.0 for w in waits) and len(set(waits)) > 1
    assert RetryPolicy(backoff=2.0).delay(3) == 8.0  # no jitter: exact


def test_giving_up_carries_the_last_problem_and_its_cause():
    cause = ConnectionError("refused")
    attempt, seen = flaky([Retryable("first"), Retryable("second", cause=cause, status=503)] * 2)
    with pytest.raises(RetriesExhausted) as info:
        RetryPolicy(max_retries=1, backoff=0).call(attempt, sleep=lambda s: None)
    assert seen == [0, 1] and info.value.attempts == 2
    assert info.value.last.problem == "second" and info.value.last.status == 503
    assert info.value.__cause__ is cause


def test_other_errors_stop_at_once():
    def attempt(n: int) -> str:
        raise ValueError("a 400 answer")

    with pytest.raises(ValueError, match="a 400 answer"):
        RetryPolicy(max_retries=5).call(attempt, sleep=lambda s: pytest.fail("no retry expected"))


def test_async_attempts_retry_the_same_way():
    calls: list[int] = []
    slept: list[float] = []

    async def attempt(n: int) -> int:
        calls.append(n)
        if n < 2:
            raise Retryable("busy", retry_after=0.25 if n == 0 else None)
        return n

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    assert asyncio.run(RetryPolicy(max_retries=2, backoff=0.1).acall(attempt, sleep=sleep)) == 2
    assert calls == [0, 1, 2] and slept == [0.25, 0.2]


def test_retry_after_header_in_seconds_or_as_a_date():
    assert parse_retry_after("7") == 7.0 and parse_retry_after(" 0.5 ") == 0.5
    assert (
        parse_retry_after("-3") == 0.0
        and parse_retry_after("soon") is None
        and parse_retry_after(None) is None
    )
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(date) <= 30
    assert retry_after_header(httpx.Headers({"Retry-After": "2"})) == 2.0
    assert retry_after_header({}) is None


def test_retrieve_client_honours_retry_after(monkeypatch):
    answers = [
        httpx.Response(429, headers={"Retry-After": "1.5"}, json={"detail": "slow down"}),
        httpx.Response(503, text="warming up"),
        httpx.Response(
            200, json={"result": [[{"document": {"id": "1", "contents": '"T"\nbody'}, "score": 1.0}]]}
        ),
    ]
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return answers[len(requests) - 1]

    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    with HTTPRetriever("http://retriever.test", max_retries=2, backoff=0.2) as remote:
        remote._client = httpx.Client(transport=httpx.MockTransport(handler))
        hits = remote.search(["q"], 1)[0]
    assert [d.id for d in hits] == ["1"] and len(requests) == 3
    assert slept[0] == 1.5  # the server's Retry-After, not the backoff
    assert 0.3 <= slept[1] <= 0.4  # then the backoff: 0.2 * 2, less up to a quarter of jitter


def test_retrieve_client_final_errors(monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda s: None)
    with HTTPRetriever("http://retriever.test", max_retries=1) as remote:
        remote._client = httpx.Client(
            transport=httpx.MockTransport(lambda r: httpx.Response(502, text="bad gw"))
        )
        with pytest.raises(RetrieverUnavailable, match="unavailable after 2 attempts: HTTP 502: bad gw"):
            remote.search(["q"], 1)
        remote._client = httpx.Client(
            transport=httpx.MockTransport(lambda r: httpx.Response(400, json={"detail": "topk too big"}))
        )
        with pytest.raises(RetrieverRequestError, match="HTTP 400: topk too big"):
            remote.search(["q"], 1)
