"""The batched multi-turn rollout: many episodes at once, one policy call and one search call per turn.

For every question the rollout renders the protocol's prompt, then loops: generate a turn for every
active episode in one batched policy call, cut each turn at its stop string *in token space*, parse
it into an action, run all queries of the turn in one ``retriever.search`` call, and append each
observation as tokens. A :class:`Trajectory` keeps the sampled ids exactly as sampled (never
re-tokenised text), their log-probs, and an environment mask that is 1 on every token the policy
sampled and 0 on every token the environment wrote (observations, feedback, the closing EOS).

Budgets are enforced here, not by the backend: ``max_new_tokens_per_turn`` per generation,
``max_obs_tokens`` per observation, ``max_total_tokens`` for prompt plus completion.

Example::

    trajs = run_rollout(policy, retriever, S3Protocol(), questions,
                        episode_cfg=episode_preset("8-3-3"), rollout_cfg=RolloutConfig.greedy())
    trajs[0].episode.context(), trajs[0].env_mask, trajs[0].to_json()
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from retrievers.base import Retriever
from retrievers.doc import Doc
from s3.config import field
from s3.episode import EpisodeConfig
from s3.policy.base import PolicyBackend, shortest_prefix
from s3.protocol import SEARCH, Protocol
from s3.trajectory import RolloutStats, Trajectory, Turn, summarize

__all__ = [
    "RolloutConfig",
    "RolloutStats",
    "Trajectory",
    "Turn",
    "cut_at_stop",
    "encode_prompt",
    "run_rollout",
    "summarize",
]

log = logging.getLogger(__name__)


@dataclass
class RolloutConfig:
    """Sampling and token budgets of a rollout (the turn count lives in :class:`EpisodeConfig`)."""

    max_new_tokens_per_turn: int = field(500, help="most tokens the policy samples in one generation")
    max_obs_tokens: int = field(
        1400, help="most tokens of one observation (documents are cut, the closing tag kept)"
    )
    max_total_tokens: int = field(8192, help="most tokens of prompt plus completion; the episode ends there")
    temperature: float = field(0.6, help="sampling temperature (0 = greedy; evaluation and inference use 0)")
    top_p: float = field(0.95, help="nucleus sampling mass")
    seed: int | None = field(None, help="sampling seed passed to the backend")
    extra_stop: list[str] = field(default_factory=list, help="stop strings added to the protocol's")
    end_with_eos: bool = field(True, help="close finished episodes with an EOS token (env-masked)")
    fixed_generate_calls: bool = field(
        False, help="every rollout makes exactly max_turns+1 policy calls (multi-rank vLLM needs this)"
    )
    on_search_error: Literal["raise", "feedback"] = field(
        "raise", help="a failed search raises, or shows the searcher an error and goes on"
    )
    progress: bool = field(False, help="show a progress bar over turns")

    def __post_init__(self) -> None:
        for name in ("max_new_tokens_per_turn", "max_obs_tokens", "max_total_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.on_search_error not in ("raise", "feedback"):
            raise ValueError(f"on_search_error must be 'raise' or 'feedback', got {self.on_search_error!r}")

    @classmethod
    def greedy(cls, **overrides: Any) -> RolloutConfig:
        """Greedy decoding (evaluation and inference)."""
        return cls(**{"temperature": 0.0, "top_p": 1.0, **overrides})


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` without special tokens."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def decode(tokenizer: Any, ids: Sequence[int]) -> str:
    return tokenizer.decode(list(ids), skip_special_tokens=True)


def encode_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Apply the chat template (with the generation prompt); plain text when the tokenizer has none."""
    if getattr(tokenizer, "chat_template", None):
        ids = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=False
        )
        if hasattr(ids, "input_ids"):  # some versions still return an encoding
            ids = ids["input_ids"]
        return list(ids)
    text = "\n\n".join(m["content"] for m in messages) + "\n"
    return encode(tokenizer, text)


def cut_at_stop(
    tokenizer: Any, ids: list[int], protocol: Protocol, extra_stop: Sequence[str] = ()
) -> tuple[int, str]:
    """The shortest prefix of ``ids`` whose text contains a stop: (its length, its text).

    Works in token space so the kept ids and the parsed text agree; ``(len(ids), text)`` when no
    stop occurs.
    """

    def has_stop(text: str) -> bool:
        return protocol.find_stop(text) is not None or any(s and s in text for s in extra_stop)

    n = shortest_prefix(tokenizer, ids, has_stop)
    n = len(ids) if n is None else n
    return n, decode(tokenizer, ids[:n])


