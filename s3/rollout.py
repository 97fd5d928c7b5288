"""The batched multi-turn rollout: many episodes at once, one policy call and one search call per turn.

The state lives in a :class:`SearchEnv` (retriever, protocol, episode rules, budgets) with three
steps: ``start`` renders each question's prompt over its naive-RAG documents; ``policy_step`` cuts a
generation at its stop string *in token space*, parses it into an action and records it;
``search_step`` runs all queries of the turn in one ``retriever.search`` call and appends each
observation as tokens. :func:`run_rollout` loops over them, generating for every live episode in one
batched policy call. A :class:`Trajectory` keeps the sampled ids exactly as sampled (never
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
from s3.policy.base import Generation, PolicyBackend, shortest_prefix
from s3.protocol import SEARCH, Protocol
from s3.trajectory import RolloutStats, Trajectory, Turn, summarize

__all__ = [
    "RolloutConfig",
    "RolloutStats",
    "SearchEnv",
    "Trajectory",
    "Turn",
    "TurnResult",
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


@dataclass
class TurnResult:
    """One episode's generation as :meth:`SearchEnv.policy_step` applied it.

    Attributes:
        trajectory: the episode's trajectory, with the turn's tokens and :class:`Turn` appended.
        turn: the turn: its text, parsed action, tokens kept and why the generation ended.
        query: the query the episode now waits on (:meth:`SearchEnv.search_step` runs it); ``None``
            when the turn ended the episode or the environment answered it with feedback.
    """

    trajectory: Trajectory
    turn: Turn
    query: str | None = None


class SearchEnv:
    """The environment of a search rollout: a retriever, a protocol and the episode rules, with budgets.

    A rollout is :meth:`start`, then per turn a batched policy generation for the :meth:`live`
    episodes, :meth:`policy_step` on each generation and one :meth:`search_step` for the turn, then
    :meth:`finish`; :func:`run_rollout` is that loop.

    Args:
        retriever: answers each turn's queries in one ``search(queries, k)`` call.
        protocol: the tag language (:class:`~s3.protocol.S3Protocol`, ...).
        tokenizer: the policy's tokenizer (renders prompts and observations as ids).
        episode_cfg: turn count and context rules (default: 8-3-3).
        rollout_cfg: sampling and token budgets (default: training sampling).
        stats: filled with the wall-clock split of the rollout when given.

    Example::

        env = SearchEnv(retriever, S3Protocol(), policy.tokenizer, episode_preset("8-3-3"))
        trajs = env.start(questions)
        live = env.live(trajs)
        gens = policy.generate(env.prompts(live), max_new_tokens=env.max_new_tokens(live), stop=env.stop)
        env.search_step([env.policy_step(t, g, env.max_new_tokens(live)) for t, g in zip(live, gens)])
        env.finish(trajs)
    """

    def __init__(
        self,
        retriever: Retriever,
        protocol: Protocol,
        tokenizer: Any,
        episode_cfg: EpisodeConfig | None = None,
        rollout_cfg: RolloutConfig | None = None,
        stats: RolloutStats | None = None,
    ):
        self.retriever = retriever
        self.protocol = protocol
        self.tokenizer = tokenizer
        self.episode_cfg = episode_cfg or EpisodeConfig()
        self.rollout_cfg = rollout_cfg or RolloutConfig()
        self.stats = stats if stats is not None else RolloutStats()
        #: where a turn ends: the protocol's stop strings and the rollout's extra ones
        self.stop = [*protocol.stop_strings, *self.rollout_cfg.extra_stop]

    # -- start ----------------------------------------------------------------------------------
    def start(
        self, questions: Sequence[str], initial_docs: Sequence[Sequence[Doc]] | None = None
    ) -> list[Trajectory]:
        """One trajectory per question: its episode (naive-RAG documents) and its rendered prompt.

        ``initial_docs`` gives each question's naive-RAG documents; ``None`` retrieves the top
        ``initial_k`` for the raw questions in one search.
        """
        questions = list(questions)
        if initial_docs is None:
            k = self.episode_cfg.initial_k
            initial_docs = self._search(questions, k) if k > 0 and questions else [[] for _ in questions]
        if len(initial_docs) != len(questions):
            raise ValueError(f"{len(questions)} questions but {len(initial_docs)} lists of initial documents")
        trajs = [self._new_trajectory(q, docs) for q, docs in zip(questions, initial_docs)]
        too_long = sum(t.length >= self.rollout_cfg.max_total_tokens for t in trajs)
        if too_long:
            log.warning(
                "%d prompt(s) leave no token budget (max_total_tokens=%d)",
                too_long, self.rollout_cfg.max_total_tokens,
            )  # fmt: skip
        return trajs

    def _new_trajectory(self, question: str, docs: Sequence[Doc]) -> Trajectory:
        ecfg = self.episode_cfg
        episode = self.protocol.new_episode(question, list(docs)[: ecfg.initial_k], ecfg)
        messages = self.protocol.messages(question, episode.blocks[0].docs, ecfg)
        prompt_ids = encode_prompt(self.tokenizer, messages)
        return Trajectory(question=question, prompt_ids=prompt_ids, episode=episode, messages=messages)

    # -- the policy's turn ----------------------------------------------------------------------
    def live(self, trajs: Sequence[Trajectory]) -> list[Trajectory]:
        """The episodes still running; one whose tokens filled ``max_total_tokens`` ends here (``budget``)."""
        for t in trajs:
            if not t.episode.done and t.length >= self.rollout_cfg.max_total_tokens:
                t.episode.finish("budget")
        return [t for t in trajs if not t.episode.done]

    def prompts(self, live: Sequence[Trajectory]) -> list[list[int]]:
        """What the policy continues: each live episode's prompt and completion so far."""
        return [t.prompt_ids + t.completion_ids for t in live]

    def max_new_tokens(self, live: Sequence[Trajectory]) -> int:
        """Tokens one generation may sample: the per-turn cap, within the largest remaining budget."""
        budget = max(self.rollout_cfg.max_total_tokens - t.length for t in live)
        return min(self.rollout_cfg.max_new_tokens_per_turn, budget)

    def policy_step(self, t: Trajectory, gen: Generation, max_new: int) -> TurnResult:
        """Apply one generation to its episode: cut it, parse and record its action, then end the
        episode, answer an invalid turn with feedback, or hand its query to :meth:`search_step`."""
        turn = self._record_turn(t, gen, max_new)
        self.stats.episode_turns += 1
        return TurnResult(t, turn, self._after_turn(t, turn))

    def _record_turn(self, t: Trajectory, gen: Generation, max_new: int) -> Turn:
        """Cut a generation at its stop and the budgets, keep its tokens and record its action."""
        ids, rcfg = list(gen.token_ids), self.rollout_cfg
        sampled = len(ids)
        n, text = cut_at_stop(self.tokenizer, ids, self.protocol, rcfg.extra_stop)
        finish = "stop" if n < sampled else gen.finish_reason
        if n > max_new:
            n, finish = max_new, "length"
        remaining = rcfg.max_total_tokens - t.length
        if n > remaining:
            n, finish = max(0, remaining), "budget"
        if n < sampled:
            text = decode(self.tokenizer, ids[:n])
        t.add_policy(ids[:n], None if gen.logprobs is None else list(gen.logprobs[:n]))
        action = self.protocol.parse(text, t.episode)
        t.episode.record(action)
        turn = Turn(text=text, action=action, policy_tokens=n, finish=finish, cut_tokens=sampled - n)
        t.turns.append(turn)
        if finish == "length":
            t.counters["turns_hit_max_new_tokens"] += 1
        return turn

    def _after_turn(self, t: Trajectory, turn: Turn) -> str | None:
        """What follows a recorded turn: the episode ends, gets feedback, or waits on the returned query."""
        episode, action = t.episode, turn.action
        if action.terminal:  # a turn that ends the episode does so even when it also used up the budget
            episode.finish(action.kind)
        elif turn.finish == "budget" or t.length >= self.rollout_cfg.max_total_tokens:
            episode.finish("budget")
        elif action.kind == SEARCH and episode.can_search():
            return action.query
        elif action.kind == SEARCH:
            t.counters["search_refused"] += 1
            episode.finish("max_turns")
        elif episode.generations >= episode.config.max_generations:  # invalid, and no generation follows
            episode.finish("max_turns")
        else:
            self._add_env_text(t, self.protocol.feedback(action, episode))
        return None

    # -- the environment's answer ---------------------------------------------------------------
    def search_step(self, results: Sequence[TurnResult]) -> None:
        """Run the turn's queries in one retriever call and show each episode what its query found."""
        pending = [r for r in results if r.query is not None]
        if not pending:
            return
        k = self.episode_cfg.docs_per_search
        found = self._search([r.query for r in pending], k, on_error=self.rollout_cfg.on_search_error)
        for i, r in enumerate(pending):
            t = r.trajectory
            if found is None:
                t.counters["search_errors"] += 1
            docs = list(found[i])[:k] if found is not None else []
            t.episode.add_results(r.query, docs)
            if t.episode.generations >= self.episode_cfg.max_generations:
                # no generation follows (final_turn off): the documents are in the episode, and
                # tokens no policy token conditions on would only cost the trainer a forward pass
                t.episode.finish("max_turns")
                continue
            self._add_env_text(t, self.protocol.observation(docs, t.episode))

    def _search(self, queries: list[str], k: int, on_error: str = "raise") -> list[list[Doc]] | None:
        """One timed retriever call; ``None`` when it failed and ``on_error`` is ``"feedback"``."""
        t0 = time.perf_counter()
        try:
            found = self.retriever.search(queries, k)
        except Exception as exc:
            if on_error == "raise":
                raise
            log.error("search failed for %d queries: %s", len(queries), exc)
            found = None
        self.stats.search_s += time.perf_counter() - t0
        self.stats.search_calls += 1
        return found

    def _add_env_text(self, t: Trajectory, text: str) -> None:
        """Append environment text (masked), cut to the observation and total budgets."""
        rcfg, tok = self.rollout_cfg, self.tokenizer
        remaining = rcfg.max_total_tokens - t.length
        ids = _env_ids(tok, text, self.protocol, min(rcfg.max_obs_tokens, max(0, remaining)), t.counters)
        t.add_env(ids)
        if t.turns:
            t.turns[-1].env_text = decode(tok, ids)
            t.turns[-1].env_tokens = len(ids)
        if t.length >= rcfg.max_total_tokens:
            t.episode.finish("budget")

    # -- the end --------------------------------------------------------------------------------
    def finish(self, trajs: Sequence[Trajectory]) -> None:
        """End every episode still running (``max_turns``), close it with an EOS, decode its completion."""
        rcfg, tok = self.rollout_cfg, self.tokenizer
        eos = getattr(tok, "eos_token_id", None)
        for t in trajs:
            t.episode.finish("max_turns")
            if (
                rcfg.end_with_eos
                and not t.truncated
                and eos is not None
                and t.completion_ids
                and t.completion_ids[-1] != eos
                and t.length < rcfg.max_total_tokens
            ):
                t.add_env([eos])
            t.completion_text = tok.decode(t.completion_ids, skip_special_tokens=False)


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

    The loop over a :class:`SearchEnv`: each turn, one policy call generates for every live episode.

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
    env = SearchEnv(retriever, protocol, policy.tokenizer, episode_cfg, rollout_cfg, stats)
    t_start = time.perf_counter()
    trajs = env.start(questions, initial_docs)
    steps = range(env.episode_cfg.max_generations)
    if env.rollout_cfg.progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="rollout turns", unit="turn")
    for step in steps:
        live = env.live(trajs)
        if live:
            max_new = env.max_new_tokens(live)
            gens = _generate(policy, env, live, max_new, step)
            env.search_step([env.policy_step(t, gen, max_new) for t, gen in zip(live, gens)])
        elif env.rollout_cfg.fixed_generate_calls:
            _idle_call(policy, env, trajs, step)
        else:
            break
    env.finish(trajs)
    env.stats.total_s += time.perf_counter() - t_start
    return trajs


