"""Held-out reward of a searcher: run greedy episodes on questions it did not train on and score them.

Used before and after training (``s3 train`` logs both when ``data.eval_file`` is set) and by the
learning tests; :func:`evaluate_answers` does the same for a Search-R1-mode policy, scoring its own
answers. The reward is the training reward (:class:`~s3.reward.SearchReward`), so "better" means
what training optimises.

Example::

    result = score_policy(HFPolicy(model, tokenizer), rows, retriever, S3Protocol(), episode_cfg, reward)
    result["reward"], result["genacc"]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from s3.episode import EpisodeConfig
from s3.reward import SearchReward, summarize
from s3.reward_r1 import AnswerReward
from s3.reward_r1 import summarize as summarize_answers
from s3.rollout import RolloutConfig
from s3.rollout import summarize as summarize_trajectories
from s3.train.rows import run_rows


def score_policy(
    policy: Any,
    rows: Sequence[dict[str, Any]],
    retriever: Any,
    protocol: Any,
    episode_cfg: EpisodeConfig,
    reward: SearchReward,
    rollout_cfg: RolloutConfig | None = None,
    batch_size: int = 64,
) -> dict[str, float]:
    """Mean reward, its parts and episode statistics of ``policy`` on ``rows`` (greedy by default).

    Args:
        policy: a :class:`~s3.policy.base.PolicyBackend`.
        rows: questions with ``golden_answers`` and ``initial_docs`` (the precompute format).
        retriever, protocol, episode_cfg: the search environment.
        reward: the reward to report.
        rollout_cfg: sampling and budgets (default: greedy with the default budgets).
        batch_size: episodes run at once.

    Returns:
        ``reward``, ``genacc``, ``baseline_genacc``, ``gbr``, ``unscored_rate`` and the rollout's
        ``mean_*`` statistics, plus ``n``.
    """

    def score(chunk: list[dict[str, Any]], out: list[Any]) -> list[Any]:
        golds = [r["golden_answers"] for r in chunk]
        initial = [t.episode.blocks[0].docs for t in out]
        return reward.score([t.question for t in out], golds, [t.context() for t in out], initial)

    batches = rollout_rows(policy, rows, retriever, protocol, episode_cfg, rollout_cfg, batch_size)
    return _score_batches(len(rows), batches, score, summarize)


def _score_batches(n: int, batches, score, summarize_parts) -> dict[str, float]:
    """The mean of each reward part (``score(rows, trajectories)``, summarized by ``summarize_parts``)
    and of each episode statistic over every batch of :func:`rollout_rows`, plus ``n``."""
    parts, trajs = [], []
    for chunk, out in batches:
        parts.extend(score(chunk, out))
        trajs.extend(out)
    result = {k: float(v) for k, v in summarize_parts(parts).items()}
    result.update({k: float(v) for k, v in summarize_trajectories(trajs).items()})
    result["n"] = float(n)
    return result


def rollout_rows(
    policy: Any,
    rows: Sequence[dict[str, Any]],
    retriever: Any,
    protocol: Any,
    episode_cfg: EpisodeConfig,
    rollout_cfg: RolloutConfig | None = None,
    batch_size: int = 64,
) -> Iterator[tuple[list[dict[str, Any]], list[Any]]]:
    """Run episodes over ``rows`` (precompute format) ``batch_size`` at a time; yields (rows, trajectories).

    Rows carrying ``initial_docs`` start from them; otherwise the rollout retrieves its own.
    """
    rcfg = rollout_cfg or RolloutConfig.greedy()
    for start in range(0, len(rows), batch_size):
        chunk = list(rows[start : start + batch_size])
        out = run_rows(policy, chunk, retriever, protocol, episode_cfg, rcfg)
        yield chunk, out


def evaluate_answers(
    policy: Any,
    rows: Sequence[dict[str, Any]],
    retriever: Any,
    protocol: Any,
    episode_cfg: Any,
    reward: AnswerReward | None = None,
    rollout_cfg: Any | None = None,
    batch_size: int = 64,
) -> dict[str, float]:
    """Held-out reward of a Search-R1-mode policy: greedy episodes on ``rows``, their answers scored.

    Args:
        policy: a :class:`~s3.policy.base.PolicyBackend`.
        rows: questions with ``golden_answers`` (``initial_docs`` used when ``episode_cfg.initial_k > 0``).
        retriever, protocol, episode_cfg: the search environment.
        reward: the reward to report (default: exact match).
        rollout_cfg: sampling and budgets (default: greedy with the default budgets).
        batch_size: episodes run at once.

    Returns:
        ``reward``, ``score``, ``em``, ``f1``, ``answered_rate`` (and ``format``), the rollout's ``mean_*``
        statistics, and ``n``.
    """
    answer_reward = reward or AnswerReward()

    def score(chunk: list[dict[str, Any]], out: list[Any]) -> list[Any]:
        return answer_reward.score_trajectories(out, [r["golden_answers"] for r in chunk])

    batches = rollout_rows(policy, rows, retriever, protocol, episode_cfg, rollout_cfg, batch_size)
    return _score_batches(len(rows), batches, score, summarize_answers)
