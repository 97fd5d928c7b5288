"""Rewards of Search-R1 mode: the policy's own answer, scored against the gold answers.

Named options (:class:`AnswerRewardConfig`), per episode with answer ``a`` and gold answers ``A``:

* ``em`` (Search-R1's outcome reward): 1 if the SQuAD-normalised ``a`` equals a normalised gold answer.
* ``f1``: the best token F1 between ``a`` and a gold answer.
* ``genacc``: the answer-span check of GenAcc (a gold answer occurs in ``a``), else optionally an LLM judge.

An episode that never answered scores 0. The optional format term (``format_weight = w``) mixes in
how well the episode kept to the protocol::

    reward = (1 - w) * score + w * format

where ``format`` is 0 for an episode that never answered, else the share of its turns that were
well formed (one valid action, nothing the parser had to repair, and a ``<think>`` first when
``require_think``). So a correct answer in a well-formed episode earns 1, a correct one in a broken
episode ``1 - w``, a wrong one in a well-formed episode ``w``, as in Search-R1's format-aware variant.

Example::

    reward = AnswerReward(AnswerRewardConfig(kind="em"))
    parts = reward.score(["Paris"], [["paris", "Paris, France"]])
    parts[0].reward                                  # 1.0
    parts = reward.score_trajectories(trajectories, golds)   # answers and format from the episodes
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from s3.config import ConfigError, field
from s3.protocol import INVALID

log = logging.getLogger(__name__)

KINDS = ("em", "f1", "genacc")


@dataclass
class AnswerRewardConfig:
    """How Search-R1 mode scores an episode: the answer metric and the optional format term."""

    kind: str = field(
        "em", help="em (exact match, Search-R1's reward) | f1 | genacc (span check, then judge)"
    )
    format_weight: float = field(
        0.0, help="weight w of the format term: (1-w)*score + w*format; 0 = answer only"
    )
    require_think: bool = field(False, help="format term: a well-formed turn reasons in <think> first")
    use_judge: bool = field(False, help="genacc: ask an LLM judge (the generator) when the span check fails")

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"answer_reward.kind: {self.kind!r} is not one of {list(KINDS)}")
        if not 0.0 <= self.format_weight <= 1.0:
            raise ConfigError(f"answer_reward.format_weight: must be in [0, 1], got {self.format_weight}")


@dataclass
class AnswerRewardParts:
    """The reward of one episode and its parts (all logged).

    Attributes:
        reward: the scalar the trainer sees.
        score: the answer metric named by ``kind`` (0 when there is no answer).
        em, f1: exact match and token F1 of the answer (always computed, for logs).
        format: the format term in [0, 1] (``None`` when no turns were given to judge it).
        answer: the answer scored (``None`` when the episode never answered).
    """

    reward: float
    score: float
    em: float
    f1: float
    format: float | None
    answer: str | None


def turn_well_formed(action: Any, require_think: bool = False) -> bool:
    """A turn with one valid action, nothing repaired, and a ``<think>`` when required."""
    if action.kind == INVALID or action.repairs:
        return False
    return bool(action.think) or not require_think


def format_score(actions: Sequence[Any], answered: bool, require_think: bool = False) -> float:
    """0 for an episode that never answered, else the share of well-formed turns."""
    if not answered or not actions:
        return 0.0
    return sum(turn_well_formed(a, require_think) for a in actions) / len(actions)


class AnswerReward:
    """Scores the policy's own answers; see the module docstring for the options.

    Args:
        config: the :class:`AnswerRewardConfig`.
        judge: an LLM judge with ``ajudge_batch`` for ``kind="genacc"``; built on ``generator`` when
            ``config.use_judge`` and none is given.
        generator: the generator a default judge asks (only with ``use_judge``).
    """

    def __init__(
        self, config: AnswerRewardConfig | None = None, judge: Any | None = None, generator: Any | None = None
    ):
        self.config = config or AnswerRewardConfig()
        if judge is None and self.config.use_judge and self.config.kind == "genacc":
            if generator is None:
                raise ConfigError("answer_reward.use_judge: the judge needs a generator (generator.*)")
            from evaluation.judge import LLMJudge

            judge = LLMJudge(generator)
        self.judge = judge

    async def ascore(
        self,
        answers: Sequence[str | None],
        golds: Sequence[Sequence[str] | str],
        questions: Sequence[str] | None = None,
        actions: Sequence[Sequence[Any]] | None = None,
    ) -> list[AnswerRewardParts]:
        """Score a batch of answers.

        Args:
            answers: each episode's answer (``None``: it never answered).
            golds: each episode's gold answers (a string counts as one answer).
            questions: the questions (passed to a judge).
            actions: each episode's parsed turns, for the format term (required when ``format_weight > 0``).

        Returns:
            One :class:`AnswerRewardParts` per answer, in order.
        """
        from evaluation.metrics import agenacc_batch, exact_match, f1_score

        n = len(answers)
        if len(golds) != n or (questions is not None and len(questions) != n):
            raise ValueError(
                f"lengths differ: {n} answers, {len(golds)} golds, {len(questions or [])} questions"
            )
        cfg = self.config
        if cfg.format_weight > 0 and actions is None:
            raise ValueError(
                "answer_reward.format_weight > 0 needs each episode's actions (score_trajectories)"
            )
        gold_lists = [[g] if isinstance(g, str) else list(g) for g in golds]
        em = [exact_match(a, g) if a is not None else 0.0 for a, g in zip(answers, gold_lists)]
        f1 = [f1_score(a, g) if a is not None else 0.0 for a, g in zip(answers, gold_lists)]
        if cfg.kind == "em":
            score = em
        elif cfg.kind == "f1":
            score = f1
        else:
            idx = [i for i, a in enumerate(answers) if a is not None]
            score = [0.0] * n
            if idx:
                qs = questions or [""] * n
                got = await agenacc_batch(
                    [qs[i] for i in idx],
                    [answers[i] for i in idx],
                    [gold_lists[i] for i in idx],
                    judge=self.judge,
                )
                for i, v in zip(idx, got):
                    score[i] = float(v)
        out = []
        for i in range(n):
            fmt = None
            if actions is not None:
                fmt = format_score(actions[i], answers[i] is not None, cfg.require_think)
            w = cfg.format_weight
            reward = score[i] if w == 0 else (1 - w) * score[i] + w * (fmt or 0.0)
            out.append(AnswerRewardParts(float(reward), float(score[i]), em[i], f1[i], fmt, answers[i]))
        return out

    def score(self, *args: Any, **kwargs: Any) -> list[AnswerRewardParts]:
        """Synchronous :meth:`ascore`, same arguments (for callers outside an event loop)."""
        return asyncio.run(self.ascore(*args, **kwargs))

    async def ascore_trajectories(
        self, trajectories: Sequence[Any], golds: Sequence[Sequence[str] | str]
    ) -> list[AnswerRewardParts]:
        """Score rollout trajectories (or episodes): answers, questions and turns come from their episodes."""
        episodes = [getattr(t, "episode", t) for t in trajectories]
        return await self.ascore(
            [e.answer for e in episodes], golds, [e.question for e in episodes], [e.actions for e in episodes]
        )

    def score_trajectories(
        self, trajectories: Sequence[Any], golds: Sequence[Sequence[str] | str]
    ) -> list[AnswerRewardParts]:
        """Synchronous :meth:`ascore_trajectories`."""
        return asyncio.run(self.ascore_trajectories(trajectories, golds))


def summarize(parts: Sequence[AnswerRewardParts]) -> dict[str, float]:
    """Batch means for logging: reward, the answer metric, EM, F1, the format term and the answered rate."""
    if not parts:
        return {}
    n = len(parts)
    out = {
        "reward": sum(p.reward for p in parts) / n,
        "score": sum(p.score for p in parts) / n,
        "em": sum(p.em for p in parts) / n,
        "f1": sum(p.f1 for p in parts) / n,
        "answered_rate": sum(p.answer is not None for p in parts) / n,
    }
    fmts = [p.format for p in parts if p.format is not None]
    if fmts:
        out["format"] = sum(fmts) / len(fmts)
    return out


def make_answer_reward_func(reward: AnswerReward, rollout: Any | None = None):
    """The async TRL reward function of Search-R1 mode: scores each trajectory's own answer.

    It reads the ``trajectory`` and ``golden_answers`` columns (as :class:`s3.train.trainer.S3Rollout`
    provides them) and logs ``reward/em``, ``reward/f1``, ``reward/format``, ``reward/answered_rate``,
    the episode statistics (``episode/searches``, ``episode/invalid_action_rate``, ...) and the time
    split of the step.
    """
    from s3.trajectory import log_step_metrics

    async def search_r1_reward(prompts, completions, trajectory, golden_answers, log_metric=None, **kwargs):
        t0 = time.perf_counter()
        parts = await reward.ascore_trajectories(trajectory, golden_answers)
        if log_metric is not None:
            for key, value in summarize(parts).items():
                log_metric(f"reward/{key}", float(value))
            stats = getattr(rollout, "last_stats", None)
            log_step_metrics(log_metric, trajectory, time.perf_counter() - t0, stats, skip=("docs_selected",))
        return [p.reward for p in parts]

    search_r1_reward.__name__ = f"search_r1_{reward.config.kind}"
    return search_r1_reward
