"""Search-R1-mode rewards: EM, F1, GenAcc on the model's own answer, the format term, the TRL adapter."""

from __future__ import annotations

import asyncio

import pytest

from s3.config import ConfigError
from s3.protocol_r1 import SearchR1Protocol, r1_episode_config
from s3.reward_r1 import (
    AnswerReward,
    AnswerRewardConfig,
    format_score,
    make_answer_reward_func,
    summarize,
    turn_well_formed,
)

P = SearchR1Protocol()
GOLDS = [["Eiffel Tower"], ["Paris", "City of Light"], ["1889"], ["Gustave Eiffel"]]


def episode(*turns, question="q"):
    ep = P.new_episode(question, [], r1_episode_config())
    for text in turns:
        ep.record(P.parse_turn(text))
    return ep


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("em", [1.0, 0.0, 0.0, 0.0]),
        ("f1", [1.0, 0.0, 0.4, 0.667]),
        ("genacc", [1.0, 0.0, 1.0, 1.0]),
    ],
)
def test_answer_metrics(kind, expected):
    answers = ["the Eiffel tower!", "Lyon", "It opened in 1889.", "Gustave Eiffel and partners"]
    parts = AnswerReward(AnswerRewardConfig(kind=kind)).score(answers, GOLDS)
    assert [round(p.reward, 3) for p in parts] == expected
    assert [p.score for p in parts] == [p.reward for p in parts]  # no format term by default
    assert [p.em for p in parts] == [1.0, 0.0, 0.0, 0.0]
    assert parts[3].f1 == pytest.approx(2 / 3)  # 2 of 4 predicted tokens, both gold tokens


def test_no_answer_scores_zero_and_a_string_gold_counts_as_one_answer():
    parts = AnswerReward(AnswerRewardConfig(kind="genacc")).score([None, "Paris"], [["Paris"], "paris"])
    assert [p.reward for p in parts] == [0.0, 1.0]
    assert parts[0].answer is None and parts[0].f1 == 0.0


def test_genacc_asks_the_judge_only_when_the_span_check_fails():
    class Judge:
        def __init__(self):
            self.asked = []

        async def ajudge_batch(self, questions, predictions, golds):
            self.asked.extend(predictions)
            return [p == "the iron lady of Paris" for p in predictions]

    judge = Judge()
    reward = AnswerReward(AnswerRewardConfig(kind="genacc", use_judge=True), judge=judge)
    parts = reward.score(
        ["Eiffel Tower", "the iron lady of Paris", "no idea"], [["Eiffel Tower"]] * 3, ["q"] * 3
    )
    assert [p.reward for p in parts] == [1.0, 1.0, 0.0]
    assert judge.asked == ["the iron lady of Paris", "no idea"]
    with pytest.raises(ConfigError, match="generator"):
        AnswerReward(AnswerRewardConfig(kind="genacc", use_judge=True))


def test_config_is_checked():
    with pytest.raises(ConfigError, match="answer_reward.kind"):
        AnswerRewardConfig(kind="gbr")
    with pytest.raises(ConfigError, match="format_weight"):
        AnswerRewardConfig(format_weight=1.5)


def test_format_score_of_constructed_episodes():
    clean = episode("<think>a</think><search>x</search>", "<think>b</think><answer>Paris</answer>")
    assert all(turn_well_formed(a) for a in clean.actions)
    assert format_score(clean.actions, answered=True) == 1.0
    assert format_score(clean.actions, answered=False) == 0.0
    no_think = episode("<search>x</search>", "<answer>Paris</answer>")
    assert format_score(no_think.actions, True) == 1.0
    assert format_score(no_think.actions, True, require_think=True) == 0.0
    broken = episode("rambling", "<search>x", "<answer>Paris</answer>")  # invalid, repaired, fine
    assert format_score(broken.actions, True) == pytest.approx(1 / 3)


def test_format_term_mixes_as_search_r1s_format_variant():
    reward = AnswerReward(AnswerRewardConfig(kind="em", format_weight=0.2))
    good = episode("<search>x</search>", "<answer>Paris</answer>")
    wrong = episode("<search>x</search>", "<answer>Lyon</answer>")
    sloppy = episode("<search>x", "<answer>Paris</answer> trailing")
    silent = episode("<search>x</search>")
    parts = reward.score_trajectories([good, wrong, sloppy, silent], [["Paris"]] * 4)
    assert [round(p.reward, 3) for p in parts] == [1.0, 0.2, 0.8, 0.0]
    assert [p.format for p in parts] == [1.0, 1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="actions"):
        reward.score(["Paris"], [["Paris"]])


def test_summarize_and_the_trl_reward_function():
    class Traj:
        def __init__(self, ep):
            self.episode = ep
            self.turns, self.env_mask = [], []

        def stats(self):
            return {
                "turns": self.episode.generations,
                "searches": 0,
                "invalid_actions": 0,
                "docs_selected": 0,
            }

        truncated = False
        finish_reason = "answer"

    reward = AnswerReward(AnswerRewardConfig(kind="em"))
    trajs = [
        Traj(episode("<answer>Paris</answer>")),
        Traj(episode("<answer>Rome</answer>")),
        Traj(episode("x")),
    ]
    func = make_answer_reward_func(reward)
    logged = {}
    out = asyncio.run(func(None, None, trajectory=trajs, golden_answers=[["Paris"]] * 3,
                           log_metric=lambda k, v: logged.__setitem__(k, v)))  # fmt: skip
    assert out == [1.0, 0.0, 0.0]
    assert logged["reward/em"] == pytest.approx(1 / 3)
    assert logged["reward/answered_rate"] == pytest.approx(2 / 3)
    assert logged["episode/turns"] == 1.0
    # the model answers itself: nothing is selected, so no docs_selected; no rollout, so no rollout times
    assert [k for k in logged if k.startswith(("episode/", "time/"))] == [
        "episode/turns", "episode/searches", "episode/invalid_action_rate", "episode/truncated_rate",
        "time/reward_s",
    ]  # fmt: skip
    assert func.__name__ == "search_r1_em"
    assert summarize([]) == {}