def _env_ids(tokenizer: Any, text: str, protocol: Protocol, max_tokens: int, counters: Counter) -> list[int]:
    """Tokenise an observation, cutting its body (never its closing) to ``max_tokens``."""
    ids = encode(tokenizer, text)
    if len(ids) <= max_tokens:
        return ids
    counters["obs_truncated"] += 1
    close = protocol.observation_close
    if close and text.endswith(close):
        close_ids = encode(tokenizer, close)
        if len(close_ids) < max_tokens:
            body = encode(tokenizer, text[: -len(close)])
            return body[: max_tokens - len(close_ids)] + close_ids
    return ids[:max_tokens]


def run_rollout(
    policy: PolicyBackend,
    retriever: Retriever,
    protocol: Protocol,
    questions: Sequence[str],
    initial_docs: Sequence[Sequence[Doc]] | None = None,
    episode_cfg: EpisodeConfig | None = None,
    rollout_cfg: RolloutConfig | None = None,
    stats: RolloutStats | None = None,
) -> list[Trajectory]:
    """Run one episode per question, batched; returns one :class:`Trajectory` per question, in order.

    Args:
        policy: the searcher's backend (its ``tokenizer`` renders prompts and observations).
        retriever: answers every turn's queries in one ``search(queries, k)`` call.
        protocol: the tag language (:class:`~s3.protocol.S3Protocol`, ...).
        questions: the questions (repeat a question for several samples of it).
        initial_docs: naive-RAG documents per question; ``None`` retrieves the top ``initial_k`` for
            the raw question.
        episode_cfg: turn count and context rules (default: 8-3-3).
        rollout_cfg: sampling and budgets (default: training sampling).
        stats: filled with the wall-clock split of this rollout when given.
    """
    ecfg = episode_cfg or EpisodeConfig()
    rcfg = rollout_cfg or RolloutConfig()
    stats = stats if stats is not None else RolloutStats()
    tok = policy.tokenizer
    t_start = time.perf_counter()

    questions = list(questions)
    if initial_docs is None:
        if ecfg.initial_k > 0 and questions:
            t0 = time.perf_counter()
            initial_docs = retriever.search(questions, ecfg.initial_k)
            stats.search_s += time.perf_counter() - t0
            stats.search_calls += 1
        else:
            initial_docs = [[] for _ in questions]
    if len(initial_docs) != len(questions):
        raise ValueError(f"{len(questions)} questions but {len(initial_docs)} lists of initial documents")

    trajs: list[Trajectory] = []
    for question, docs in zip(questions, initial_docs):
        episode = protocol.new_episode(question, list(docs)[: ecfg.initial_k], ecfg)
        messages = protocol.messages(question, episode.blocks[0].docs, ecfg)
        trajs.append(
            Trajectory(
                question=question, prompt_ids=encode_prompt(tok, messages), episode=episode, messages=messages
            )
        )
    too_long = sum(t.length >= rcfg.max_total_tokens for t in trajs)
    if too_long:
        log.warning(
            "%d prompt(s) leave no token budget (max_total_tokens=%d)", too_long, rcfg.max_total_tokens
        )

    stop = [*protocol.stop_strings, *rcfg.extra_stop]
    steps = range(ecfg.max_generations)
    if rcfg.progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="rollout turns", unit="turn")
    for step in steps:
        for t in trajs:
            if not t.episode.done and t.length >= rcfg.max_total_tokens:
                t.episode.finish("budget")
        active = [t for t in trajs if not t.episode.done]
        if not active:
            if not rcfg.fixed_generate_calls:
                break
            _idle_call(policy, trajs, rcfg, stop, step, stats)
            continue
        budget = max(rcfg.max_total_tokens - t.length for t in active)
        max_new = min(rcfg.max_new_tokens_per_turn, budget)
        t0 = time.perf_counter()
        gens = policy.generate(
            [t.prompt_ids + t.completion_ids for t in active],
            max_new_tokens=max_new,
            temperature=rcfg.temperature,
            top_p=rcfg.top_p,
            stop=stop,
            seed=None if rcfg.seed is None else rcfg.seed + step,
            meta=[
                {"question": t.question, "turn": t.episode.generations, "index": i}
                for i, t in enumerate(active)
            ],
        )
        stats.generate_s += time.perf_counter() - t0
        stats.generate_calls += 1
        if len(gens) != len(active):
            raise RuntimeError(f"the policy returned {len(gens)} generations for {len(active)} prompts")

        pending: list[tuple[Trajectory, str]] = []
        for t, gen in zip(active, gens):
            pending_query = _apply_turn(
                t, gen.token_ids, gen.logprobs, gen.finish_reason, protocol, tok, rcfg, max_new
            )
            if pending_query is not None:
                pending.append((t, pending_query))
            stats.episode_turns += 1

        if pending:
            t0 = time.perf_counter()
            try:
                results = retriever.search([q for _, q in pending], ecfg.docs_per_search)
            except Exception as exc:
                if rcfg.on_search_error == "raise":
                    raise
                log.error("search failed for %d queries: %s", len(pending), exc)
                results = None
            stats.search_s += time.perf_counter() - t0
            stats.search_calls += 1
            for i, (t, query) in enumerate(pending):
                docs = list(results[i])[: ecfg.docs_per_search] if results is not None else []
                if results is None:
                    t.counters["search_errors"] += 1
                t.episode.add_results(query, docs)
                if t.episode.generations >= ecfg.max_generations:
                    # no generation follows (final_turn off): the documents are in the episode, and
                    # tokens no policy token conditions on would only cost the trainer a forward pass
                    t.episode.finish("max_turns")
                    continue
                text = protocol.observation(docs, t.episode)
                _add_env_text(t, text, protocol, tok, rcfg)

    for t in trajs:
        t.episode.finish("max_turns")
        if rcfg.end_with_eos and not t.truncated:
            eos = getattr(tok, "eos_token_id", None)
            if (
                eos is not None
                and t.completion_ids
                and t.completion_ids[-1] != eos
                and t.length < rcfg.max_total_tokens
            ):
                t.add_env([eos])
        t.completion_text = tok.decode(t.completion_ids, skip_special_tokens=False)
    stats.total_s += time.perf_counter() - t_start
    return trajs


