"""Fixtures of the baseline tests: a small two-hop corpus under a real BM25 index, and a scripted LLM."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from generators.base import ChatRequest, Generator, SamplingParams, cut_at_stop
from retrievers.doc import Doc

PASSAGES = [
    (
        "org-zorbex",
        "Zorbex Industries",
        "Zorbex Industries is a company founded by Talen Morvik. It makes lamps.",
    ),
    ("org-kelvar", "Kelvar Labs", "Kelvar Labs is a company founded by Mira Dostel. It makes radios."),
    (
        "org-zorbex-foods",
        "Zorbex Foods",
        "Zorbex Foods is a company founded by Brun Hallet. It makes cheese.",
    ),
    ("per-talen", "Talen Morvik", "Talen Morvik is an engineer. Talen Morvik was born in Quarnby."),
    ("per-mira", "Mira Dostel", "Mira Dostel is a painter. Mira Dostel was born in Velby."),
    ("per-brun", "Brun Hallet", "Brun Hallet is a baker. Brun Hallet was born in Drumor."),
    ("city-quarnby", "Quarnby", "Quarnby is a city in the country of Velloria."),
    ("city-velby", "Velby", "Velby is a city in the country of Ostrand."),
    ("emp-1", "Sela Vorn", "Sela Vorn works at Zorbex Industries. Sela Vorn was born in Velby."),
    ("emp-2", "Dov Ketter", "Dov Ketter works at Kelvar Labs as a company chemist."),
]


@dataclass
class Ex:
    id: str
    question: str
    golden_answers: list[str]
    meta: dict = field(default_factory=dict)


EXAMPLES = [
    Ex("q1", "In which city was the founder of Zorbex Industries born?", ["Quarnby"],
       {"supporting_doc_ids": ["org-zorbex", "per-talen"]}),
    Ex("q2", "Who founded Kelvar Labs?", ["Mira Dostel"], {"supporting_doc_ids": ["org-kelvar"]}),
]  # fmt: skip


@pytest.fixture(scope="session")
def corpus() -> dict[str, Doc]:
    return {i: Doc(i, t, x) for i, t, x in PASSAGES}


@pytest.fixture(scope="session")
def bm25(corpus, tmp_path_factory):
    from retrievers.bm25 import BM25Retriever

    retriever = BM25Retriever.build(list(corpus.values()), tmp_path_factory.mktemp("bm25"), threads=1)
    yield retriever
    retriever.close()


@pytest.fixture
def examples() -> list[Ex]:
    return list(EXAMPLES)


class ScriptedLLM(Generator):
    """A reasoning LLM that replays scripted replies: ``script(request) -> reply`` (a test stand-in for
    an instruct model; the tiny-model tests cover real generation). Records every request it gets."""

    name = "scripted"

    def __init__(self, script: Callable[[ChatRequest], str]):
        self.script = script
        self.requests: list[ChatRequest] = []
        self.samplings: list[SamplingParams | None] = []

    def generate(self, requests, sampling=None):
        self.requests.extend(requests)
        self.samplings.append(sampling)
        out = [self.script(r) for r in requests]
        return [cut_at_stop(t, sampling.stop) if sampling else t for t in out]


@pytest.fixture
def scripted():
    return ScriptedLLM
