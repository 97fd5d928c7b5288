"""Search-R1 mode end to end: scripted and tiny-model rollouts through a real BM25 index, the mask
properties, the ``Searcher`` API in Search-R1 mode, ``s3 search --mode search-r1`` and the evaluation
baseline that hands the searched documents to a frozen generator."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from s3_search_fixtures import (
    FIXTURE_SETTINGS,
    QUESTIONS,
    CountingRetriever,
    build_bm25,
    check_mask,
    recording,
    scripted_cases,
    scripted_rollout,
)

from s3.policy.scripted import ScriptedPolicy
from s3.protocol_r1 import FEEDBACK, SearchR1Protocol, r1_episode_config
from s3.rollout import RolloutConfig, run_rollout
from s3.searcher import Searcher, SearcherConfig

P = SearchR1Protocol()
DUNE, HAMLET, PARIS, DANUBE = QUESTIONS
SCRIPT = {
    DUNE: [
        "<think>Who wrote Dune?</think>\n<search> Dune novel author </search> spill",
        "<think>Frank Herbert; now his birthplace.</think><search>Frank Herbert born</search>",
        "<think>Tacoma.</think><answer> Tacoma </answer>",
    ],
    HAMLET: [
        "I should look it up.",  # invalid: feedback follows
        "<search>William Shakespeare born",  # unclosed at the end of the turn: repaired
        "<answer>Stratford-upon-Avon</answer>",
    ],
    PARIS: ["<answer>Paris</answer>"],
    DANUBE: ["<search>Danube</search>", "<search>Vienna river</search>", "<search>Black Sea</search>"],
}


def test_scripted_episodes_search_read_and_answer(tokenizer, bm25):
    retriever = CountingRetriever(bm25)
    policy = ScriptedPolicy(tokenizer, SCRIPT, use_stop_strings=False)  # the rollout's own cut applies
    _, calls = recording(policy)
    ecfg = r1_episode_config(docs_per_search=3, max_turns=2)
    trajs = run_rollout(policy, retriever, P, QUESTIONS, episode_cfg=ecfg, rollout_cfg=RolloutConfig.greedy())
    dune, hamlet, paris, danube = trajs

    # no initial retrieval; each turn's queries go to the retriever in one batched call
    assert all(k == 3 for _, k in retriever.calls)
    assert sorted(q for call, _ in retriever.calls for q in call) == sorted(
        ["Dune novel author", "Danube", "Frank Herbert born", "William Shakespeare born", "Vienna river"]
    )
    assert calls == [4, 3, 3]  # batched policy calls: every active episode at once

    # dune: two searches then an answer; the text after </search> was cut in token space
    assert dune.finish_reason == "answer" and dune.episode.answer == "Tacoma"
    assert [b.query for b in dune.episode.blocks[1:]] == ["Dune novel author", "Frank Herbert born"]
    assert dune.turns[0].text.endswith("</search>") and dune.turns[0].cut_tokens > 0
    found = bm25.search(["Dune novel author", "Frank Herbert born"], 3)
    expected = []
    for d in found[0] + found[1]:
        if d.id not in [x.id for x in expected]:
            expected.append(d)
    assert [d.id for d in dune.context()] == [d.id for d in expected]
    assert "Tacoma" in " ".join(d.text for d in dune.context())
    assert "<information>Doc 1(Title: " in dune.turns[0].env_text

    # hamlet: the invalid turn got feedback, the unclosed search was repaired, then it answered
    assert [t.action.kind for t in hamlet.turns] == ["invalid", "search", "answer"]
    assert hamlet.turns[0].env_text == FEEDBACK
    assert hamlet.turns[1].action.repairs == {"unclosed_tag": 1}
    assert hamlet.stats()["invalid_actions"] == 1 and hamlet.episode.answer == "Stratford-upon-Avon"

    # paris answers at once: no documents; danube runs out of searches and never answers
    assert paris.episode.answer == "Paris" and paris.context() == [] and paris.episode.searches == 0
    assert danube.episode.searches == 2 and danube.episode.answer is None
    assert danube.finish_reason == "max_turns" and danube.counters["search_refused"] == 1

    for t in trajs:  # every env token is masked; the closing EOS is env-written
        assert len(t.env_mask) == len(t.completion_ids)
        assert sum(t.env_mask) == sum(turn.policy_tokens for turn in t.turns)
        assert t.completion_ids[-1] == tokenizer.eos_token_id and t.env_mask[-1] == 0


WORDS = ["Paris", "Danube", "born", "Herbert", "capital", "x", "é", "42"]
words = st.lists(st.sampled_from(WORDS), min_size=0, max_size=4).map(" ".join)
turn_text = st.one_of(
    st.builds(lambda t, w: f"<think>{t}</think><search>{w}</search>", words, words),
    st.builds(lambda w: f"<answer>{w}</answer> after", words),
    st.builds(lambda w: f"<search>{w}", words),
    st.lists(st.sampled_from([*"ab <>/ ", "<search>", "</search>", "<answer>", "</answer>", "é"]), max_size=25).map("".join),
)  # fmt: skip


@settings(FIXTURE_SETTINGS, max_examples=30)
@given(**scripted_cases(turn_text, k=5, max_obs=200, max_new=60, extra_total=500))
# found by CI: the answer turn, cut to 2 tokens and repaired, reached the total budget exactly
@example(
    scripts=[["<think></think><search></search>", "<answer>Paris</answer> after"]],
    max_turns=1, k=1, max_obs=4, max_new=2, extra_total=64,
)  # fmt: skip
def test_mask_properties_hold_for_search_r1(
    tokenizer, bm25, scripts, max_turns, k, max_obs, max_new, extra_total
):
    ecfg = r1_episode_config(docs_per_search=k, max_turns=max_turns)
    # the prompt is ~150-200 tokens: give each trajectory a random completion budget on top
    rcfg = RolloutConfig.greedy(
        max_obs_tokens=max_obs, max_new_tokens_per_turn=max_new, max_total_tokens=250 + extra_total
    )
    trajs, sampled = scripted_rollout(tokenizer, bm25, P, scripts, ecfg, rcfg)
    for t in trajs:
        check_mask(t, sampled, tokenizer, rcfg, ecfg, P)
        if t.episode.answer is not None:
            assert t.turns[-1].action.kind == "answer" and t.finish_reason == "answer"


def test_searcher_in_search_r1_mode_returns_answer_documents_and_trace(tokenizer, bm25):
    searcher = Searcher(ScriptedPolicy(tokenizer, SCRIPT), bm25, mode="search-r1")
    assert searcher.config.protocol == "search-r1" and isinstance(searcher.protocol, SearchR1Protocol)
    assert (searcher.config.episode.docs_per_search, searcher.config.episode.max_turns) == (3, 4)
    result = searcher.search(DUNE)
    assert result.answer == "Tacoma" and result.finish_reason == "answer"
    assert result.queries == ["Dune novel author", "Frank Herbert born"]
    assert [d.id for d in result.documents] == [d.id for d in result.trajectory.episode.context()]
    assert result.selected == []
    row = result.to_dict()
    assert row["answer"] == "Tacoma" and row["trace"]["episode"]["answer"] == "Tacoma"
    assert [t["action"]["kind"] for t in row["trace"]["turns"]] == ["search", "search", "answer"]
    batch = searcher.search_batch([PARIS, HAMLET])
    assert [r.answer for r in batch] == ["Paris", "Stratford-upon-Avon"]
    with pytest.raises(ValueError, match="mode"):
        SearcherConfig.for_mode("other")
    assert Searcher(ScriptedPolicy(tokenizer, SCRIPT), bm25).search(PARIS).answer is None  # s3 mode


def test_from_pretrained_and_the_search_command_in_search_r1_mode(tiny_model_dir, bm25, tmp_path, capsys):
    from s3.cli import main

    searcher = Searcher.from_pretrained(str(tiny_model_dir), retriever=bm25, device="cpu", mode="search-r1")
    assert searcher.config.protocol == "search-r1" and searcher.config.episode.initial_k == 0
    index = tmp_path / "idx"
    build_bm25(index)
    out = tmp_path / "found.jsonl"
    (tmp_path / "qs.jsonl").write_text(json.dumps({"id": "a", "question": DUNE}) + "\n")
    code = main(["search", "--model", str(tiny_model_dir), "--index", str(index), "--mode", "search-r1",
                 "--device", "cpu", "--input", str(tmp_path / "qs.jsonl"), "--output", str(out), "--trace",
                 "--max-new-tokens", "12"])  # fmt: skip
    assert code == 0
    row = json.loads(out.read_text().splitlines()[0])
    assert row["id"] == "a" and "documents" in row and row["trace"]["episode"]["question"] == DUNE
    assert row["trace"]["turns"] and all("<search>" not in d["contents"] for d in row["documents"])
    assert main(["search", DUNE, "--model", str(tiny_model_dir), "--index", str(index), "--mode", "search-r1",
                 "--device", "cpu", "--max-new-tokens", "12"]) == 0  # fmt: skip
    assert "finished:" in capsys.readouterr().out


def test_search_r1_baseline_hands_the_searched_documents_to_the_generator(tokenizer, bm25):
    from baselines.search_r1 import SearchR1Context, search_r1_config
    from s3.data import QAExample

    searcher = Searcher(
        ScriptedPolicy(tokenizer, SCRIPT), bm25, search_r1_config(docs_per_search=3, max_turns=2)
    )
    assert isinstance(searcher.protocol, SearchR1Protocol)  # the baseline runs this protocol
    recs = SearchR1Context(searcher).contexts([QAExample("d", DUNE, ["Tacoma"], "toy", "test")])
    direct = Searcher(ScriptedPolicy(tokenizer, SCRIPT), bm25, mode="search-r1").search(DUNE)
    assert [d.id for d in recs[0].docs] == [d.id for d in direct.documents]
    assert recs[0].trace["own_answer"] == "Tacoma" and recs[0].searches == 2
