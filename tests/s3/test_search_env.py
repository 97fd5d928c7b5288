"""The rollout's environment step by step: start, the policy step and the search step, each on its own."""

from __future__ import annotations

import pytest
from s3_search_fixtures import QUESTIONS, CountingRetriever

from s3.episode import EpisodeConfig
from s3.policy.base import Generation
from s3.protocol import S3Protocol
from s3.protocol_r1 import SearchR1Protocol, r1_episode_config
from s3.rollout import RolloutConfig, SearchEnv, encode, encode_prompt

P = S3Protocol()
DUNE, HAMLET = QUESTIONS[:2]
SEARCH = '<important_info>[2]</important_info><search_complete>False</search_complete><query>{"query": "Frank Herbert born"}</query>'
COMPLETE = "<important_info>[1]</important_info><search_complete>True</search_complete>"


@pytest.fixture
def env_of(tokenizer, bm25):
    """``env_of(protocol, episode, **rollout)`` -> (a :class:`SearchEnv` over BM25, the retriever it calls)."""

    def build(protocol=P, episode=None, **rollout):
        retriever = CountingRetriever(bm25)
        rules = episode or EpisodeConfig()
        return SearchEnv(retriever, protocol, tokenizer, rules, RolloutConfig.greedy(**rollout)), retriever

    return build


def gen(tokenizer, text, finish="stop"):
    ids = encode(tokenizer, text)
    return Generation(token_ids=ids, logprobs=[-0.5] * len(ids), finish_reason=finish)


def test_start_retrieves_naive_rag_documents_in_one_call_and_renders_prompts(env_of, tokenizer):
    env, retriever = env_of(episode=EpisodeConfig(initial_k=2))
    trajs = env.start(QUESTIONS)
    assert retriever.calls == [(QUESTIONS, 2)]  # one batched search for every raw question
    assert [t.question for t in trajs] == QUESTIONS
    for t in trajs:
        assert len(t.episode.blocks[0].docs) == 2 and t.completion_ids == [] and not t.episode.done
        assert t.prompt_ids == encode_prompt(
            tokenizer, P.messages(t.question, t.episode.blocks[0].docs, env.episode_cfg)
        )
        assert t.episode.blocks[0].docs[0].title in t.messages[-1]["content"]
    assert env.stats.search_calls == 1


def test_start_takes_given_documents_cut_to_initial_k_and_checks_their_count(env_of):
    env, retriever = env_of(episode=EpisodeConfig(initial_k=1))
    docs = env.retriever.inner.search(["Paris"], 3)
    (t,) = env.start([DUNE], initial_docs=docs)
    assert retriever.calls == [] and t.episode.blocks[0].docs == docs[0][:1]
    with pytest.raises(ValueError, match="2 questions but 1 lists of initial documents"):
        env.start([DUNE, HAMLET], initial_docs=docs)


def test_live_ends_episodes_without_token_budget(env_of):
    env, _ = env_of(max_total_tokens=10)  # every prompt is longer
    trajs = env.start([DUNE])
    assert env.live(trajs) == [] and trajs[0].finish_reason == "budget"


def test_policy_step_cuts_at_the_stop_and_returns_the_query_to_search(env_of, tokenizer):
    env, retriever = env_of()
    (t,) = env.start([DUNE])
    result = env.policy_step(t, gen(tokenizer, SEARCH + " text after the stop"), max_new=500)
    assert result.trajectory is t and result.query == "Frank Herbert born"
    assert result.turn.action.kind == "search" and result.turn.finish == "stop" and result.turn.cut_tokens > 0
    assert t.completion_ids == encode(tokenizer, SEARCH) and t.env_mask == [1] * len(t.completion_ids)
    assert t.episode.window.selected == [2] and not t.episode.done
    assert len(retriever.calls) == 1  # only the initial search: the policy step never searches


def test_policy_step_ends_the_episode_on_a_terminal_turn(env_of, tokenizer):
    env, _ = env_of()
    (t,) = env.start([DUNE])
    result = env.policy_step(t, gen(tokenizer, COMPLETE), max_new=500)
    assert result.query is None and t.finish_reason == "complete" and t.episode.window.selected == [1]


