"""The batched rollout: scripted episodes through a real BM25 index, and real generation with a tiny model."""

from __future__ import annotations

import json

import pytest
from s3_search_fixtures import QUESTIONS, CountingRetriever, recording

from s3.episode import EpisodeConfig
from s3.policy.scripted import ScriptedPolicy
from s3.presets import episode_preset
from s3.protocol import S3Protocol
from s3.rollout import RolloutConfig, RolloutStats, cut_at_stop, run_rollout, summarize

P = S3Protocol()
DUNE, HAMLET, PARIS, DANUBE = QUESTIONS


def q(text: str) -> str:
    return f'<search_complete>False</search_complete><query>{{"query": "{text}"}}</query>'


SCRIPT = {
    DUNE: [
        "<think>The initial results do not name the birthplace.</think>"
        + q("Frank Herbert born")
        + " trailing",
        "<important_info>[1]</important_info><search_complete>True</search_complete>",
    ],
    HAMLET: [
        "I am not sure what to do.",  # invalid: feedback follows
        '{"query": "Shakespeare born"}</query>',  # the query opened by the feedback's wording is accepted
        "<important_info>[1, 2]</important_info>" + q("Stratford-upon-Avon"),
        "<important_info>[]</important_info><search_complete>True</search_complete>",
    ],
    PARIS: ["<important_info>[1]</important_info><search_complete>True</search_complete>"],
    DANUBE: [q("Danube river Vienna"), q("Danube Budapest"), q("Danube Belgrade"), q("Black Sea")],
}


def scripted_run(
    tokenizer,
    retriever,
    episode_cfg=None,
    rollout_cfg=None,
    questions=QUESTIONS,
    script=SCRIPT,
    use_stop=False,
    **kw,
):
    # by default the backend runs past stop strings, so the rollout's own token-space cut is exercised
    policy = ScriptedPolicy(tokenizer, script, use_stop_strings=use_stop)
    log, calls = recording(policy)
    stats = RolloutStats()
    trajs = run_rollout(
        policy, retriever, P, questions, episode_cfg=episode_cfg or episode_preset("8-3-3"),
        rollout_cfg=rollout_cfg or RolloutConfig.greedy(), stats=stats, **kw,
    )  # fmt: skip
    return trajs, log, calls, stats


def test_scripted_episodes_through_bm25(tokenizer, bm25):
    retriever = CountingRetriever(bm25)
    trajs, log, calls, stats = scripted_run(tokenizer, retriever)
    dune, hamlet, paris, danube = trajs

    # initial documents: one batched search for all raw questions, top initial_k
    assert retriever.calls[0] == (QUESTIONS, 3)
    initial = bm25.search(QUESTIONS, 3)
    assert [d.id for d in paris.episode.blocks[0].docs] == [d.id for d in initial[2]]

    # dune: one search (the text after </query> was cut in token space), then select doc 1 and stop
    assert dune.finish_reason == "complete"
    assert dune.episode.blocks[1].query == "Frank Herbert born"
    found = bm25.search(["Frank Herbert born"], 8)[0]
    assert [d.id for d in dune.episode.blocks[1].docs] == [d.id for d in found]
    assert found[0].title == "Frank Herbert"
    expected = [d.id for d in initial[0]]
    expected += [found[0].id] if found[0].id not in expected else []  # de-duplicated
    assert [d.id for d in dune.context()] == expected
    assert dune.episode.blocks[1].selected == [1]
    assert dune.turns[0].text.endswith("</query>") and dune.turns[0].cut_tokens > 0
    assert "trailing" not in dune.completion_text

    # hamlet: invalid turn -> feedback (masked), then a repaired query, a selection, an empty selection
    assert hamlet.stats()["invalid_actions"] == 1
    assert hamlet.turns[0].env_text == P.feedback(None, hamlet.episode)
    assert [b.query for b in hamlet.episode.blocks[1:]] == ["Shakespeare born", "Stratford-upon-Avon"]
    assert hamlet.episode.blocks[1].selected == [1, 2] and hamlet.episode.blocks[2].selected == []
    assert hamlet.stats()["repair_query_open_missing"] == 1
    assert hamlet.finish_reason == "complete"

    # paris: stops at once, selecting from the initial window
    assert paris.finish_reason == "complete" and paris.episode.searches == 0
    assert paris.episode.blocks[0].selected == [1]

    # danube: searches every turn; max_turns=3 searches, the 4th query is refused
    assert danube.finish_reason == "max_turns"
    assert danube.episode.searches == 3 and danube.episode.generations == 4
    assert danube.stats()["search_refused"] == 1

    # batching: one policy call per turn over the active episodes, one search call per turn
    assert calls == [4, 3, 2, 2]
    assert [len(qs) for qs, _ in retriever.calls[1:]] == [2, 2, 2]
    assert all(k == 8 for _, k in retriever.calls[1:])
    assert stats.generate_calls == 4 and stats.search_calls == 4
    assert stats.total_s >= stats.generate_s + stats.search_s

    # every trajectory ends with an env-masked EOS; completion = policy ids and env ids interleaved
    for t in trajs:
        assert t.completion_ids[-1] == tokenizer.eos_token_id and t.env_mask[-1] == 0
        assert len(t.completion_ids) == len(t.env_mask) and t.logprobs is None
        assert t.prompt_ids == tokenizer.apply_chat_template(
            P.messages(t.question, t.episode.blocks[0].docs, t.episode.config),
            add_generation_prompt=True, tokenize=True, return_dict=False,
        )  # fmt: skip


