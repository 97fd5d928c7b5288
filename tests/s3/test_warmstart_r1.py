"""Search-R1-mode warm-start demonstrations: they search for what is missing, answer with the gold
answer, and ``answer_noise_rate`` replaces that share of answers by a document-blind guess."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from retrievers.bm25 import BM25Retriever
from retrievers.corpus import read_corpus
from s3.config import ConfigError
from s3.protocol_r1 import r1_episode_config
from s3.protocol_registry import get_protocol
from s3.rollout import RolloutConfig
from s3.task import build_embedded_task
from s3.train.warmstart import WarmstartConfig, build_demonstrations


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    task = build_embedded_task(tmp_path_factory.mktemp("task_ws_r1"), seed=0, train=200, val=2, test=2)
    retriever = BM25Retriever.build(read_corpus(task / "corpus.jsonl"))
    with (task / "train.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f][:120]
    yield rows, retriever
    retriever.close()


def _answers(rows, retriever, tokenizer, rate, seed=0, skip=0.0):
    trajs = build_demonstrations(
        rows, retriever, tokenizer, get_protocol("search-r1"), r1_episode_config(3, 2, 0),
        RolloutConfig.greedy(max_new_tokens_per_turn=48, max_obs_tokens=400, max_total_tokens=4096),
        skip_search_rate=skip, seed=seed, answer_noise_rate=rate,
    )  # fmt: skip
    return [t.episode.answer for t in trajs], trajs


def test_clean_demonstrations_search_and_answer_with_the_gold_answer(world, tokenizer):
    rows, retriever = world
    answers, trajs = _answers(rows, retriever, tokenizer, 0.0)
    assert answers == [r["golden_answers"][0] for r in rows]
    # with no initial documents every demonstration searches before answering, 2-hop ones twice when needed
    assert all(t.episode.searches >= 1 for t in trajs)
    assert any(t.episode.searches == 2 for t, r in zip(trajs, rows) if r["hops"] == 2)
    # and the answer's passage is among what the searches returned whenever the script could reach it
    found = [any(d.id == r["answer_doc_id"] for d in t.episode.context()) for t, r in zip(trajs, rows)]
    assert sum(found) / len(found) > 0.9


def test_answer_noise_replaces_that_share_of_answers_by_the_most_common_answer(world, tokenizer):
    rows, retriever = world
    golds = [r["golden_answers"][0] for r in rows]
    guess = Counter(golds).most_common(1)[0][0]
    answers, _ = _answers(rows, retriever, tokenizer, 0.5, seed=3)
    noisy = [i for i, (a, g) in enumerate(zip(answers, golds)) if a != g]
    assert all(answers[i] == guess for i in noisy)  # a wrong answer is always the guess
    assert 0.35 < len(noisy) / len(rows) < 0.65
    # the same seed gives the same demonstrations; every answer is the guess at rate 1
    assert _answers(rows, retriever, tokenizer, 0.5, seed=3)[0] == answers
    assert set(_answers(rows, retriever, tokenizer, 1.0)[0]) == {guess}


def test_answer_noise_is_refused_outside_search_r1_mode_and_out_of_range(world, tokenizer):
    rows, retriever = world
    with pytest.raises(ConfigError, match="answer_noise_rate"):
        build_demonstrations(
            rows[:2], retriever, tokenizer, get_protocol("s3"), r1_episode_config(3, 1, 0),
            RolloutConfig.greedy(), answer_noise_rate=0.5,
        )  # fmt: skip
    with pytest.raises(ConfigError, match="answer_noise_rate: must be in"):
        WarmstartConfig(model="m", retriever="r", train_file="f", answer_noise_rate=1.5).check()
