"""s3 searchers, their context ablations and the Search-R1 baseline, driven through the real rollout by a
scripted policy over a real BM25 index; the tests check which documents reach the generator."""

from __future__ import annotations

import pytest

from baselines.search_r1 import SearchR1Context, search_r1_config
from baselines.searcher import SearcherContext, SharedSearch
from evaluation.run import evaluate
from generators.offline import ExtractiveReader
from retrievers.doc import Doc
from s3.policy.scripted import ScriptedPolicy
from s3.presets import episode_preset
from s3.rollout import RolloutConfig
from s3.searcher import Searcher, SearcherConfig

Q1 = "In which city was the founder of Zorbex Industries born?"
Q2 = "Who founded Kelvar Labs?"
S3_SCRIPT = {
    Q1: [
        '<important_info>[]</important_info><search_complete>False</search_complete><query>{"query": "Talen Morvik born"}</query>',
        "<important_info>[2, 1]</important_info><search_complete>True</search_complete>",
    ],
    Q2: ["<important_info>[1]</important_info><search_complete>True</search_complete>"],
}


def _ids(docs):
    return [d.id for d in docs]


def _dedup(docs):
    out = []
    for d in docs:
        if d.id not in _ids(out):
            out.append(d)
    return out


def test_s3_context_and_its_ablations_read_one_set_of_trajectories(tokenizer, bm25, examples, tmp_path):
    policy = ScriptedPolicy(tokenizer, S3_SCRIPT)
    config = SearcherConfig(episode=episode_preset("8-3-3"), rollout=RolloutConfig.greedy())
    shared = SharedSearch(Searcher(policy, bm25, config), label="scripted")
    full = SearcherContext(shared, "s3")
    no_select = SearcherContext(shared, "s3-no-select", ablation="no-select")
    no_init = SearcherContext(shared, "s3-no-init", ablation="no-init")

    initial = bm25.search([Q1, Q2], 3)
    search = bm25.search(["Talen Morvik born"], 8)[0]
    r_full, r_nosel, r_noinit = (m.contexts(examples) for m in (full, no_select, no_init))
    # full: the initial naive-RAG documents, then the selected ids 2 and 1 of the search window
    assert _ids(r_full[0].docs) == _ids(_dedup(initial[0] + [search[1], search[0]]))
    assert "per-talen" in _ids(r_full[0].docs)
    # no-select: every retrieved document; no-init: only the selected ones
    assert _ids(r_nosel[0].docs) == _ids(_dedup(initial[0] + search))
    assert _ids(r_noinit[0].docs) == _ids([search[1], search[0]])
    # q2 selected from the initial block and stopped without searching: under the 8-3-3 rules the
    # initial block is always in full; no-init drops it, selection or not
    assert _ids(r_full[1].docs) == _ids(initial[1]) and r_noinit[1].docs == []
    assert (r_full[0].turns, r_full[0].searches) == (2, 1) and (r_full[1].turns, r_full[1].searches) == (1, 0)
    assert r_full[0].trace["queries"] == ["Talen Morvik born"] and r_nosel[0].trace["ablation"] == "no-select"
    # the searcher ran once per question for all three methods
    assert shared.searched == 2 and policy.calls == 2
    assert no_init.describe()["context_rules"]["include_initial"] == "never"
    with pytest.raises(ValueError, match="unknown ablation"):
        SearcherContext(shared, "x", ablation="no-everything")

    rows = evaluate(
        [full, no_select, no_init], {"toy": examples}, ExtractiveReader(), tmp_path, progress=False
    )
    by = {r["method"]: r for r in rows}
    assert by["s3"]["genacc"] == 100.0  # the selected founder passage completes the 2-hop chain
    assert by["s3-no-init"]["docs"] < by["s3"]["docs"] < by["s3-no-select"]["docs"]


def test_search_r1_hands_over_every_searched_document(tokenizer, bm25, examples, tmp_path):
    """Search-R1 tags through the project's Search-R1 protocol (s3.protocol_r1) and the real rollout."""
    script = {
        Q1: [
            "<think>I need the founder first.</think><search>Zorbex Industries founder</search>",
            "<search>Talen Morvik born</search>",
            "<answer>Quarnby</answer>",
        ],
        Q2: ["<answer>no idea</answer>"],
    }
    policy = ScriptedPolicy(tokenizer, script)
    searcher = Searcher(policy, bm25, search_r1_config(docs_per_search=3, max_turns=4))
    recs = SearchR1Context(searcher).contexts(examples)
    found = bm25.search(["Zorbex Industries founder", "Talen Morvik born"], 3)
    assert _ids(recs[0].docs) == _ids(_dedup(found[0] + found[1]))
    assert (recs[0].turns, recs[0].searches) == (3, 2)
    assert recs[0].trace["own_answer"] == "Quarnby"
    # no initial retrieval in Search-R1 mode: an episode that answers at once hands over nothing
    assert recs[1].docs == [] and recs[1].searches == 0
    rows = evaluate([SearchR1Context(Searcher(ScriptedPolicy(tokenizer, script), bm25, search_r1_config()))],
                    {"toy": examples}, ExtractiveReader(), tmp_path, progress=False)  # fmt: skip
    assert rows[0]["genacc"] == 50.0 and rows[0]["searches"] == 1.0


def test_searched_docs_excludes_the_initial_block():
    from baselines.search_r1 import searched_docs
    from s3.episode import Episode, EpisodeConfig

    a, b, c = Doc("a", "A", "x"), Doc("b", "B", "y"), Doc("c", "C", "z")
    ep = Episode("q", [a], EpisodeConfig(initial_k=1))
    ep.add_results("q1", [b, c])
    ep.add_results("q2", [c, a])
    assert _ids(searched_docs(ep)) == ["b", "c", "a"]
