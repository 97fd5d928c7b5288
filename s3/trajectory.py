"""Trajectories: one episode as token ids with its environment mask, log-probs, turns and counters.

A :class:`Trajectory` is what the rollout produces and what training consumes: ``prompt_ids``,
``completion_ids`` (policy turns and observations interleaved), ``logprobs`` (0.0 at environment
positions) and ``env_mask`` (1 on tokens the policy sampled, 0 on tokens the environment wrote),
plus the :class:`~s3.episode.Episode` with its documents. :func:`summarize` turns a batch into
metrics for logs (invalid-action rate, searches, truncation); :func:`log_step_metrics` logs them with
a training step's time split.

Example::

    traj.to_json()            # ids, mask, turns, episode
    summarize(trajs)          # {"invalid_action_rate": ..., "mean_searches": ...}
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from retrievers.doc import Doc
from s3.episode import Episode
from s3.protocol import Action


@dataclass
class Turn:
    """One generation of one episode and what the environment answered."""

    text: str
    action: Action
    policy_tokens: int
    env_text: str = ""
    env_tokens: int = 0
    finish: str = "stop"  # stop | length | budget
    cut_tokens: int = 0  # sampled tokens dropped after the stop string

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "action": self.action.to_dict(),
            "policy_tokens": self.policy_tokens,
            "env_text": self.env_text,
            "env_tokens": self.env_tokens,
            "finish": self.finish,
            "cut_tokens": self.cut_tokens,
        }


@dataclass
class Trajectory:
    """One episode as tokens: ``prompt_ids`` then ``completion_ids`` (policy turns and observations).

    ``logprobs`` has one value per completion token (0.0 at environment positions) or is ``None`` when
    the backend gave none. ``env_mask[i]`` is 1 when the policy sampled ``completion_ids[i]``, else 0.
    ``messages`` are the chat messages ``prompt_ids`` encode.
    """

    question: str
    prompt_ids: list[int]
    episode: Episode
    completion_ids: list[int] = dc_field(default_factory=list)
    logprobs: list[float] | None = dc_field(default_factory=list)
    env_mask: list[int] = dc_field(default_factory=list)
    turns: list[Turn] = dc_field(default_factory=list)
    counters: Counter = dc_field(default_factory=Counter)
    completion_text: str = ""
    messages: list[dict[str, str]] = dc_field(default_factory=list)  # the chat prompt before tokenizing

    @property
    def length(self) -> int:
        return len(self.prompt_ids) + len(self.completion_ids)

    @property
    def finish_reason(self) -> str | None:
        return self.episode.finish_reason

    @property
    def truncated(self) -> bool:
        """Whether the token budget cut the episode short (it then ends without EOS)."""
        return self.episode.finish_reason == "budget"

    def context(self) -> list[Doc]:
        """The documents the generator sees (``episode.context()``)."""
        return self.episode.context()

    def add_policy(self, ids: list[int], logprobs: list[float] | None) -> None:
        self.completion_ids.extend(ids)
        self.env_mask.extend([1] * len(ids))
        if logprobs is None or self.logprobs is None:
            self.logprobs = None
        else:
            self.logprobs.extend(float(x) for x in logprobs[: len(ids)])

    def add_env(self, ids: list[int]) -> None:
        self.completion_ids.extend(ids)
        self.env_mask.extend([0] * len(ids))
        if self.logprobs is not None:
            self.logprobs.extend([0.0] * len(ids))

    def stats(self) -> dict[str, int]:
        """Counters: generations, searches, invalid actions, selected documents, repairs, budgets."""
        ep = self.episode.counters
        out = {
            "turns": ep.get("generations", 0),
            "searches": ep.get("searches", 0),
            "invalid_actions": ep.get("action_invalid", 0),
            "docs_selected": ep.get("docs_selected", 0),
            "context_docs": len(self.episode.context()),
            "policy_tokens": sum(self.env_mask),
            "env_tokens": len(self.env_mask) - sum(self.env_mask),
        }
        out.update({k: v for k, v in ep.items() if k.startswith("repair_") or k == "reselect_ignored"})
        out.update(self.counters)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "finish_reason": self.finish_reason,
            "prompt_ids": self.prompt_ids,
            "completion_ids": self.completion_ids,
            "logprobs": self.logprobs,
            "env_mask": self.env_mask,
            "completion_text": self.completion_text,
            "turns": [t.to_dict() for t in self.turns],
            "stats": self.stats(),
            "episode": self.episode.to_dict(),
        }

    def to_json(self, **kwargs: Any) -> str:
        """The trajectory as a JSON string (ids, mask, turns, episode with its documents)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)


@dataclass
class RolloutStats:
    """Wall-clock split of a rollout: time in the policy, in the retriever, and everything else."""

    total_s: float = 0.0
    generate_s: float = 0.0
    search_s: float = 0.0
    generate_calls: int = 0
    search_calls: int = 0
    episode_turns: int = 0  # generations summed over episodes

    @property
    def overhead_s(self) -> float:
        """Time spent in the rollout's own code (tokenising, parsing, bookkeeping)."""
        return max(0.0, self.total_s - self.generate_s - self.search_s)


def summarize(trajectories: Sequence[Trajectory]) -> dict[str, float]:
    """Batch metrics for logs: mean turns, searches, invalid-action rate, selected docs, truncation."""
    if not trajectories:
        return {}
    n = len(trajectories)
    totals: Counter = Counter()
    for t in trajectories:
        totals.update(t.stats())
    generations = max(1, totals["turns"])
    out = {f"mean_{k}": v / n for k, v in sorted(totals.items())}
    out["invalid_action_rate"] = totals["invalid_actions"] / generations
    out["truncated_rate"] = sum(t.truncated for t in trajectories) / n
    out["complete_rate"] = sum(t.finish_reason == "complete" for t in trajectories) / n
    return out


#: the episode statistics a training step logs: :func:`summarize` key -> metric name (``episode/NAME``)
EPISODE_METRICS = {
    "mean_turns": "turns",
    "mean_searches": "searches",
    "invalid_action_rate": "invalid_action_rate",
    "mean_docs_selected": "docs_selected",
    "mean_context_docs": "context_docs",
    "truncated_rate": "truncated_rate",
}


def log_step_metrics(
    log_metric: Callable[[str, float], Any],
    trajectories: Sequence[Trajectory],
    reward_s: float,
    rollout_stats: RolloutStats | None = None,
    skip: Sequence[str] = (),
) -> None:
    """Log a training step's episode statistics (``episode/NAME`` for :data:`EPISODE_METRICS` less
    ``skip``) and its time split: ``time/reward_s``, then, given ``rollout_stats``, ``time/rollout_s``,
    ``time/policy_generate_s`` and ``time/retrieval_s``."""
    ep = summarize(trajectories)
    for key, name in EPISODE_METRICS.items():
        if key in ep and name not in skip:
            log_metric(f"episode/{name}", float(ep[key]))
    log_metric("time/reward_s", reward_s)
    if rollout_stats is not None:
        log_metric("time/rollout_s", rollout_stats.total_s)
        log_metric("time/policy_generate_s", rollout_stats.generate_s)
        log_metric("time/retrieval_s", rollout_stats.search_s)
