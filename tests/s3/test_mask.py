"""Environment-mask properties on random trajectories: every observation/feedback token is masked (0),
every token the policy sampled is not (1), and the ids are exactly what the backend sampled."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from s3_search_fixtures import QUESTIONS, build_bm25, recording

from s3.episode import EpisodeConfig
from s3.policy.scripted import ScriptedPolicy
from s3.protocol import S3Protocol
from s3.rollout import RolloutConfig, run_rollout

P = S3Protocol()
WORDS = ["Paris", "Danube", "born", "Herbert", "capital", "river", "novel", "city", "x", "é", "42"]


def encode(tok, text):
    return list(tok(text, add_special_tokens=False)["input_ids"])


def check_trajectory(t, sampled, tok, rcfg, ecfg):
    """The mask properties for one trajectory; ``sampled[(question, turn)]`` = ids the backend returned."""
    n = len(t.completion_ids)
    assert len(t.env_mask) == n
    assert t.logprobs is None or len(t.logprobs) == n
    assert t.length <= max(rcfg.max_total_tokens, len(t.prompt_ids))
    if len(t.prompt_ids) >= rcfg.max_total_tokens:
        assert t.completion_ids == [] and t.finish_reason == "budget"
    assert t.episode.searches <= ecfg.max_turns and len(t.turns) <= ecfg.max_turns + 1
    close_ids = encode(tok, P.observation_close)
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
                P.observation(block.docs, t.episode)
                if block is not None
                else P.feedback(turn.action, t.episode)
            )
            full = encode(tok, text)
            if env != full:  # cut to a budget: a prefix, or the documents cut with the closing kept
                assert len(env) < len(full)
                body = encode(tok, text[: -len(P.observation_close)]) if block is not None else full
                kept_close = block is not None and env[-len(close_ids) :] == close_ids
                assert env == full[: len(env)] or (
                    kept_close and env[: -len(close_ids)] == body[: len(env) - len(close_ids)]
                )
        pos += turn.env_tokens
    tail = t.completion_ids[pos:]
    assert tail in ([], [tok.eos_token_id])  # only the closing EOS may follow the last turn
    assert t.env_mask[pos:] == [0] * len(tail)
    assert sum(t.env_mask) == sum(turn.policy_tokens for turn in t.turns)


@pytest.fixture(scope="module")
def bm25(tmp_path_factory):
    return build_bm25(tmp_path_factory.mktemp("bm25_mask"))


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


words = st.lists(st.sampled_from(WORDS), min_size=0, max_size=5).map(" ".join)
ids_text = st.lists(st.integers(-2, 12), max_size=6).map(lambda xs: str(xs))
turn_text = st.one_of(
    st.builds(
        lambda w, s: (
            f'<important_info>{s}</important_info><search_complete>False</search_complete><query>{{"query": "{w}"}}</query>'
        ),
        words,
        ids_text,
    ),  # noqa: E501
    st.builds(
        lambda s, v: f"<important_info>{s}</important_info><search_complete>{v}</search_complete>",
        ids_text,
        st.sampled_from(["True", "yes", "False", "maybe"]),
    ),  # noqa: E501
    st.builds(lambda w: f"<query>{w}</query> spill over text <query>again", words),
    st.lists(
        st.sampled_from([*'ab <>/{}[]":,1', "<query>", "</query>", "<important_info>", "é"]), max_size=30
    ).map("".join),
)
scripts = st.lists(st.lists(turn_text, min_size=1, max_size=6), min_size=1, max_size=4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    scripts=scripts,
    max_turns=st.integers(0, 3),
    k=st.integers(1, 8),
    max_obs=st.integers(4, 300),
    max_new=st.integers(1, 80),
    extra_total=st.integers(1, 700),
    fixed=st.booleans(),
)
def test_mask_properties_on_random_scripted_trajectories(
    tokenizer, bm25, scripts, max_turns, k, max_obs, max_new, extra_total, fixed
):
    questions = QUESTIONS[: len(scripts)]
    policy = ScriptedPolicy(tokenizer, dict(zip(questions, scripts)), use_stop_strings=False)
    sampled, _ = recording(policy)
    ecfg = EpisodeConfig(docs_per_search=k, max_turns=max_turns)
    # prompts are ~850-900 tokens with the tiny tokenizer: some budgets leave no room at all
    rcfg = RolloutConfig.greedy(
        max_obs_tokens=max_obs, max_new_tokens_per_turn=max_new, max_total_tokens=850 + extra_total,
        fixed_generate_calls=fixed,
    )  # fmt: skip
    trajs = run_rollout(policy, bm25, P, questions, episode_cfg=ecfg, rollout_cfg=rcfg)
    for t in trajs:
        check_trajectory(t, sampled, tokenizer, rcfg, ecfg)


@pytest.mark.parametrize("seed", [0, 1])
def test_mask_properties_with_tiny_model_sampling(tiny_model_dir, bm25, seed):
    from s3.policy.hf import HFPolicy

    policy = HFPolicy.from_pretrained(str(tiny_model_dir), device="cpu")
    sampled, _ = recording(policy)
    ecfg = EpisodeConfig(docs_per_search=4, max_turns=2)
    rcfg = RolloutConfig(temperature=1.0, top_p=1.0, max_new_tokens_per_turn=20, max_obs_tokens=60, seed=seed)
    trajs = run_rollout(policy, bm25, P, QUESTIONS, episode_cfg=ecfg, rollout_cfg=rcfg)
    for t in trajs:
        assert t.logprobs is not None and all(lp <= 0.0 for lp in t.logprobs)
        check_trajectory(t, sampled, policy.tokenizer, rcfg, ecfg)