def test_trajectory_json_round_trip_and_determinism(tokenizer, bm25):
    a, *_ = scripted_run(tokenizer, bm25)
    b, *_ = scripted_run(tokenizer, bm25)
    assert [t.to_json() for t in a] == [t.to_json() for t in b]
    # a backend that honours stop strings itself yields the same trajectories
    c, *_ = scripted_run(tokenizer, bm25, use_stop=True)
    assert [t.completion_ids for t in c] == [t.completion_ids for t in a]
    data = json.loads(a[0].to_json())
    assert data["completion_ids"] == a[0].completion_ids and data["env_mask"] == a[0].env_mask
    assert data["episode"]["blocks"][1]["query"] == "Frank Herbert born"
    assert data["turns"][1]["action"]["kind"] == "complete"
    metrics = summarize(a)
    assert metrics["invalid_action_rate"] == pytest.approx(1 / sum(t.stats()["turns"] for t in a))
    assert metrics["complete_rate"] == 0.75


def test_given_initial_docs_and_no_initial(tokenizer, bm25):
    docs = bm25.search(["Tacoma port city"], 2)[0]
    retriever = CountingRetriever(bm25)
    trajs, *_ = scripted_run(tokenizer, retriever, questions=[PARIS], initial_docs=[docs])
    assert [d.id for d in trajs[0].context()] == [d.id for d in docs]
    assert retriever.calls == []  # no initial search, no search turn
    trajs, *_ = scripted_run(tokenizer, bm25, episode_cfg=EpisodeConfig(initial_k=0), questions=[PARIS])
    assert trajs[0].episode.blocks[0].docs == [] and trajs[0].context() == []


def test_budgets(tokenizer, bm25):
    # observation budget: documents are cut, the closing tag is kept
    trajs, *_ = scripted_run(
        tokenizer, bm25, rollout_cfg=RolloutConfig.greedy(max_obs_tokens=20), questions=[DUNE]
    )
    turn = trajs[0].turns[0]
    assert turn.env_tokens == 20 and turn.env_text.endswith("</information>\n\n")
    assert trajs[0].stats()["obs_truncated"] == 1

    # per-turn budget: a long turn is cut at max_new_tokens_per_turn
    long_turn = {PARIS: ["word " * 200 + "<search_complete>True</search_complete>"]}
    cfg = RolloutConfig.greedy(max_new_tokens_per_turn=16)
    trajs, *_ = scripted_run(tokenizer, bm25, rollout_cfg=cfg, questions=[PARIS], script=long_turn)
    assert all(t.policy_tokens <= 16 for t in trajs[0].turns)
    assert trajs[0].turns[0].finish == "length"

    # total budget: the episode ends there, without EOS (so it reads as truncated)
    trajs, *_ = scripted_run(tokenizer, bm25, questions=[DANUBE], rollout_cfg=RolloutConfig.greedy())
    full = trajs[0].length
    cap = full - 40
    trajs, *_ = scripted_run(
        tokenizer, bm25, questions=[DANUBE], rollout_cfg=RolloutConfig.greedy(max_total_tokens=cap)
    )
    t = trajs[0]
    assert t.finish_reason == "budget" and t.truncated and t.length == cap
    assert t.completion_ids[-1] != tokenizer.eos_token_id