def test_policy_step_answers_an_invalid_turn_with_masked_feedback(env_of, tokenizer):
    env, _ = env_of()
    (t,) = env.start([DUNE])
    text = "I am not sure."
    result = env.policy_step(t, gen(tokenizer, text), max_new=500)
    n = len(encode(tokenizer, text))
    assert result.query is None and result.turn.action.kind == "invalid" and not t.episode.done
    feedback = encode(tokenizer, P.feedback(result.turn.action, t.episode))
    assert t.completion_ids == encode(tokenizer, text) + feedback
    assert t.env_mask == [1] * n + [0] * len(feedback) and t.logprobs == [-0.5] * n + [0.0] * len(feedback)
    assert result.turn.env_tokens == len(feedback)


def test_policy_step_keeps_max_new_tokens_and_refuses_a_search_on_the_last_generation(env_of, tokenizer):
    env, _ = env_of(episode=EpisodeConfig(max_turns=0))  # one generation, which may only select
    (t,) = env.start([DUNE])
    result = env.policy_step(t, gen(tokenizer, SEARCH, finish="length"), max_new=4)
    assert result.turn.policy_tokens == 4 and result.turn.finish == "length"
    assert t.counters["turns_hit_max_new_tokens"] == 1 and result.query is None
    (t,) = env.start([DUNE])
    result = env.policy_step(t, gen(tokenizer, SEARCH), max_new=500)
    assert result.query is None and t.counters["search_refused"] == 1 and t.finish_reason == "max_turns"


def test_search_step_runs_all_queries_in_one_call_and_appends_masked_observations(env_of, tokenizer):
    env, retriever = env_of(episode=EpisodeConfig(docs_per_search=3))
    trajs = env.start([DUNE, HAMLET, QUESTIONS[2]])
    texts = [SEARCH, SEARCH.replace("Frank Herbert", "Shakespeare"), COMPLETE]
    results = [env.policy_step(t, gen(tokenizer, x), 500) for t, x in zip(trajs, texts)]
    before = [len(t.completion_ids) for t in trajs]
    env.search_step(results)
    assert retriever.calls[1:] == [(["Frank Herbert born", "Shakespeare born"], 3)]
    for t, n in zip(trajs[:2], before[:2]):
        block = t.episode.window
        assert block.query is not None and len(block.docs) == 3
        obs = encode(tokenizer, P.observation(block.docs, t.episode))
        assert t.completion_ids[n:] == obs and t.env_mask[n:] == [0] * len(obs)
    assert len(trajs[2].completion_ids) == before[2]  # the completed episode got nothing


def test_search_step_with_feedback_on_error_shows_no_documents_and_counts_it(env_of, tokenizer, bm25):
    env, _ = env_of(episode=EpisodeConfig(initial_k=0), on_search_error="feedback")
    env.retriever = CountingRetriever(bm25, fail=True)
    (t,) = env.start([DUNE])
    env.search_step([env.policy_step(t, gen(tokenizer, SEARCH), 500)])
    assert t.counters["search_errors"] == 1 and t.episode.window.docs == [] and not t.episode.done
    with pytest.raises(ConnectionError):
        env.rollout_cfg.on_search_error = "raise"
        env.search_step([env.policy_step(env.start([DUNE])[0], gen(tokenizer, SEARCH), 500)])


def test_search_step_after_the_last_generation_keeps_the_documents_without_tokens(env_of, tokenizer):
    env, _ = env_of(protocol=SearchR1Protocol(), episode=r1_episode_config(docs_per_search=2, max_turns=1))
    env.episode_cfg.final_turn = False  # the last generation's query is searched and the episode ends
    (t,) = env.start([DUNE])
    result = env.policy_step(t, gen(tokenizer, "<search>Frank Herbert</search>"), 500)
    n = len(t.completion_ids)
    env.search_step([result])
    assert t.finish_reason == "max_turns" and len(t.episode.window.docs) == 2 and len(t.completion_ids) == n


def test_finish_closes_with_a_masked_eos_and_decodes(env_of, tokenizer):
    env, _ = env_of()
    (t,) = env.start([DUNE])
    env.policy_step(t, gen(tokenizer, COMPLETE), 500)
    env.finish([t])
    assert t.completion_ids[-1] == tokenizer.eos_token_id and t.env_mask[-1] == 0
    assert t.completion_text.startswith("<important_info>[1]</important_info>")
