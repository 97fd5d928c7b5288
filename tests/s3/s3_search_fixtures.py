"""Shared pieces for the searcher tests: a small corpus with a real BM25 index, recording wrappers, scripted
rollouts and the environment-mask checks."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from retrievers.base import Retriever
from retrievers.doc import Doc
from s3.policy.scripted import ScriptedPolicy
from s3.rollout import RolloutConfig, encode, run_rollout

FACTS = [
    ("Paris", "Paris is the capital and largest city of France."),
    ("Lyon", "Lyon is the third largest city of France, on the Rhone."),
    ("Berlin", "Berlin is the capital of Germany and its largest city."),
    ("Munich", "Munich is the capital of Bavaria in southern Germany."),
    ("Dune (novel)", "Dune is a 1965 science fiction novel by the American author Frank Herbert."),
    ("Frank Herbert", "Frank Herbert was born in Tacoma, Washington, in 1920."),
    ("Tacoma", "Tacoma is a port city in the state of Washington."),
    ("Hamlet", "Hamlet is a tragedy written by William Shakespeare around 1600."),
    ("William Shakespeare", "William Shakespeare was born in Stratford-upon-Avon in 1564."),
    ("Stratford-upon-Avon", "Stratford-upon-Avon is a market town in Warwickshire, England."),
    ("Marie Curie", "Marie Curie won the Nobel Prize in Physics in 1903 and in Chemistry in 1911."),
    ("Nobel Prize", "The Nobel Prize is awarded yearly in Stockholm and Oslo."),
    ("Danube", "The Danube flows through Vienna, Budapest and Belgrade to the Black Sea."),
    ("Vienna", "Vienna is the capital of Austria, on the river Danube."),
    ("Mount Everest", "Mount Everest is the highest mountain above sea level, in the Himalayas."),
    ("Himalayas", "The Himalayas are a mountain range in Asia separating the Indian subcontinent."),
]
FILLER = [
    (f"Filler {i}", f"Filler passage number {i} mentions a city, a river and a novel in passing.")
    for i in range(24)
]

QUESTIONS = [
    "Where was the author of Dune born?",
    "Where was the writer of Hamlet born?",
    "What is the capital of France?",
    "Which river flows through Vienna?",
]


def corpus_docs() -> list[Doc]:
    return [Doc(str(i), title, text) for i, (title, text) in enumerate(FACTS + FILLER)]


def build_bm25(directory) -> Retriever:
    from retrievers.bm25 import BM25Retriever

    return BM25Retriever.build(corpus_docs(), directory)


class CountingRetriever(Retriever):
    """Delegates to a real retriever and records every call (to check batching)."""

    def __init__(self, inner: Retriever, fail: bool = False):
        self.inner = inner
        self.calls: list[tuple[list[str], int]] = []
        self.fail = fail

    def search(self, queries: list[str], k: int) -> list[list[Doc]]:
        self.calls.append((list(queries), k))
        if self.fail:
            raise ConnectionError("retriever down")
        return self.inner.search(queries, k)


def recording(policy):
    """Wrap ``policy.generate`` so every returned generation is kept, keyed by (question, turn)."""
    log: dict[tuple[str, int], list[int]] = {}
    calls: list[int] = []
    original = policy.generate

    def generate(prompts, **kwargs):
        gens = original(prompts, **kwargs)
        calls.append(len(prompts))
        for info, gen in zip(kwargs.get("meta") or [], gens):
            if info.get("question") is not None:
                log[(info["question"], info["turn"])] = list(gen.token_ids)
        return gens

    policy.generate = generate
    return log, calls


#: property tests over the module's tokenizer and index (fixtures hypothesis need not reset per example)
FIXTURE_SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def scripted_cases(turn_text, k: int, max_obs: int, max_new: int, extra_total: int) -> dict:
    """Strategies for :func:`scripted_rollout` (keyword arguments of ``@given``): up to four scripts of
    ``turn_text`` turns, 0 to 3 searches of 1 to ``k`` documents, and budgets up to the given sizes."""
    return {
        "scripts": st.lists(st.lists(turn_text, min_size=1, max_size=6), min_size=1, max_size=4),
        "max_turns": st.integers(0, 3),
        "k": st.integers(1, k),
        "max_obs": st.integers(4, max_obs),
        "max_new": st.integers(1, max_new),
        "extra_total": st.integers(1, extra_total),
    }


def scripted_rollout(tokenizer, retriever, protocol, scripts, episode_cfg, rollout_cfg):
    """Run one scripted episode per script (for the first questions), with no backend stop strings so the
    rollout's own token-space cut applies; returns (trajectories, sampled ids by (question, turn))."""
    questions = QUESTIONS[: len(scripts)]
    policy = ScriptedPolicy(tokenizer, dict(zip(questions, scripts)), use_stop_strings=False)
    sampled, _ = recording(policy)
    trajs = run_rollout(
        policy, retriever, protocol, questions, episode_cfg=episode_cfg, rollout_cfg=rollout_cfg
    )
    return trajs, sampled