def test_fixed_generate_calls(tokenizer, bm25):
    cfg = RolloutConfig.greedy(fixed_generate_calls=True)
    trajs, log, calls, stats = scripted_run(tokenizer, bm25, rollout_cfg=cfg, questions=[PARIS])
    assert trajs[0].finish_reason == "complete"
    assert len(calls) == episode_preset("8-3-3").max_generations == 4
    assert stats.generate_calls == 4
    _, _, calls, _ = scripted_run(tokenizer, bm25, questions=[PARIS])
    assert len(calls) == 1


def test_search_errors(tokenizer, bm25):
    failing = CountingRetriever(bm25, fail=True)
    docs = [bm25.search([DUNE], 3)[0]]
    with pytest.raises(ConnectionError):
        scripted_run(tokenizer, failing, questions=[DUNE], initial_docs=docs)
    cfg = RolloutConfig.greedy(on_search_error="feedback")
    trajs, *_ = scripted_run(tokenizer, failing, rollout_cfg=cfg, questions=[DUNE], initial_docs=docs)
    assert trajs[0].stats()["search_errors"] == 1
    assert "(no documents found)" in trajs[0].turns[0].env_text


def test_cut_at_stop_in_token_space(tokenizer):
    text = '<query>{"query": "a b"}</query> and more words after the stop'
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    n, kept = cut_at_stop(tokenizer, ids, P)
    assert kept == tokenizer.decode(ids[:n], skip_special_tokens=True)
    assert kept.endswith("</query>") and P.find_stop(tokenizer.decode(ids[: n - 1])) is None
    n2, kept2 = cut_at_stop(tokenizer, ids[:3], P)
    assert n2 == 3 and P.find_stop(kept2) is None


# -- real generation with a tiny random model -------------------------------------------------------


@pytest.fixture(scope="module")
def hf_policy(tiny_model_dir):
    from s3.policy.hf import HFPolicy

    return HFPolicy.from_pretrained(str(tiny_model_dir), device="cpu")


def _teacher_forced_logprobs(model, ids, temperature):
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float()
    lp = torch.log_softmax(logits[:-1] / temperature, dim=-1)
    return lp.gather(1, torch.tensor(ids[1:]).unsqueeze(1)).squeeze(1)


def test_tiny_model_rollout_logprobs_match_the_model(hf_policy, bm25):
    import torch

    torch.manual_seed(0)
    log, calls = recording(hf_policy)
    cfg = RolloutConfig(max_new_tokens_per_turn=24, temperature=0.7, top_p=1.0, seed=3)
    trajs = run_rollout(
        hf_policy, bm25, P, QUESTIONS[:3], episode_cfg=episode_preset("3-3-3"), rollout_cfg=cfg
    )
    assert calls[0] == 3
    for t in trajs:
        assert len(t.logprobs) == len(t.completion_ids) == len(t.env_mask)
        assert all(turn.policy_tokens <= 24 for turn in t.turns)
        full = t.prompt_ids + t.completion_ids
        expected = _teacher_forced_logprobs(hf_policy.model, full, 0.7)[len(t.prompt_ids) - 1 :]
        got = torch.tensor(t.logprobs)
        policy = torch.tensor(t.env_mask, dtype=torch.bool)
        assert torch.allclose(got[policy], expected[policy], atol=2e-3), (
            (got[policy] - expected[policy]).abs().max()
        )
        assert torch.all(got[~policy] == 0.0)
        # the policy tokens of each turn are exactly what the backend sampled (a prefix, when cut)
        pos = 0
        for k, turn in enumerate(t.turns):
            sampled = log[(t.question, k)]
            assert t.completion_ids[pos : pos + turn.policy_tokens] == sampled[: turn.policy_tokens]
            pos += turn.policy_tokens + turn.env_tokens


