"""The training reward on constructed cases: gbr, gbr+acc and acc, the baseline term, missing entries,
batching and memoisation of generator calls."""

from __future__ import annotations

import asyncio

import pytest

from generators.base import Generator
from retrievers.doc import Doc
from s3.config import ConfigError
from s3.reward import (
    MissingBaselineError,
    RagCacheBaseline,
    RewardComponents,
    RewardConfig,
    SearchReward,
    ZeroBaseline,
    make_baseline,
    register_baseline,
    summarize,
)


class FirstTitleReader(Generator):
    """Answers every question with the title of the first passage of its context ("unknown" without one).

    A deterministic stand-in for an LLM so each case's GenAcc is known in advance; it records every
    batch it receives so the tests can count generator calls.
    """

    name = "first-title"

    def __init__(self) -> None:
        self.batches: list[int] = []

    def generate(self, requests, sampling=None):
        self.batches.append(len(requests))
        out = []
        for req in requests:
            system = req[0]["content"]
            marker = "(Title: "
            i = system.find(marker)
            out.append(system[i + len(marker) : system.index(")", i)] if i >= 0 else "unknown")
        return out


PARIS = Doc("d1", "Paris", "Paris is the capital of France.")
BERLIN = Doc("d2", "Berlin", "Berlin is the capital of Germany.")
Q1, Q2 = "What is the capital of France?", "Which city is the capital of Germany?"


def _reward(kind: str, cache: dict[str, float], on_missing: str = "error"):
    gen = FirstTitleReader()
    cfg = RewardConfig(kind=kind, on_missing=on_missing)
    return gen, SearchReward(gen, cfg, baseline=RagCacheBaseline(cache))


@pytest.mark.parametrize(
    ("kind", "rag", "context", "expected"),
    [
        # GenAcc(s3)=1, naive RAG=0: the searcher gained one answer over RAG
        ("gbr", 0.0, [PARIS], 1.0),
        ("gbr+acc", 0.0, [PARIS], 2.0),
        ("acc", 0.0, [PARIS], 1.0),
        # GenAcc(s3)=0, naive RAG=1: the searcher lost what RAG had
        ("gbr", 1.0, [BERLIN], -1.0),
        ("gbr+acc", 1.0, [BERLIN], -1.0),
        ("acc", 1.0, [BERLIN], 0.0),
        # both right: no gain, but the reference variant still pays GenAcc
        ("gbr", 1.0, [PARIS], 0.0),
        ("gbr+acc", 1.0, [PARIS], 1.0),
        # both wrong
        ("gbr", 0.0, [], 0.0),
        ("gbr+acc", 0.0, [], 0.0),
    ],
)
def test_each_reward_kind_on_constructed_cases(kind, rag, context, expected):
    _, reward = _reward(kind, {Q1: rag})
    (part,) = reward.score([Q1], [["Paris"]], [context])
    genacc = 1.0 if context and context[0] is PARIS else 0.0
    assert part.reward == expected
    assert part.genacc == genacc
    if kind == "acc":
        assert part.baseline is None and part.gbr is None
    else:
        assert part.baseline == rag and part.gbr == genacc - rag


def test_acc_needs_no_baseline_and_ignores_missing_entries():
    gen = FirstTitleReader()
    reward = SearchReward(gen, RewardConfig(kind="acc", baseline="rag_cache", rag_cache=""))
    assert reward.baseline is None
    parts = reward.score([Q1, "never cached?"], [["Paris"], ["Berlin"]], [[PARIS], [BERLIN]])
    assert [p.reward for p in parts] == [1.0, 1.0]


def test_cache_lookup_uses_normalised_questions():
    _, reward = _reward("gbr", {"  What is the capital of France ": 1.0})
    (part,) = reward.score([Q1], [["Paris"]], [[PARIS]])
    assert part.baseline == 1.0 and part.reward == 0.0


def test_cache_lookup_normalises_the_asked_question():
    """The precompute cache is keyed by normalised question; the trainer's question text may not be."""
    _, reward = _reward("gbr", {"What is the capital of France?": 1.0})
    (part,) = reward.score(["  What is the capital of France "], [["Paris"]], [[PARIS]])
    assert part.baseline == 1.0 and part.reward == 0.0


def test_missing_entry_raises_by_default_naming_the_question():
    _, reward = _reward("gbr", {Q1: 0.0})
    with pytest.raises(MissingBaselineError, match="capital of Germany") as err:
        reward.score([Q1, Q2], [["Paris"], ["Berlin"]], [[PARIS], [BERLIN]])
    assert "on_missing" in str(err.value)


def test_missing_entry_skip_gives_none_reward_not_zero():
    _, reward = _reward("gbr+acc", {Q1: 0.0}, on_missing="skip")
    parts = reward.score([Q1, Q2], [["Paris"], ["Berlin"]], [[PARIS], [BERLIN]])
    assert parts[0].reward == 2.0
    assert parts[1].reward is None and parts[1].baseline is None and parts[1].gbr is None
    assert parts[1].genacc == 1.0  # GenAcc is still measured and logged
    assert reward.stats["skipped"] == 1