def sampled_rollout(model_dir, retriever, protocol, episode_cfg, seed):
    """Sample one episode per question from the tiny model (temperature 1, 20 tokens a turn, observations
    cut to 60 tokens); returns (trajectories, sampled ids by (question, turn), the rollout config), each
    trajectory with the log-probs of its sampled tokens."""
    from s3.policy.hf import HFPolicy

    policy = HFPolicy.from_pretrained(str(model_dir), device="cpu")
    sampled, _ = recording(policy)
    rcfg = RolloutConfig(temperature=1.0, top_p=1.0, max_new_tokens_per_turn=20, max_obs_tokens=60, seed=seed)
    trajs = run_rollout(policy, retriever, protocol, QUESTIONS, episode_cfg=episode_cfg, rollout_cfg=rcfg)
    assert all(t.logprobs is not None for t in trajs)
    return trajs, sampled, rcfg


def check_mask(t, sampled, tok, rcfg, ecfg, protocol):
    """The environment-mask properties of one trajectory of ``protocol``: every token the policy sampled
    is unmasked and exactly what the backend returned (``sampled[(question, turn)]``), every token the
    environment wrote is masked, and the budgets hold."""
    n = len(t.completion_ids)
    assert len(t.env_mask) == n
    assert t.logprobs is None or (len(t.logprobs) == n and all(lp <= 0.0 for lp in t.logprobs))
    assert t.length <= max(rcfg.max_total_tokens, len(t.prompt_ids))
    if len(t.prompt_ids) >= rcfg.max_total_tokens:
        assert t.completion_ids == [] and t.finish_reason == "budget"
    assert t.episode.searches <= ecfg.max_turns and len(t.turns) <= ecfg.max_turns + 1
    close_ids = encode(tok, protocol.observation_close)
    pos = 0
    for k, turn in enumerate(t.turns):
        policy = t.completion_ids[pos : pos + turn.policy_tokens]
        # every policy token was sampled by the backend (a prefix of its output) and is unmasked
        assert policy == sampled[(t.question, k)][: turn.policy_tokens]
        assert t.env_mask[pos : pos + turn.policy_tokens] == [1] * turn.policy_tokens
        pos += turn.policy_tokens
        env = t.completion_ids[pos : pos + turn.env_tokens]
        # every token the environment wrote is masked
        assert t.env_mask[pos : pos + turn.env_tokens] == [0] * turn.env_tokens
        if t.logprobs is not None:
            assert t.logprobs[pos : pos + turn.env_tokens] == [0.0] * turn.env_tokens
        if turn.env_tokens:
            block = next((b for b in t.episode.blocks[1:] if b.turn == k + 1), None)
            text = (
                protocol.observation(block.docs, t.episode)
                if block is not None
                else protocol.feedback(turn.action, t.episode)
            )
            full = encode(tok, text)
            if env != full:  # cut to a budget: a prefix, or the documents cut with the closing kept
                assert len(env) < len(full)
                body = encode(tok, text[: -len(protocol.observation_close)]) if block is not None else full
                kept_close = block is not None and env[-len(close_ids) :] == close_ids
                assert env == full[: len(env)] or (
                    kept_close and env[: -len(close_ids)] == body[: len(env) - len(close_ids)]
                )
        pos += turn.env_tokens
    tail = t.completion_ids[pos:]
    assert tail in ([], [tok.eos_token_id])  # only the closing EOS may follow the last turn
    assert t.env_mask[pos:] == [0] * len(tail)
    assert sum(t.env_mask) == sum(turn.policy_tokens for turn in t.turns)
