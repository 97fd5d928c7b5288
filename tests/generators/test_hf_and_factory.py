"""TransformersGenerator on a tiny local model, and building generators from config."""

from __future__ import annotations

import pytest

from generators import GeneratorConfig, OpenAIGenerator, SamplingParams, TransformersGenerator, load_generator
from generators.prompts import answer_with_context
from retrievers.doc import Doc

REQUESTS = [
    [{"role": "user", "content": "Paris"}],
    [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Who is the author of the novel?"},
    ],
    [{"role": "user", "content": "Berlin is the capital of Germany. What is the capital?"}],
]


@pytest.fixture(scope="module")
def tiny_generator(tiny_model_dir):
    import torch

    torch.set_num_threads(1)
    return TransformersGenerator(str(tiny_model_dir), batch_size=2)


def test_batched_equals_one_by_one(tiny_generator):
    sampling = SamplingParams(max_tokens=6)
    batched = tiny_generator.generate(REQUESTS, sampling)
    single = [tiny_generator.generate([r], sampling)[0] for r in REQUESTS]
    assert batched == single  # left padding does not change greedy outputs
    assert len(set(batched)) > 1 and all(batched)
    # max_tokens bounds the continuation: one token is a strict prefix of six (greedy decoding)
    one = tiny_generator.generate(REQUESTS, SamplingParams(max_tokens=1))
    for short, long in zip(one, batched):
        if "\ufffd" not in short:  # a lone byte-level token may decode to a replacement character
            assert long.startswith(short) and len(long) > len(short)


def test_stop_strings_and_answer(tiny_generator):
    full = tiny_generator.generate(REQUESTS[:1], SamplingParams(max_tokens=8))[0]
    stop = full[len(full) // 2 :][:2]
    cut = tiny_generator.generate(REQUESTS[:1], SamplingParams(max_tokens=8, stop=[stop]))[0]
    assert cut == full[: full.index(stop)]
    docs = [Doc("1", "Paris", "Paris is the capital of France.")]
    expected = tiny_generator.generate([answer_with_context("Capital?", docs)], SamplingParams(max_tokens=5))
    assert tiny_generator.answer("Capital?", docs, SamplingParams(max_tokens=5)) == expected[0]
    assert tiny_generator.generate([]) == []


def test_factory_kinds(tmp_path, tiny_model_dir):
    gen = load_generator(
        {
            "kind": "openai",
            "model": "m",
            "base_url": ["http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"],
            "cache_dir": str(tmp_path / "cache"),
            "max_tokens": 12,
            "stop": ["\n"],
            "concurrency": 3,
        }
    )
    assert isinstance(gen, OpenAIGenerator) and gen.concurrency == 3 and len(gen.base_urls) == 2
    assert gen.cache is not None and gen.cache.path == tmp_path / "cache" / "responses.sqlite"
    assert gen.default_sampling == SamplingParams(max_tokens=12, stop=["\n"])
    local = load_generator(GeneratorConfig(kind="transformers", model=str(tiny_model_dir), max_tokens=4))
    assert isinstance(local, TransformersGenerator) and local.resolve_sampling(None).max_tokens == 4


def test_factory_offline_kind():
    pytest.importorskip("generators.offline")
    from generators.offline import ExtractiveReader

    gen = load_generator({"kind": "offline"})
    assert isinstance(gen, ExtractiveReader)


def test_factory_errors_name_the_field(monkeypatch):
    with pytest.raises(ValueError, match="generator.kind"):
        load_generator({"kind": "vllm-magic"})
    with pytest.raises(ValueError, match="generator.model"):
        load_generator({"kind": "openai"})
    with pytest.raises(ValueError, match="unknown field.*temprature"):
        load_generator({"kind": "offline", "temprature": 0.3})
    monkeypatch.setenv("S3_GENERATOR_BASE_URL", "http://10.1.2.3:8000/v1")
    assert GeneratorConfig(kind="openai", model="m").base_url == "http://10.1.2.3:8000/v1"
