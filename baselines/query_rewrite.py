"""DeepRetrieval-style query rewriting: an LLM rewrites the question into a search query, then one retrieval.

The rewriter reasons inside ``<think>`` and gives ``{"query": "..."}`` inside ``<answer>`` (a BM25
variant asks for keywords and Boolean operators). If the reply has no usable query, the question
itself is searched (counted in the trace as a fallback). The top k documents of the rewritten query
go to the frozen generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from baselines.base import ContextMethod, ContextRecord, Example, parse_json_query, reasoner_name
from baselines.naive_rag import search_once
from generators.base import ChatRequest, Generator, SamplingParams
from retrievers.base import Retriever

_REWRITE_SYSTEM = (
    "You turn questions into search queries that find the passages holding the answer. Think it over "
    "inside <think> and </think>, then write the query as JSON inside <answer> and </answer>, "
    'for example <answer>{"query": "Eiffel Tower architect"}</answer>.'
)
_BM25_HINT = (
    " The search engine matches keywords (BM25): use the distinctive names and terms, and you may combine "
    "them with AND, OR and parentheses."
)


def rewrite_request(question: str, boolean: bool = True) -> ChatRequest:
    """The rewriting prompt (with the keyword/Boolean hint for BM25 when ``boolean``)."""
    system = _REWRITE_SYSTEM + (_BM25_HINT if boolean else "")
    return [{"role": "system", "content": system}, {"role": "user", "content": f"Question: {question}"}]


class QueryRewrite(ContextMethod):
    """Rewrite-then-retrieve (Jiang et al., 2025, DeepRetrieval), one rewrite per question.

    Args:
        rewriter: the LLM that writes the query (a trained rewriter or any instruct model).
        retriever: the search backend.
        k: documents given to the generator (3).
        boolean: ask for a BM25 keyword/Boolean query.
        sampling: the rewriter's sampling (greedy by default).

    Example::

        QueryRewrite(rewriter_llm, bm25).contexts(examples)[0].trace["query"]
    """

    name = "query-rewrite"

    def __init__(
        self,
        rewriter: Generator,
        retriever: Retriever,
        k: int = 3,
        boolean: bool = True,
        sampling: SamplingParams | None = None,
    ):
        self.rewriter = rewriter
        self.retriever = retriever
        self.k = k
        self.boolean = boolean
        self.sampling = sampling or SamplingParams(temperature=0.0, max_tokens=256)

    def contexts(self, examples: Sequence[Example]) -> list[ContextRecord]:
        replies = self.rewriter.generate(
            [rewrite_request(e.question, self.boolean) for e in examples], self.sampling
        )
        queries, fallback = [], []
        for e, reply in zip(examples, replies):
            q = parse_json_query(reply)
            fallback.append(q is None)
            queries.append(q if q is not None else e.question)
        return search_once(
            self.retriever,
            examples,
            queries,
            self.k,
            turns=1,
            trace=lambda i, _: {
                "query": queries[i],
                "fallback_to_question": fallback[i],
                "reply": replies[i],
            },
        )

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "rewriter": reasoner_name(self.rewriter),
            "k": self.k,
            "boolean": self.boolean,
            "sampling": self.sampling.key(),
        }
