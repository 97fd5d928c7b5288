"""Environment-mask properties on random trajectories (scripted s3 episodes, and the tiny model's samples
in both modes; scripted Search-R1 episodes in test_rollout_r1.py): every observation/feedback token is
masked (0), every token the policy sampled is not (1), and the ids are exactly what the backend sampled."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from s3_search_fixtures import FIXTURE_SETTINGS, check_mask, sampled_rollout, scripted_cases, scripted_rollout

from s3.episode import EpisodeConfig
from s3.protocol import S3Protocol
from s3.protocol_r1 import SearchR1Protocol, r1_episode_config
from s3.rollout import RolloutConfig

P = S3Protocol()
WORDS = ["Paris", "Danube", "born", "Herbert", "capital", "river", "novel", "city", "x", "é", "42"]


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


@settings(FIXTURE_SETTINGS, max_examples=40)
@given(**scripted_cases(turn_text, k=8, max_obs=300, max_new=80, extra_total=700), fixed=st.booleans())
def test_mask_properties_on_random_scripted_trajectories(
    tokenizer, bm25, scripts, max_turns, k, max_obs, max_new, extra_total, fixed
):
    ecfg = EpisodeConfig(docs_per_search=k, max_turns=max_turns)
    # prompts are ~850-900 tokens with the tiny tokenizer: some budgets leave no room at all
    rcfg = RolloutConfig.greedy(
        max_obs_tokens=max_obs, max_new_tokens_per_turn=max_new, max_total_tokens=850 + extra_total,
        fixed_generate_calls=fixed,
    )  # fmt: skip
    trajs, sampled = scripted_rollout(tokenizer, bm25, P, scripts, ecfg, rcfg)
    for t in trajs:
        check_mask(t, sampled, tokenizer, rcfg, ecfg, P)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    "protocol, ecfg",
    [
        (P, EpisodeConfig(docs_per_search=4, max_turns=2)),
        (SearchR1Protocol(), r1_episode_config(docs_per_search=2, max_turns=2)),
    ],
    ids=["s3", "search-r1"],
)
def test_mask_properties_with_tiny_model_sampling(tiny_model_dir, tokenizer, bm25, protocol, ecfg, seed):
    trajs, sampled, rcfg = sampled_rollout(tiny_model_dir, bm25, protocol, ecfg, seed)
    for t in trajs:
        check_mask(t, sampled, tokenizer, rcfg, ecfg, protocol)
        assert len(t.turns) >= 1 and t.finish_reason in ("complete", "answer", "max_turns", "budget")
