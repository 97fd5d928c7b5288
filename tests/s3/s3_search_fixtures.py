"""Shared pieces for the searcher tests: a small corpus with a real BM25 index, and recording wrappers."""

from __future__ import annotations

from retrievers.base import Retriever
from retrievers.doc import Doc

FACTS = [
    ("Paris", "Paris is the capital and largest city of France."),
    ("Lyon", "Lyon is the third largest city of France, on the Rhone."),
    ("Berlin", "Berlin is the capital of Germany and its largest city."),
    ("Munich", "Munich is the capital of Bavaria in southern Germany."),
    ("Dune (novel)", "Dune is a 1965 science fiction novel by the American author Frank Herbert."),
    ("Frank Herbert", "Frank Herbert was born in Tacoma, Washington, in 1920."),
    ("Tacoma", "Tacoma is a port city in the state of Washington."),
    ("Hamlet", "Hamlet is a tragedy written by William Shakespeare around 1600."),
    ("William Shakespeare", "William Shakespeare was born in Stratford-upon-Avon in 1564."),
    ("Stratford-upon-Avon", "Stratford-upon-Avon is a market town in Warwickshire, England."),
    ("Marie Curie", "Marie Curie won the Nobel Prize in Physics in 1903 and in Chemistry in 1911."),
    ("Nobel Prize", "The Nobel Prize is awarded yearly in Stockholm and Oslo."),
    ("Danube", "The Danube flows through Vienna, Budapest and Belgrade to the Black Sea."),
    ("Vienna", "Vienna is the capital of Austria, on the river Danube."),
    ("Mount Everest", "Mount Everest is the highest mountain above sea level, in the Himalayas."),
    ("Himalayas", "The Himalayas are a mountain range in Asia separating the Indian subcontinent."),
]
FILLER = [
    (f"Filler {i}", f"Filler passage number {i} mentions a city, a river and a novel in passing.")
    for i in range(24)
]

QUESTIONS = [
    "Where was the author of Dune born?",
    "Where was the writer of Hamlet born?",
    "What is the capital of France?",
    "Which river flows through Vienna?",
]


def corpus_docs() -> list[Doc]:
    return [Doc(str(i), title, text) for i, (title, text) in enumerate(FACTS + FILLER)]


def build_bm25(directory) -> Retriever:
    from retrievers.bm25 import BM25Retriever

    return BM25Retriever.build(corpus_docs(), directory)


class CountingRetriever(Retriever):
    """Delegates to a real retriever and records every call (to check batching)."""

    def __init__(self, inner: Retriever, fail: bool = False):
        self.inner = inner
        self.calls: list[tuple[list[str], int]] = []
        self.fail = fail

    def search(self, queries: list[str], k: int) -> list[list[Doc]]:
        self.calls.append((list(queries), k))
        if self.fail:
            raise ConnectionError("retriever down")
        return self.inner.search(queries, k)


def recording(policy):
    """Wrap ``policy.generate`` so every returned generation is kept, keyed by (question, turn)."""
    log: dict[tuple[str, int], list[int]] = {}
    calls: list[int] = []
    original = policy.generate

    def generate(prompts, **kwargs):
        gens = original(prompts, **kwargs)
        calls.append(len(prompts))
        for info, gen in zip(kwargs.get("meta") or [], gens):
            if info.get("question") is not None:
                log[(info["question"], info["turn"])] = list(gen.token_ids)
        return gens

    policy.generate = generate
    return log, calls