def test_missing_entry_compute_answers_with_the_naive_rag_documents():
    gen, reward = _reward("gbr", {Q1: 0.0}, on_missing="compute")
    # naive RAG for Q2 ranks Berlin first (right); the searcher's context starts with Paris (wrong)
    parts = reward.score(
        [Q2, Q2], [["Berlin"], ["Berlin"]], [[PARIS], [PARIS, BERLIN]], initial_docs=[[BERLIN], [BERLIN]]
    )
    assert [p.baseline for p in parts] == [1.0, 1.0]
    assert [p.reward for p in parts] == [-1.0, -1.0]
    assert reward.stats["baseline_computed"] == 1  # computed once per question, then remembered
    parts = reward.score([Q2], [["Berlin"]], [[BERLIN]], initial_docs=[[BERLIN]])
    assert parts[0].reward == 0.0 and reward.stats["baseline_computed"] == 1


def test_compute_without_initial_docs_is_a_clear_error():
    _, reward = _reward("gbr", {}, on_missing="compute")
    with pytest.raises(ValueError, match="naive-RAG"):
        reward.score([Q1], [["Paris"]], [[PARIS]])


def test_one_batched_generator_call_for_unique_contexts_and_memo_across_calls():
    gen, reward = _reward("gbr", {Q1: 0.0, Q2: 0.0})
    # a GRPO group of 4 on Q1 with two distinct contexts, and 2 on Q2 with one context
    questions = [Q1] * 4 + [Q2] * 2
    contexts = [[PARIS], [BERLIN], [PARIS], [BERLIN], [BERLIN], [BERLIN]]
    golds = [["Paris"]] * 4 + [["Berlin"]] * 2
    parts = reward.score(questions, golds, contexts)
    assert [p.reward for p in parts] == [1.0, 0.0, 1.0, 0.0, 1.0, 1.0]
    assert gen.batches == [3]  # one call, three unique (question, context) pairs
    reward.score(questions, golds, contexts)
    assert gen.batches == [3]  # all memoised
    assert reward.stats == {"generator_calls": 3, "memo_hits": 6, "baseline_computed": 0, "skipped": 0}


def test_memo_is_bounded():
    gen = FirstTitleReader()
    reward = SearchReward(gen, RewardConfig(kind="acc", memo_size=1))
    reward.score([Q1, Q2], [["Paris"], ["Berlin"]], [[PARIS], [BERLIN]])
    assert len(reward._memo) == 1
    reward.score([Q1], [["Paris"]], [[PARIS]])
    assert gen.batches == [2, 1]


def test_ascore_runs_inside_an_event_loop():
    _, reward = _reward("gbr", {Q1: 0.0})

    async def main():
        return await reward.ascore([Q1], ["Paris"], [[PARIS]])

    (part,) = asyncio.run(main())
    assert part == RewardComponents(reward=1.0, genacc=1.0, baseline=0.0, gbr=1.0, answer="Paris")


def test_pluggable_baselines_by_name_and_import_path():
    assert isinstance(make_baseline(RewardConfig(baseline="none")), ZeroBaseline)

    class Half:
        async def __call__(self, questions, golds):
            return [0.5] * len(questions)

    register_baseline("half-test", lambda cfg: Half())
    reward = SearchReward(FirstTitleReader(), RewardConfig(kind="gbr", baseline="half-test"))
    assert reward.score([Q1], [["Paris"]], [[PARIS]])[0].reward == 0.5
    imported = make_baseline(RewardConfig(baseline="s3.reward:ZeroBaseline"))
    assert isinstance(imported, ZeroBaseline)
    with pytest.raises(ConfigError, match="reward.baseline"):
        make_baseline(RewardConfig(baseline="no_such_baseline"))
    with pytest.raises(ConfigError, match="rag_cache"):
        make_baseline(RewardConfig(baseline="rag_cache", rag_cache=""))


def test_config_validates_names():
    with pytest.raises(ConfigError, match="reward.kind"):
        RewardConfig(kind="gbr2")
    with pytest.raises(ConfigError, match="on_missing"):
        RewardConfig(on_missing="zero_shot")


def test_summarize_logs_both_gbr_terms():
    parts = [
        RewardComponents(reward=1.0, genacc=1.0, baseline=0.0, gbr=1.0, answer="a"),
        RewardComponents(reward=None, genacc=0.0, baseline=None, gbr=None, answer="b"),
    ]
    stats = summarize(parts)
    assert stats["reward"] == 1.0 and stats["genacc"] == 0.5
    assert stats["baseline_genacc"] == 0.0 and stats["gbr"] == 1.0 and stats["unscored_rate"] == 0.5
