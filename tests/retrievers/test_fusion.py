"""Reciprocal rank fusion on constructed rankings with hand-computed scores."""

from __future__ import annotations

import pytest

from retrievers.base import Retriever
from retrievers.doc import Doc
from retrievers.fusion import FusionRetriever, build_fusion_retriever, reciprocal_rank_fusion


def d(doc_id: str) -> Doc:
    return Doc(id=doc_id, title=doc_id.upper(), text=f"text of {doc_id}", score=123.0)


def ids(docs: list[Doc]) -> list[str]:
    return [x.id for x in docs]


def test_fused_scores_match_hand_computation():
    # A: a b c     B: c a d     (c=60)
    fused = reciprocal_rank_fusion([[d("a"), d("b"), d("c")], [d("c"), d("a"), d("d")]])
    expected = {
        "a": 1 / 61 + 1 / 62,
        "c": 1 / 63 + 1 / 61,
        "b": 1 / 62,
        "d": 1 / 63,
    }
    assert ids(fused) == ["a", "c", "b", "d"]  # a: 0.032522 > c: 0.032266
    for doc in fused:
        assert doc.score == pytest.approx(expected[doc.id], abs=1e-12)
    assert fused[0].title == "A" and fused[0].text == "text of a"  # records are kept, score replaced


def test_missing_documents_only_get_their_own_contributions_and_k_cuts():
    fused = reciprocal_rank_fusion([[d("x")], [], [d("y"), d("x")]], k=1)
    assert ids(fused) == ["x"]
    assert fused[0].score == pytest.approx(1 / 61 + 1 / 62)


def test_ties_break_by_best_rank_then_first_appearance():
    # p: ranks 1 and 3 -> 1/61 + 1/63 = 0.032266;  q: rank 2 twice -> 2/62 = 0.032258 (1/x is convex)
    fused = reciprocal_rank_fusion([[d("p"), d("q"), d("r")], [d("s"), d("q"), d("p")]])
    assert ids(fused)[:2] == ["p", "q"] and fused[0].score == pytest.approx(1 / 61 + 1 / 63)
    # exact ties: u and v both at rank 1 of one list each -> equal scores, first list wins
    fused = reciprocal_rank_fusion([[d("u")], [d("v")]])
    assert ids(fused) == ["u", "v"] and fused[0].score == fused[1].score
    # equal scores, different best ranks (c=0): a = 1/1, z = 1/1, w = 1/2 + 1/2; all 1.0.
    # a and z reached rank 1, w only rank 2 -> w last; a before z (earlier ranking)
    fused = reciprocal_rank_fusion([[d("a"), d("w")], [d("z"), d("w")]], c=0)
    assert [x.score for x in fused] == pytest.approx([1.0, 1.0, 1.0])
    assert ids(fused) == ["a", "z", "w"]


def test_constant_changes_the_ranking_and_weights_apply():
    # A: x y z   B: y ... (y at rank 2 in A and rank 1 in B; x only at rank 1 in A)
    rankings = [[d("x"), d("y")], [d("y")]]
    assert ids(reciprocal_rank_fusion(rankings, c=0)) == ["y", "x"]  # y: 1/2 + 1 = 1.5 > x: 1
    # heavy weight on A with c=0: x = 3/1 = 3, y = 3/2 + 1/1 = 2.5
    fused = reciprocal_rank_fusion(rankings, c=0, weights=[3.0, 1.0])
    assert ids(fused) == ["x", "y"]
    assert [x.score for x in fused] == pytest.approx([3.0, 2.5])
    with pytest.raises(ValueError, match="weights"):
        reciprocal_rank_fusion(rankings, weights=[1.0])


def test_duplicate_within_one_ranking_counts_once():
    fused = reciprocal_rank_fusion([[d("a"), d("a"), d("b")]])
    assert ids(fused) == ["a", "b"]
    assert fused[0].score == pytest.approx(1 / 61) and fused[1].score == pytest.approx(1 / 63)


class ListRetriever(Retriever):
    """A retriever over fixed rankings per query (what is under test here is the fusion)."""

    def __init__(self, table: dict[str, list[str]]):
        self.table = table
        self.calls: list[tuple[list[str], int]] = []

    def search(self, queries, k):
        self.calls.append((list(queries), k))
        return [[d(i) for i in self.table.get(q, [])][:k] for q in queries]


def test_fusion_retriever_is_a_retriever_with_depth():
    a = ListRetriever({"q1": ["a", "b", "c", "d"], "q2": ["m"]})
    b = ListRetriever({"q1": ["d", "c", "b", "a"], "q2": []})
    fused = FusionRetriever([a, b], depth=4)
    out = fused.search(["q1", "q2"], k=2)
    assert a.calls == [(["q1", "q2"], 4)] and b.calls == [(["q1", "q2"], 4)]
    # q1: a=1/61+1/64, b=1/62+1/63, c=1/63+1/62, d=1/64+1/61 -> a,d tie (best rank 1): a first (list A)
    assert ids(out[0]) == ["a", "d"] and ids(out[1]) == ["m"]
    assert out[0][0].score == pytest.approx(1 / 61 + 1 / 64)

    built = build_fusion_retriever(
        {"kind": "fusion", "retrievers": [{"t": 1}, {"t": 2}], "c": 0},
        lambda spec: a if spec["t"] == 1 else b,
    )
    assert ids(built.search(["q1"], k=1)[0]) == ["a"]
    with pytest.raises(ValueError, match="non-empty list"):
        build_fusion_retriever({"kind": "fusion"}, lambda s: a)


def test_fusion_spec_through_load_retriever(sample_index):
    from retrievers.factory import load_retriever

    bm25 = load_retriever(str(sample_index))
    fused = load_retriever(
        {"kind": "fusion", "retrievers": [str(sample_index), {"kind": "bm25", "path": str(sample_index)}]}
    )
    query = ["Who painted The Starry Night?"]
    expected = bm25.search(query, 5)[0]
    got = fused.search(query, 5)[0]
    assert ids(got) == ids(expected)  # the same ranking twice fuses to itself
    assert [x.score for x in got] == pytest.approx([2 / (60 + r) for r in range(1, 6)])