def _apply_turn(
    t: Trajectory,
    ids: list[int],
    logprobs: list[float] | None,
    finish: str,
    protocol: Protocol,
    tok: Any,
    rcfg: RolloutConfig,
    max_new: int,
) -> str | None:
    """Cut one generation at its stop and budgets, record its action; returns a query to search, if any."""
    ids = list(ids)
    sampled = len(ids)
    n, text = cut_at_stop(tok, ids, protocol, rcfg.extra_stop)
    turn_finish = "stop" if n < sampled else finish
    if n > max_new:
        n, turn_finish = max_new, "length"
    remaining = rcfg.max_total_tokens - t.length
    if n > remaining:
        n, turn_finish = max(0, remaining), "budget"
    if n < sampled:
        text = decode(tok, ids[:n])
    t.add_policy(ids[:n], None if logprobs is None else list(logprobs[:n]))
    episode = t.episode
    action = protocol.parse(text, episode)
    episode.record(action)
    turn = Turn(text=text, action=action, policy_tokens=n, finish=turn_finish, cut_tokens=sampled - n)
    t.turns.append(turn)
    if turn_finish == "length":
        t.counters["turns_hit_max_new_tokens"] += 1
    if action.terminal:  # a turn that ends the episode does so even when it also used up the budget
        episode.finish(action.kind)
        return None
    if turn_finish == "budget" or t.length >= rcfg.max_total_tokens:
        episode.finish("budget")
        return None
    if action.kind == SEARCH:
        if episode.can_search():
            return action.query
        t.counters["search_refused"] += 1
        episode.finish("max_turns")
        return None
    # invalid: feedback, unless this was the last generation
    if episode.generations >= episode.config.max_generations:
        episode.finish("max_turns")
        return None
    _add_env_text(t, protocol.feedback(action, episode), protocol, tok, rcfg)
    return None


def _add_env_text(t: Trajectory, text: str, protocol: Protocol, tok: Any, rcfg: RolloutConfig) -> None:
    remaining = rcfg.max_total_tokens - t.length
    ids = _env_ids(tok, text, protocol, min(rcfg.max_obs_tokens, max(0, remaining)), t.counters)
    t.add_env(ids)
    if t.turns:
        t.turns[-1].env_text = decode(tok, ids)
        t.turns[-1].env_tokens = len(ids)
    if t.length >= rcfg.max_total_tokens:
        t.episode.finish("budget")


def _idle_call(
    policy: PolicyBackend,
    trajs: list[Trajectory],
    rcfg: RolloutConfig,
    stop: list[str],
    step: int,
    stats: RolloutStats,
) -> None:
    """A throw-away policy call so every rollout makes the same number of calls (multi-rank engines)."""
    prompt = trajs[0].prompt_ids[-1:] if trajs else [0]
    t0 = time.perf_counter()
    policy.generate(
        [prompt],
        max_new_tokens=1,
        temperature=rcfg.temperature,
        top_p=rcfg.top_p,
        stop=stop,
        meta=[{"question": None, "turn": step, "idle": True}],
    )
    stats.generate_s += time.perf_counter() - t0
    stats.generate_calls += 1
