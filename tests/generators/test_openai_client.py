"""OpenAIGenerator against real OpenAI-format servers on 127.0.0.1 (stub processes with latency/failures)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

import pytest

from generators import GeneratorError, OpenAIGenerator, ResponseCache, SamplingParams


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]


def test_answers_in_order_concurrently_with_usage(replicas):
    server = replicas[0]
    with OpenAIGenerator(
        "stub-model", server.base_url, concurrency=8, timeout=5, extra_body={"top_k": 5}
    ) as gen:
        out = gen.generate([user(f"question {i}") for i in range(16)], SamplingParams(max_tokens=7))
    assert out == [f"[a] question {i}" for i in range(16)]
    stats = server.stats()
    assert stats["requests"] == 16
    # the requests overlapped at the server, never more than the concurrency limit
    assert 2 <= stats["max_in_flight"] <= 8
    body = stats["last_body"]
    assert body["model"] == "stub-model" and body["max_tokens"] == 7 and body["temperature"] == 0.0
    assert body["top_k"] == 5 and "stop" not in body and "seed" not in body
    assert gen.usage.requests == 16 and gen.usage.retries == 0
    assert gen.usage.prompt_tokens == 16 * 4  # "be brief" + "question i"
    assert gen.usage.completion_tokens == 16 * 3


def test_round_robin_over_replicas(replicas):
    a, b = replicas
    with OpenAIGenerator("m", [a.base_url, b.base_url], concurrency=4, timeout=5) as gen:
        out = gen.generate([user(str(i)) for i in range(20)])
    assert a.stats()["requests"] == 10 and b.stats()["requests"] == 10
    assert sorted(o.split()[0] for o in out) == ["[a]"] * 10 + ["[b]"] * 10
    assert [o.split()[1] for o in out] == [str(i) for i in range(20)]


def test_stop_string_is_cut_client_side(replicas):
    server = replicas[0]  # keeps the stop string, like transformers serve
    with OpenAIGenerator("m", server.base_url, timeout=5) as gen:
        out = gen.generate(
            [user("Paris</ans> and more"), user("no stop here")], SamplingParams(stop=["</ans>"])
        )
    assert out == ["[a] Paris", "[a] no stop here"]
    assert server.stats()["last_body"]["stop"] == ["</ans>"]


def test_transient_5xx_is_retried(stub_server):
    server = stub_server(fail_first=2, fail_status=503)
    with OpenAIGenerator("m", server.base_url, max_retries=3, timeout=5, backoff=0.01) as gen:
        assert gen.generate([user("x")]) == ["[stub] x"]
        assert gen.usage.retries == 2
    assert server.stats()["requests"] == 3


def test_rate_limit_waits_for_retry_after(stub_server):
    server = stub_server(fail_first=1, fail_status=429, retry_after="0.8")
    with OpenAIGenerator("m", server.base_url, max_retries=2, timeout=5, backoff=0.01) as gen:
        t0 = time.monotonic()
        assert gen.generate([user("x")]) == ["[stub] x"]
        waited = time.monotonic() - t0
        assert gen.usage.retries == 1
    assert server.stats()["requests"] == 2
    assert waited >= 0.8  # the server's wait, not the 0.01 s backoff


def test_persistent_5xx_fails_clearly_within_bounds(stub_server):
    server = stub_server(fail_first=-1, fail_status=500)
    gen = OpenAIGenerator("m", server.base_url, max_retries=2, timeout=5, backoff=0.05)
    t0 = time.monotonic()
    with pytest.raises(GeneratorError, match=r"after 3 attempts.*InternalServerError"):
        gen.generate([user("x")])
    assert time.monotonic() - t0 < 10  # bounded retries: 3 attempts, short backoff
    assert server.stats()["requests"] == 3
    assert gen.usage.failures == 1
    gen.close()


def test_client_error_is_not_retried(stub_server):
    server = stub_server(fail_first=-1, fail_status=400)
    with OpenAIGenerator("m", server.base_url, max_retries=3, timeout=5) as gen:
        with pytest.raises(GeneratorError, match="rejected the request"):
            gen.generate([user("x")])
    assert server.stats()["requests"] == 1


def test_slow_server_times_out_and_nothing_hangs(stub_server):
    server = stub_server(latency=30)
    gen = OpenAIGenerator("m", server.base_url, max_retries=1, timeout=0.4, backoff=0.05)
    t0 = time.monotonic()
    with pytest.raises(GeneratorError, match=r"2 of 2 generator requests failed.*after 2 attempts"):
        gen.generate([user("a"), user("b")])
    assert time.monotonic() - t0 < 10  # 2 attempts x 0.4 s + backoff; the server would take 30 s
    assert server.stats()["requests"] == 4
    gen.close()


def test_down_server_fails_fast(down_url):
    gen = OpenAIGenerator("m", down_url, max_retries=2, timeout=5, backoff=0.05)
    t0 = time.monotonic()
    with pytest.raises(GeneratorError, match="APIConnectionError") as err:
        gen.generate([user("x")])
    assert time.monotonic() - t0 < 10  # refused connections fail fast, retries are bounded
    assert down_url in str(err.value)
    gen.close()


def test_failover_to_a_live_replica(stub_server, down_url):
    live = stub_server(name="live")
    with OpenAIGenerator("m", [down_url, live.base_url], max_retries=2, timeout=5, backoff=0.01) as gen:
        out = gen.generate([user(str(i)) for i in range(6)])
        assert out == [f"[live] {i}" for i in range(6)]
        assert gen.usage.retries == 3  # the three requests first sent to the dead replica
    assert live.stats()["requests"] == 6


def test_cache_rerun_makes_no_server_calls(replicas, tmp_path):
    server = replicas[0]
    requests = [user(f"q{i}") for i in range(12)]
    cache = ResponseCache(tmp_path / "cache.sqlite")
    with OpenAIGenerator("m", server.base_url, cache=cache, timeout=5) as gen:
        first = gen.generate(requests)
    assert server.stats()["requests"] == 12
    server.reset()
    # a fresh client and a fresh cache object on the same file, as in a rerun
    with OpenAIGenerator(
        "m", server.base_url, cache=ResponseCache(tmp_path / "cache.sqlite"), timeout=5
    ) as gen2:
        second = gen2.generate(requests)
        assert gen2.usage.cache_hits == 12 and gen2.usage.requests == 0
        # different sampling is a different call
        gen2.generate(requests[:2], SamplingParams(max_tokens=5))
    assert second == first
    assert server.stats()["requests"] == 2


def test_generate_inside_running_loop_and_agenerate(replicas):
    server = replicas[0]
    gen = OpenAIGenerator("m", server.base_url, concurrency=4, timeout=5)

    async def reward_like() -> tuple[list[str], list[str]]:
        blocking = gen.generate([user("sync")])  # sync call from inside a running loop
        results = await asyncio.gather(gen.agenerate([user("x")]), gen.agenerate([user("y"), user("z")]))
        return blocking, [t for r in results for t in r]

    blocking, awaited = asyncio.run(reward_like())
    assert blocking == ["[a] sync"] and awaited == ["[a] x", "[a] y", "[a] z"]
    # a second, different event loop can use the same generator
    assert asyncio.run(gen.agenerate([user("again")])) == ["[a] again"]
    gen.close()


def test_api_key_sent_but_never_logged(replicas, down_url, monkeypatch, caplog):
    secret = "sk-test-9f8e7d6c5b4a"
    monkeypatch.setenv("MY_GEN_KEY", secret)
    server = replicas[1]
    caplog.set_level(logging.DEBUG)
    with OpenAIGenerator("m", server.base_url, api_key_env="MY_GEN_KEY", timeout=5) as gen:
        gen.generate([user("x")])
        text = repr(gen)
    expected = hashlib.sha256(f"Bearer {secret}".encode()).hexdigest()
    assert server.stats()["auth_sha256"] == expected
    bad = OpenAIGenerator("m", down_url, api_key_env="MY_GEN_KEY", max_retries=1, timeout=2, backoff=0.01)
    with pytest.raises(GeneratorError) as err:
        bad.generate([user("x")])
    bad.close()
    assert secret not in caplog.text and secret not in text and secret not in str(err.value)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="base_url"):
        OpenAIGenerator("m", [])
    with pytest.raises(ValueError, match="concurrency"):
        OpenAIGenerator("m", "http://127.0.0.1:1/v1", concurrency=0)
    assert OpenAIGenerator("m", "http://127.0.0.1:1/v1").generate([]) == []
