"""Scripted Search-R1-mode demonstrations on the embedded task (SFT warm start and tests).

The model searches and answers itself, so the ideal episode is: look up the entity the question
names, look up the bridge entity when the answer's passage has not shown up yet, then answer with the
gold answer. :func:`r1_demonstration_turns` runs that script against a real retriever (it simulates
what the policy will see, so it searches only while the answer's passage is missing) and returns the
turn texts in the Search-R1 tag language, ready for :class:`~s3.policy.scripted.ScriptedPolicy`.

Example::

    turns = r1_demonstration_turns(row, bm25, k=3, max_searches=4)
    # ['<think>...</think>\\n<search> Zorbex Industries </search>', ..., '<think>...</think>\\n<answer> Quarnby </answer>']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from retrievers.base import Retriever
from retrievers.doc import Doc
from s3.task.demonstrations import SearchPlan


def search_turn(query: str, thought: str | None = None) -> str:
    """A turn that searches: an optional ``<think>``, then ``<search> query </search>``."""
    head = f"<think> {thought} </think>\n" if thought else ""
    return f"{head}<search> {query} </search>"


def answer_turn(answer: str, thought: str | None = None) -> str:
    """A turn that answers: an optional ``<think>``, then ``<answer> answer </answer>``."""
    head = f"<think> {thought} </think>\n" if thought else ""
    return f"{head}<answer> {answer} </answer>"


def _truth(example: Any) -> tuple[SearchPlan, str]:
    row: Mapping[str, Any] = example if isinstance(example, Mapping) else example.to_dict()
    merged = {**row, **(row.get("meta") or {})}
    answers = merged.get("golden_answers") or []
    if isinstance(answers, str):
        answers = [answers]
    if not answers:
        raise KeyError(f"question {merged.get('id', merged.get('question'))!r} has no golden_answers")
    return SearchPlan.of(merged), str(answers[0])


def r1_demonstration_turns(
    example: Any,
    retriever: Retriever,
    k: int = 3,
    max_searches: int = 4,
    initial_docs: Sequence[Doc] = (),
    think: bool = True,
    skip_search: bool = False,
    answer: str | None = None,
) -> list[str]:
    """The ideal Search-R1-mode episode for one embedded-task question, run against ``retriever``.

    Args:
        example: a task row (dict, ground truth at the top level or under ``meta``) or a
            :class:`s3.data.QAExample`.
        retriever: the retriever the policy uses (what it returns decides whether a second search is needed).
        k: documents per search.
        max_searches: searches at most; the last turn always answers.
        initial_docs: documents already shown in the prompt (none in Search-R1's own setting).
        think: write a short ``<think>`` before every action.
        skip_search: answer at once without searching (an imperfect demonstration).
        answer: the answer the last turn gives (default the first gold answer; another one makes an
            imperfect demonstration, e.g. a guess that ignores the documents).

    Returns:
        The turn texts in order; the last one answers with the first gold answer.

    Raises:
        KeyError: the example has no ground truth (not an embedded-task row).
    """
    plan, gold = _truth(example)
    gold = gold if answer is None else answer
    seen = {d.id for d in initial_docs}
    if skip_search:
        return [answer_turn(gold, "I can answer without searching." if think else None)]
    queries: list[tuple[str, str]] = []
    if plan.subject:
        queries.append((plan.subject, f"I need the passage about {plan.subject}."))
    for bridge in plan.ideal_queries:
        queries.append((bridge, f"That passage points to {bridge}; I need the passage about {bridge}."))
    turns: list[str] = []
    for query, thought in queries:
        if plan.answer_doc_id in seen or len(turns) >= max_searches:
            break
        turns.append(search_turn(query, thought if think else None))
        seen |= {d.id for d in retriever.search([query], k)[0]}
    turns.append(answer_turn(gold, f"The passages give the answer: {gold}." if think else None))
    return turns


def r1_oracle_turns(
    row: dict[str, Any],
    retriever: Retriever,
    episode_cfg: Any,
    skip_search: bool = False,
    think: bool = False,
    answer: str | None = None,
) -> list[str]:
    """:func:`r1_demonstration_turns` with the episode rules of a warm start (``oracle_turns``'s signature).

    Warm-start demonstrations leave ``<think>`` out by default: templated thoughts teach a model nothing
    but a formula; the tags and the actions are what it must learn before RL.
    """
    k0 = episode_cfg.initial_k
    if row.get("initial_docs") is not None:
        initial = [Doc.from_dict(d) for d in row["initial_docs"]][:k0]
    else:  # as the rollout does for a row without stored initial documents
        initial = retriever.search([row["question"]], k0)[0] if k0 > 0 else []
    return r1_demonstration_turns(
        row,
        retriever,
        k=episode_cfg.docs_per_search,
        max_searches=episode_cfg.max_turns,
        initial_docs=initial,
        think=think,
        skip_search=skip_search,
        answer=answer,
    )
