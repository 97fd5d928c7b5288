"""Search-o1-style agentic search with reason-in-documents: the context is the condensed analyses.

A reasoning LLM thinks about the question and, when it needs a fact, writes
``<search_query>...</search_query>`` and stops. The query retrieves k documents; a second call of the
same LLM (*reason in documents*) condenses them into the facts that bear on the query, and that note
is handed back inside ``<search_result>...</search_result>`` so the reasoning continues. At most
``max_searches`` searches. As in the comparison of the s3 paper, the frozen generator then gets the
condensed notes, not the raw documents: each note is one context record (title = its query); the raw
documents are kept in the trace.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from baselines.base import ContextMethod, ContextRecord, Example, reasoner_name
from generators.base import ChatRequest, Generator, SamplingParams
from generators.prompts import render_context
from retrievers.base import Retriever
from retrievers.doc import Doc

QUERY_OPEN, QUERY_CLOSE = "<search_query>", "</search_query>"
RESULT_OPEN, RESULT_CLOSE = "<search_result>", "</search_result>"

_AGENT_SYSTEM = (
    "You answer questions by reasoning step by step, and you can look facts up in a search engine. "
    f"To search, write {QUERY_OPEN}your query{QUERY_CLOSE} and stop; a note on what the search found "
    f"will come back between {RESULT_OPEN} and {RESULT_CLOSE}, and you continue from there. "
    "You may search up to {max_searches} times. When you know the answer, write it between "
    "<answer> and </answer>."
)

_READER_SYSTEM = (
    "You read search results on behalf of someone who is reasoning about a question. Write down, in "
    "at most three sentences, the facts in the passages that answer the search query or help with the "
    "question, keeping names exactly as written. If nothing in the passages helps, reply exactly: "
    "Nothing useful found."
)

_QUERY = re.compile(re.escape(QUERY_OPEN) + r"(.*?)(?:" + re.escape(QUERY_CLOSE) + r"|$)", re.DOTALL)


def parse_query(reply: str) -> tuple[str | None, str]:
    """The last search query of a reply (None if it asks none) and the reply cut after that query."""
    found = list(_QUERY.finditer(reply))
    if not found:
        return None, reply
    m = found[-1]
    query = " ".join(m.group(1).split())
    return (query or None), reply[: m.start()] + f"{QUERY_OPEN}{query}{QUERY_CLOSE}"


def reader_request(question: str, reasoning: str, query: str, docs: Sequence[Doc]) -> ChatRequest:
    """The reason-in-documents prompt for one search."""
    user = (
        f"Question: {question}\n"
        f"Reasoning so far:\n{reasoning.strip() or '(none yet)'}\n\n"
        f"Search query: {query}\n\nPassages:\n{render_context(list(docs))}"
    )
    return [{"role": "system", "content": _READER_SYSTEM}, {"role": "user", "content": user}]


class SearchO1(ContextMethod):
    """Agentic search with condensed search results (Li et al., 2025), as compared against in the s3 paper.

    Args:
        reasoner: the LLM that reasons, searches and condenses documents.
        retriever: the search backend.
        k: documents per search (3).
        max_searches: searches per question at most (4).
        sampling: reasoning sampling (greedy by default); stop strings are added here.
        reader_sampling: sampling for the reason-in-documents calls.

    Example::

        SearchO1(llm, bm25).contexts(examples)[0].docs[0].text   # the first condensed note
    """

    name = "search-o1"

    def __init__(
        self,
        reasoner: Generator,
        retriever: Retriever,
        k: int = 3,
        max_searches: int = 4,
        sampling: SamplingParams | None = None,
        reader_sampling: SamplingParams | None = None,
    ):
        self.reasoner = reasoner
        self.retriever = retriever
        self.k = k
        self.max_searches = max_searches
        base = sampling or SamplingParams(temperature=0.0, max_tokens=256)
        self.sampling = SamplingParams(**{**base.key(), "stop": [*base.stop, QUERY_CLOSE]})
        self.reader_sampling = reader_sampling or SamplingParams(temperature=0.0, max_tokens=128)

    def contexts(self, examples: Sequence[Example]) -> list[ContextRecord]:
        system = _AGENT_SYSTEM.replace("{max_searches}", str(self.max_searches))
        chats: list[ChatRequest] = [
            [{"role": "system", "content": system}, {"role": "user", "content": e.question}] for e in examples
        ]
        reasoning = ["" for _ in examples]
        notes: list[list[Doc]] = [[] for _ in examples]
        searches: list[list[dict[str, Any]]] = [[] for _ in examples]
        turns = [0] * len(examples)
        active = list(range(len(examples)))
        for _ in range(self.max_searches + 1):
            if not active:
                break
            replies = self.reasoner.generate([chats[i] for i in active], self.sampling)
            asking: list[tuple[int, str, str]] = []
            for i, reply in zip(active, replies):
                turns[i] += 1
                query, upto = parse_query(reply)
                if query is None or len(searches[i]) >= self.max_searches:
                    reasoning[i] += reply
                    continue
                asking.append((i, query, upto))
            if not asking:
                break
            hits = self.retriever.search([q for _, q, _ in asking], self.k)
            analyses = self.reasoner.generate(
                [
                    reader_request(examples[i].question, reasoning[i] + upto, q, d)
                    for (i, q, upto), d in zip(asking, hits)
                ],
                self.reader_sampling,
            )
            for (i, query, upto), docs, note in zip(asking, hits, analyses):
                note = note.strip()
                reasoning[i] += f"{upto}\n{RESULT_OPEN}{note}{RESULT_CLOSE}\n"
                chats[i] = [
                    *chats[i],
                    {"role": "assistant", "content": upto},
                    {"role": "user", "content": f"{RESULT_OPEN}\n{note}\n{RESULT_CLOSE}"},
                ]
                n = len(searches[i]) + 1
                searches[i].append({"query": query, "doc_ids": [d.id for d in docs], "note": note})
                notes[i].append(Doc(id=f"{examples[i].id}#note{n}", title=f"Search: {query}", text=note))
            active = [i for i, _, _ in asking]
        return [
            ContextRecord(
                id=e.id,
                question=e.question,
                docs=notes[i],
                turns=turns[i],
                searches=len(searches[i]),
                trace={"searches": searches[i], "reasoning": reasoning[i]},
            )
            for i, e in enumerate(examples)
        ]

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "reasoner": reasoner_name(self.reasoner),
            "k": self.k,
            "max_searches": self.max_searches,
            "sampling": self.sampling.key(),
            "reader_sampling": self.reader_sampling.key(),
        }
