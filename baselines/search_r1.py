"""Search-R1 as a retriever for a frozen generator: every document its ``<search>`` calls returned.

The paper's "Search-R1 (Ret)" rows: an end-to-end trained searcher (it searches with
``<search>...</search>`` and answers with ``<answer>...</answer>``) runs as trained, its own answer is
ignored, and the documents of all its searches (k=3 each, up to 4 searches, no initial retrieval) go
to the same frozen generator as every other method, in the order found, without repeats.

Example::

    searcher = Searcher.from_pretrained("PeterJinGo/SearchR1-nq_hotpotqa_train-qwen2.5-7b-em-ppo",
                                        retriever=bm25, config=search_r1_config())
    SearchR1Context(searcher).contexts(examples)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from baselines.base import ContextMethod, ContextRecord, Example, dedup_docs
from baselines.searcher import SharedSearch, _trace
from s3.episode import Episode
from s3.protocol_r1 import EPISODE_RULES, NAME, r1_episode_config
from s3.searcher import Searcher, SearcherConfig, SearchResult


def search_r1_config(
    docs_per_search: int = EPISODE_RULES["docs_per_search"],
    max_turns: int = EPISODE_RULES["max_turns"],
    batch_size: int = 64,
) -> SearcherConfig:
    """A greedy :class:`SearcherConfig` in Search-R1 mode: no initial documents, no selection
    (:func:`s3.protocol_r1.r1_episode_config`).

    Args:
        docs_per_search: documents per ``<search>`` (3 in the Search-R1 runs the paper compares).
        max_turns: searches at most (4).
        batch_size: questions per batched rollout.
    """
    return SearcherConfig(
        protocol=NAME, episode=r1_episode_config(docs_per_search, max_turns), batch_size=batch_size
    )


def searched_docs(episode: Episode) -> list:
    """All documents of all search results of an episode (the initial block excluded), de-duplicated."""
    return dedup_docs(d for block in episode.blocks if block.query is not None for d in block.docs)


class SearchR1Context(ContextMethod):
    """The documents a Search-R1-mode searcher retrieved, handed to the frozen generator.

    Args:
        search: a :class:`Searcher` (built with :func:`search_r1_config` or any Search-R1-mode config)
            or a :class:`SharedSearch` around one.
        name: the table label.
    """

    def __init__(self, search: Searcher | SharedSearch, name: str = "search-r1"):
        self.shared = search if isinstance(search, SharedSearch) else SharedSearch(search)
        self.name = name

    def contexts(self, examples: Sequence[Example]) -> list[ContextRecord]:
        out = []
        results: list[tuple[SearchResult, Episode]] = self.shared.results(examples)
        for e, (res, ep) in zip(examples, results):
            if ep is None:
                raise RuntimeError(f"{self.name}: the search result for {e.id!r} carries no episode")
            trace = _trace(res)
            trace["own_answer"] = ep.answer  # the searcher's own answer, kept for inspection only
            out.append(
                ContextRecord(
                    id=e.id,
                    question=e.question,
                    docs=searched_docs(ep),
                    turns=ep.generations,
                    searches=ep.searches,
                    trace=trace,
                )
            )
        return out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), **self.shared.describe()}

    def close(self) -> None:
        self.shared.close()
