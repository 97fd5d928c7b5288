"""Warm-start demonstrations from the supporting passages the data names (``s3 warmstart source=gold``).

HotpotQA-style data lists the passages an answer rests on (``supporting_facts``: ``[[title,
sentence], ...]``; or ``supporting_doc_ids`` / ``gt_docs``). A searcher that knows them selects the
gold passages of each window, searches for a gold passage it has not seen by its title, and stops:
:func:`gold_turns` writes those turns, which the real rollout then replays (as the scripted
demonstrations of the embedded task).

Example::

    keys, titles = gold_keys(row)                       # what to select, what to search for
    turns = gold_turns(row, retriever, episode_config)  # the turn texts of one demonstration
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from s3.config import ConfigError
from s3.episode import EpisodeConfig


def select_ids(docs: Sequence[Any], wanted: set[str], cap: int | None) -> list[int]:
    """The 1-based positions of the ``wanted`` ids among ``docs``, at most ``cap`` of them."""
    ids = [i for i, d in enumerate(docs, start=1) if d.id in wanted]
    return ids[:cap] if cap else ids


def turn_text(selected: list[int] | None, complete: bool, query: str | None = None) -> str:
    """One scripted s3 turn: the selection, whether the search is complete, and the next query.

    ``selected=None`` writes no selection (where none can change the context), and a search is then
    the bare ``<query>``: a query already says the search goes on."""
    text = "" if selected is None else f"<important_info>{json.dumps(selected)}</important_info>"
    if complete or selected is not None:
        text += f"<search_complete>{complete}</search_complete>"
    if query is not None:
        # a leading space (stripped by the parser) makes a byte-level tokenizer encode the copied name
        # with the same ids it has in the passages: copying ids is what a tiny model learns fastest
        text += f"<query>{json.dumps({'query': ' ' + query})}</query>"
    return text


def gold_keys(row: dict[str, Any]) -> tuple[set[str], list[str]]:
    """The gold passages a row names: (ids and lower-cased titles to match, titles to search for).

    Reads ``supporting_doc_ids`` / ``gt_docs`` (ids, or dicts with ``id``/``title``) and HotpotQA-style
    ``supporting_facts`` (``[[title, sentence], ...]`` or titles), from the row or its ``meta``.
    """
    keys: set[str] = set()
    titles: list[str] = []
    meta = row.get("meta") or {}
    for name in ("supporting_doc_ids", "gt_docs", "supporting_facts"):
        value = row.get(name, meta.get(name))
        for item in value or []:
            if isinstance(item, dict):
                if item.get("id") is not None:
                    keys.add(str(item["id"]))
                title = item.get("title")
            elif isinstance(item, (list, tuple)) and item:
                title = str(item[0])
            else:
                title = str(item) if name == "supporting_facts" else None
                if name != "supporting_facts":
                    keys.add(str(item))
            if title and title.strip().lower() not in keys:
                keys.add(title.strip().lower())
                titles.append(title.strip())
    return keys, titles


def gold_turns(row: dict[str, Any], retriever: Any, episode_cfg: EpisodeConfig) -> list[str]:
    """The turn texts of a searcher that knows the row's gold passages: it selects the gold passages
    of each window, searches for a gold passage it has not seen by its title, and stops.

    Raises:
        ConfigError: the row names no supporting passages.
    """
    from s3.train.rows import row_initial_docs

    keys, titles = gold_keys(row)
    if not keys:
        raise ConfigError(
            f"question {row.get('id', row['question'])!r} names no supporting passages (supporting_facts, "
            "supporting_doc_ids or gt_docs): use source=teacher or source=none"
        )

    def is_gold(doc: Any) -> bool:
        return doc.id in keys or doc.title.strip().lower() in keys

    window = (row_initial_docs(row) or [])[: episode_cfg.initial_k]
    seen: set[str] = set()  # gold titles selected or searched for
    picked: set[str] = set()  # ids of gold passages selected (not selected twice)
    turns: list[str] = []
    searches = 0
    while True:
        new = {d.id for d in window if is_gold(d) and d.id not in picked}
        selected = select_ids(window, new, episode_cfg.select_cap)
        picked.update(new)
        seen.update(d.title.strip().lower() for d in window if is_gold(d))
        todo = [t for t in titles if t.lower() not in seen]
        can_search = episode_cfg.search_allowed(searches, len(turns) + 1)
        if not todo or not can_search:
            turns.append(turn_text(selected, True))
            return turns
        turns.append(turn_text(selected, False, todo[0]))
        seen.add(todo[0].lower())  # searched once, found or not
        window = retriever.search([todo[0]], episode_cfg.docs_per_search)[0]
        searches += 1
