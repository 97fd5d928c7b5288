"""Direct, CoT, naive RAG and the oracle: the documents (and prompt kind) each hands to the generator."""

from __future__ import annotations

import pytest

from baselines.cot import ChainOfThought
from baselines.direct import DirectAnswer
from baselines.naive_rag import NaiveRAG, search_once
from baselines.oracle import OracleContext
from evaluation.run import build_request, evaluate
from generators.offline import ExtractiveReader
from generators.prompts import answer_with_context, chain_of_thought, zero_shot


def test_direct_and_cot_hand_over_no_documents(examples):
    direct = DirectAnswer().contexts(examples)
    cot = ChainOfThought().contexts(examples)
    assert [r.docs for r in direct + cot] == [[]] * 4
    assert [r.prompt for r in direct] == ["zero-shot"] * 2 and [r.prompt for r in cot] == ["cot"] * 2
    assert build_request(direct[0]) == zero_shot(examples[0].question)
    assert build_request(cot[0]) == chain_of_thought(examples[0].question)


def test_naive_rag_hands_over_the_top_k_for_the_question(examples, bm25):
    recs = NaiveRAG(bm25, k=3).contexts(examples)
    for rec, ex in zip(recs, examples):
        expected = bm25.search([ex.question], 3)[0]
        assert [d.id for d in rec.docs] == [d.id for d in expected]
        assert rec.searches == 1 and rec.trace["queries"] == [ex.question]
        assert build_request(rec) == answer_with_context(ex.question, rec.docs)
    # the 1-hop question finds its answer passage first; the 2-hop one does not reach the founder
    assert recs[1].docs[0].id == "org-kelvar"
    assert "per-talen" not in [d.id for d in recs[0].docs]
    with pytest.raises(ValueError, match="k must be >= 1"):
        NaiveRAG(bm25, k=0)


def test_oracle_hands_over_the_gold_documents(examples, corpus, tmp_path):
    recs = OracleContext(corpus).contexts(examples)
    assert [[d.id for d in r.docs] for r in recs] == [["org-zorbex", "per-talen"], ["org-kelvar"]]
    assert recs[0].docs[1] == corpus["per-talen"]
    bad = [type(examples[0])("qx", "Who?", ["x"], {"supporting_doc_ids": ["nope"]})]
    with pytest.raises(KeyError, match="'nope' is not in the corpus"):
        OracleContext(corpus).contexts(bad)
    with pytest.raises(ValueError, match="names no supporting documents"):
        OracleContext(corpus).contexts([type(examples[0])("qy", "Who?", ["x"])])


def test_search_once_gives_each_question_the_top_k_of_its_query(examples, bm25):
    queries = [e.question for e in examples]
    hits = bm25.search(queries, 2)
    recs = search_once(bm25, examples, queries, k=2)
    assert [[d.id for d in r.docs] for r in recs] == [[d.id for d in h] for h in hits]
    assert [r.trace for r in recs] == [
        {"queries": [q], "retrieved": [[d.id for d in h]]} for q, h in zip(queries, hits)
    ]
    assert {(r.id, r.turns, r.searches) for r in recs} == {(e.id, 0, 1) for e in examples}
    rewritten = search_once(
        bm25, examples, queries, k=2, turns=1, trace=lambda i, docs: {"i": i, "n": len(docs)}
    )
    assert [(r.turns, r.trace) for r in rewritten] == [(1, {"i": i, "n": 2}) for i in range(len(examples))]


def test_oracle_beats_naive_rag_with_the_offline_reader(examples, corpus, bm25, tmp_path):
    rows = evaluate(
        [NaiveRAG(bm25, k=3), OracleContext(corpus), DirectAnswer()],
        {"toy": examples},
        ExtractiveReader(),
        tmp_path,
        progress=False,
    )
    acc = {r["method"]: r["genacc"] for r in rows}
    assert acc == {"naive-rag": 50.0, "oracle": 100.0, "direct": 0.0}
