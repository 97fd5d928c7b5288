"""OpenAIGenerator against a real ``transformers serve`` process over a tiny local model (slow)."""

from __future__ import annotations

import re

import pytest

from generators import OpenAIGenerator, ResponseCache, SamplingParams, TransformersGenerator

pytestmark = pytest.mark.slow

REQUESTS = [
    [{"role": "user", "content": "Paris"}],
    [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Who is the author?"}],
    [{"role": "user", "content": "Berlin is the capital of Germany."}],
    [{"role": "user", "content": "What is the capital of France?"}],
]


def test_answers_match_local_greedy_generation(served_tiny_model):
    base_url, model = served_tiny_model
    sampling = SamplingParams(max_tokens=8)
    with OpenAIGenerator(model, base_url, concurrency=4, timeout=30) as gen:
        first = gen.generate(REQUESTS, sampling)
        second = gen.generate(REQUESTS, sampling)
        assert gen.usage.requests == 8 and gen.usage.completion_tokens > 0 and gen.usage.prompt_tokens > 0
    assert first == second and any(first)  # greedy: deterministic
    local = TransformersGenerator(model).generate(REQUESTS, sampling)
    # same chat template and greedy decoding (the server strips the leading space of its output)
    assert [t.strip() for t in first] == [t.strip() for t in local]


def test_stop_string_kept_by_server_is_cut_by_us(served_tiny_model):
    from openai import OpenAI

    base_url, model = served_tiny_model
    with OpenAIGenerator(model, base_url, timeout=30) as gen:
        full = gen.generate(REQUESTS[:1], SamplingParams(max_tokens=12))[0]
        found = re.search(r" [A-Za-z]{3,}", full)
        assert found, full
        stop = found.group()
        raw = OpenAI(base_url=base_url, api_key="EMPTY", timeout=30, max_retries=0).chat.completions.create(
            model=model, messages=REQUESTS[0], max_tokens=12, temperature=0, stop=[stop]
        )
        ours = gen.generate(REQUESTS[:1], SamplingParams(max_tokens=12, stop=[stop]))[0]
    assert raw.choices[0].message.content.endswith(stop)  # the server keeps the stop string ...
    assert ours == full[: full.index(stop)]  # ... we cut it


def test_cached_rerun_skips_the_server(served_tiny_model, tmp_path):
    base_url, model = served_tiny_model
    with OpenAIGenerator(model, base_url, cache=ResponseCache(tmp_path / "c.sqlite"), timeout=30) as gen:
        first = gen.answer_batch(["Capital of France?"] * 2, [[], []], SamplingParams(max_tokens=6))
    with OpenAIGenerator(model, base_url, cache=ResponseCache(tmp_path / "c.sqlite"), timeout=30) as gen:
        again = gen.answer_batch(["Capital of France?"] * 2, [[], []], SamplingParams(max_tokens=6))
        assert gen.usage.requests == 0 and gen.usage.cache_hits == 2
    assert again == first