def test_tiny_model_greedy_is_deterministic(hf_policy, bm25):
    cfg = RolloutConfig.greedy(max_new_tokens_per_turn=16)
    a = run_rollout(hf_policy, bm25, P, QUESTIONS[:2], episode_cfg=episode_preset("3-3-3"), rollout_cfg=cfg)
    b = run_rollout(hf_policy, bm25, P, QUESTIONS[:2], episode_cfg=episode_preset("3-3-3"), rollout_cfg=cfg)
    assert [t.completion_ids for t in a] == [t.completion_ids for t in b]
    # batched greedy equals one-at-a-time greedy (left padding does not change the result)
    solo = run_rollout(
        hf_policy, bm25, P, QUESTIONS[1:2], episode_cfg=episode_preset("3-3-3"), rollout_cfg=cfg
    )
    assert solo[0].completion_ids == a[1].completion_ids


def test_tiny_model_sampling_is_not_narrowed_by_a_default_top_k(hf_policy):
    # transformers applies top_k=50 unless told otherwise; the backend must sample the full distribution
    gens = hf_policy.generate([[5, 6, 7]] * 1500, max_new_tokens=1, temperature=1.0, top_p=1.0, seed=0)
    assert all(len(g.token_ids) == 1 for g in gens)  # a sampled pad token is kept, not stripped
    assert len({g.token_ids[0] for g in gens}) > 50


def test_without_a_final_turn_the_last_search_ends_the_episode(tokenizer, bm25):
    """final_turn=false: one generation writes the query, its search ends the episode, no observation
    tokens trail the policy's (nothing conditions on them), and every search result reaches the context."""
    cfg = EpisodeConfig(
        docs_per_search=3, max_turns=1, initial_k=2, include_initial="always", unselected_block="all",
        final_turn=False,
    )  # fmt: skip
    script = {DUNE: [q("Frank Herbert born")], PARIS: ["<search_complete>True</search_complete>"]}
    trajs, log, calls, _ = scripted_run(tokenizer, bm25, cfg, questions=[DUNE, PARIS], script=script)
    dune, paris = trajs
    assert len(calls) == 1  # one policy call, no final selecting generation
    assert dune.episode.finish_reason == "max_turns" and dune.episode.searches == 1
    assert dune.episode.blocks[1].query == "Frank Herbert born"
    assert [d.id for d in dune.episode.context()] == [
        *(d.id for d in dune.episode.blocks[0].docs),
        *(
            d.id
            for d in dune.episode.blocks[1].docs
            if d.id not in {x.id for x in dune.episode.blocks[0].docs}
        ),
    ]
    assert len(dune.episode.context()) > 2
    # the completion is the policy's turn plus the closing EOS: no <information> block after it
    assert "<information>" not in dune.completion_text
    assert dune.env_mask[-1] == 0 and sum(dune.env_mask) == len(dune.env_mask) - 1
    assert paris.episode.finish_reason == "complete" and paris.episode.searches == 0
    # with the final turn (the default) the same query is followed by its observation and a generation
    with_final = EpisodeConfig(**{**cfg.__dict__, "final_turn": True})
    script2 = {DUNE: [q("Frank Herbert born"), "<search_complete>True</search_complete>"]}
    (dune2,), _, calls2, _ = scripted_run(tokenizer, bm25, with_final, questions=[DUNE], script=script2)
    assert len(calls2) == 2 and "<information>" in dune2.completion_text


def test_search_allowed_counts_the_final_turn():
    assert EpisodeConfig(max_turns=1).max_generations == 2
    assert EpisodeConfig(max_turns=1, final_turn=False).max_generations == 1
    # with a final turn, the last generation's query is not searched; without one, it is
    assert not EpisodeConfig(max_turns=1).search_allowed(searches=0, generations=2)
    assert EpisodeConfig(max_turns=1).search_allowed(searches=0, generations=1)
    assert EpisodeConfig(max_turns=1, final_turn=False).search_allowed(searches=0, generations=1)
    assert not EpisodeConfig(max_turns=1, final_turn=False).search_allowed(searches=1, generations=2)