def _generate(
    policy: PolicyBackend, env: SearchEnv, live: list[Trajectory], max_new: int, step: int
) -> list[Generation]:
    """One batched, timed policy call for every live episode."""
    rcfg = env.rollout_cfg
    t0 = time.perf_counter()
    gens = policy.generate(
        env.prompts(live),
        max_new_tokens=max_new,
        temperature=rcfg.temperature,
        top_p=rcfg.top_p,
        stop=env.stop,
        seed=None if rcfg.seed is None else rcfg.seed + step,
        meta=[
            {"question": t.question, "turn": t.episode.generations, "index": i} for i, t in enumerate(live)
        ],
    )
    env.stats.generate_s += time.perf_counter() - t0
    env.stats.generate_calls += 1
    if len(gens) != len(live):
        raise RuntimeError(f"the policy returned {len(gens)} generations for {len(live)} prompts")
    return gens


def _idle_call(policy: PolicyBackend, env: SearchEnv, trajs: list[Trajectory], step: int) -> None:
    """A throw-away policy call so every rollout makes the same number of calls (multi-rank engines)."""
    prompt = trajs[0].prompt_ids[-1:] if trajs else [0]
    t0 = time.perf_counter()
    policy.generate(
        [prompt],
        max_new_tokens=1,
        temperature=env.rollout_cfg.temperature,
        top_p=env.rollout_cfg.top_p,
        stop=env.stop,
        meta=[{"question": None, "turn": step, "idle": True}],
    )
    env.stats.generate_s += time.perf_counter() - t0
    env.stats.generate_calls += 1
