"""s3 searchers as context methods, and the s3 context ablations (no selection, no initial documents).

:class:`SearcherContext` runs a :class:`s3.searcher.Searcher` (trained or untrained checkpoint, any
policy backend) over the questions and hands the episode's context to the frozen generator. The
ablations of the paper (Table 6) are *context rules* over the same trajectories: the searcher runs
exactly as trained and only the documents that reach the generator change:

* ``no-select``: every retrieved document (initial and every search's results), ignoring selections;
* ``no-init``: the initial naive-RAG documents never reach the generator;
* ``no-both``: both at once.

Several methods can share one :class:`SharedSearch`, so the searcher runs once per question for the
full method and all its ablations.

Example::

    shared = SharedSearch(Searcher.from_pretrained("runs/ckpt", retriever=bm25))
    methods = [SearcherContext(shared, "s3"), SearcherContext(shared, "s3-no-select", ablation="no-select")]
"""

from __future__ import annotations

import copy
import dataclasses
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from baselines.base import ContextMethod, ContextRecord, Example
from evaluation.contexts import retrieval_query
from s3.config import to_dict
from s3.episode import Episode, EpisodeConfig
from s3.searcher import Searcher, SearchResult

#: the context ablations of the paper, as overrides of the searcher's own episode rules
ABLATIONS: dict[str, dict[str, Any]] = {
    "no-select": {"use_selection": False},
    "no-init": {"include_initial": "never"},
    "no-both": {"use_selection": False, "include_initial": "never"},
}


class SharedSearch:
    """Runs a searcher at most once per question for every context method that reads its trajectories.

    Args:
        searcher: the searcher.
        label: where it came from (checkpoint path), saved in the run's settings.
        max_cached: episodes kept in memory (oldest dropped first; a dropped one is searched again
            if asked for, with the same greedy result).
    """

    def __init__(self, searcher: Searcher, label: str = "", max_cached: int = 20000):
        self.searcher = searcher
        self.label = label
        self.max_cached = max_cached
        self._memo: OrderedDict[tuple[str, str], tuple[SearchResult, Episode]] = OrderedDict()
        self.searched = 0

    def results(self, examples: Sequence[Example]) -> list[tuple[SearchResult, Episode]]:
        """(result, episode) per example; questions not in memory are searched in one batch."""
        # ids are unique within a dataset only (MIRAGE numbers each set from 0000): key by the text too
        missing = [e for e in examples if (e.id, e.question) not in self._memo]
        if missing:
            initial = None
            queries = [retrieval_query(e) for e in missing]
            k = self.searcher.config.episode.initial_k
            if k > 0 and any(q != e.question for q, e in zip(queries, missing)):
                # multiple choice: the prompt shows the options, the initial retrieval does not
                initial = self.searcher.retriever.search(queries, k)
            found = self.searcher.search_batch([e.question for e in missing], initial_docs=initial)
            self.searched += len(missing)
            for e, res in zip(missing, found):
                episode = res.trajectory.episode if res.trajectory is not None else None
                res.trajectory = None  # token ids are not needed past this point
                self._memo[(e.id, e.question)] = (res, episode)
                while len(self._memo) > self.max_cached:
                    self._memo.popitem(last=False)
        return [self._memo[(e.id, e.question)] for e in examples]

    def describe(self) -> dict[str, Any]:
        cfg = self.searcher.config
        return {
            "searcher": self.label,
            "protocol": cfg.protocol,
            "episode": to_dict(cfg.episode),
            "rollout": to_dict(cfg.rollout),
        }

    def close(self) -> None:
        self.searcher.close()


def _trace(result: SearchResult) -> dict[str, Any]:
    """The JSON trace of a search: queries, selected ids, finish reason, episode, turns, stats."""
    out: dict[str, Any] = {
        "queries": list(result.queries),
        "selected": [d.id for d in result.selected],
        "finish_reason": result.finish_reason,
    }
    out.update(result.trace)
    return out


class SearcherContext(ContextMethod):
    """The documents an s3 searcher gathers, under its own episode rules or an ablated context rule.

    Args:
        search: a :class:`Searcher` or a :class:`SharedSearch`.
        name: the table label (``"s3"``, ``"s3-untrained"``, ``"s3-no-select"``, ...).
        ablation: ``None`` or a key of :data:`ABLATIONS`.
        context: explicit episode rules for the context (wins over ``ablation``).
    """

    def __init__(
        self,
        search: Searcher | SharedSearch,
        name: str = "s3",
        ablation: str | None = None,
        context: EpisodeConfig | None = None,
    ):
        self.shared = search if isinstance(search, SharedSearch) else SharedSearch(search)
        self.name = name
        if ablation is not None and ablation not in ABLATIONS:
            raise ValueError(f"unknown ablation {ablation!r}; known: {sorted(ABLATIONS)}")
        self.ablation = ablation
        if context is None and ablation is not None:
            context = dataclasses.replace(self.shared.searcher.config.episode, **ABLATIONS[ablation])
        self.context_rules = context

    def _docs(self, result: SearchResult, episode: Episode | None) -> list:
        if self.context_rules is None:
            return list(result.documents)
        if episode is None:
            raise RuntimeError(
                f"{self.name}: the search result carries no episode to re-apply context rules to"
            )
        view = copy.copy(episode)
        view.config = self.context_rules
        return view.context()

    def contexts(self, examples: Sequence[Example]) -> list[ContextRecord]:
        out = []
        for e, (res, ep) in zip(examples, self.shared.results(examples)):
            trace = _trace(res)
            if self.ablation:
                trace["ablation"] = self.ablation
            out.append(
                ContextRecord(
                    id=e.id,
                    question=e.question,
                    docs=self._docs(res, ep),
                    turns=ep.generations if ep is not None else 0,
                    searches=ep.searches if ep is not None else len(res.queries),
                    trace=trace,
                )
            )
        return out

    def describe(self) -> dict[str, Any]:
        out = {**super().describe(), **self.shared.describe(), "ablation": self.ablation}
        if self.context_rules is not None:
            out["context_rules"] = to_dict(self.context_rules)
        return out

    def close(self) -> None:
        self.shared.close()
