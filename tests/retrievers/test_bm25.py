"""BM25: Lucene scoring checked against a from-scratch computation, streaming build, save/load, backends."""

from __future__ import annotations

import json
import math
import random
from collections import Counter

import numpy as np
import pytest

from retrievers.analysis import LUCENE_STOPWORDS, Analyzer
from retrievers.bm25 import BM25Retriever, lucene_norm_byte, lucene_norm_length
from retrievers.bm25_kernels import HAVE_NUMBA
from retrievers.doc import Doc


def _random_corpus(n_docs: int, seed: int = 0) -> list[Doc]:
    rng = random.Random(seed)
    words = [f"word{i}" for i in range(300)]
    weights = [1 / (i + 1) ** 1.07 for i in range(len(words))]
    docs = []
    for i in range(n_docs):
        text = " ".join(rng.choices(words, weights, k=rng.randint(3, 90)))
        docs.append(Doc(f"d{i}", f"title{i % 17}", text))
    return docs


def _reference_scores(docs: list[Doc], query: str, k1=0.9, b=0.4) -> np.ndarray:
    """Lucene BM25 straight from its definition, over every document (no index)."""
    analyzer = Analyzer()
    terms = [Counter(analyzer.terms(f"{d.title}\n{d.text}")) for d in docs]
    lengths = np.array([sum(t.values()) for t in terms])
    n = int((lengths > 0).sum())
    avgdl = np.float32(lengths.sum() / n)
    norm_len = lucene_norm_length(lucene_norm_byte(lengths))
    scores = np.zeros(len(docs))
    for term, weight in Counter(analyzer.terms(query)).items():
        df = sum(1 for t in terms if term in t)
        if df == 0:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for row, t in enumerate(terms):
            if term in t:
                tf = t[term]
                scores[row] += weight * idf * tf / (tf + k1 * (1 - b + b * norm_len[row] / avgdl))
    return scores


def test_lucene_length_norms():
    lengths = np.arange(0, 5000)
    decoded = lucene_norm_length(lucene_norm_byte(lengths))
    assert (decoded[:24] == lengths[:24]).all()  # small lengths are exact
    assert (decoded <= lengths).all() and (np.diff(decoded) >= 0).all()
    assert ((lengths - decoded) / np.maximum(lengths, 1) < 0.13).all()  # 3 mantissa bits
    assert (lucene_norm_byte(lengths) <= 255).all()


def test_analyzer_is_lucene_like():
    analyzer = Analyzer()
    assert analyzer.terms("The cats' owner's houses were RUNNING in Paris") == [
        "cat", "owner", "hous", "were", "run", "pari",
    ]  # fmt: skip
    assert "the" in LUCENE_STOPWORDS and len(LUCENE_STOPWORDS) == 33
    assert Analyzer(stemmer="none", stopwords="none").terms("The U.S. don't") == ["the", "u.s", "don't"]
    with pytest.raises(ValueError, match="stemmer"):
        Analyzer(stemmer="klingon")


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_search_matches_reference_scoring(tmp_path, backend):
    if backend == "numba" and not HAVE_NUMBA:
        pytest.skip("numba is not installed (a core dependency); the numpy case of this test still runs")
    docs = _random_corpus(400)
    retriever = BM25Retriever.build(docs, tmp_path / "idx", chunk_size=37, memory_mb=0, backend=backend)
    rng = random.Random(1)
    queries = [
        " ".join(rng.sample(docs[rng.randrange(400)].text.split(), 3)) + " word0 word0" for _ in range(30)
    ]
    results = retriever.search(queries, k=10)
    for query, hits in zip(queries, results):
        ref = _reference_scores(docs, query)
        expected = np.sort(ref)[::-1][:10]
        got = np.array([h.score for h in hits])
        np.testing.assert_allclose(got, expected[: len(got)], rtol=1e-5)
        for hit in hits:  # each hit carries its true score and full record
            row = int(hit.id[1:])
            assert hit.score == pytest.approx(ref[row], rel=1e-5)
            assert (hit.title, hit.text) == (docs[row].title, docs[row].text)
        assert got.tolist() == sorted(got.tolist(), reverse=True)


def test_empty_documents_count_in_neither_the_average_length_nor_idf(tmp_path):
    """Lucene's docCount and avgdl cover documents with at least one term; stop-word-only and empty
    passages (one in five here) must not shift the scores of the others."""
    docs = _random_corpus(200, seed=4)
    for row in range(0, 200, 5):
        docs[row] = Doc(f"d{row}", "", "" if row % 2 else "the of and")
    retriever = BM25Retriever.build(docs, tmp_path / "idx", backend="numpy")
    assert retriever.params["num_docs"] == 200 and retriever.params["num_docs_with_terms"] == 160
    queries = ["word0 word3", "word17 word1 word1", "word42"]
    for query, hits in zip(queries, retriever.search(queries, k=10)):
        ref = _reference_scores(docs, query)
        assert hits and all(int(h.id[1:]) % 5 for h in hits)
        for hit in hits:
            assert hit.score == pytest.approx(ref[int(hit.id[1:])], rel=1e-6)
    retriever.close()


def test_numba_and_numpy_backends_agree_exactly(tmp_path):
    if not HAVE_NUMBA:
        pytest.skip("numba is not installed (a core dependency): no numba backend to compare numpy with")
    docs = _random_corpus(1500, seed=3)
    BM25Retriever.build(docs, tmp_path / "idx", chunk_size=500)
    fast = BM25Retriever.load(tmp_path / "idx", backend="numba", threads=2)
    slow = BM25Retriever.load(tmp_path / "idx", backend="numpy")
    rng = random.Random(2)
    texts = [docs[rng.randrange(1500)].text.split() for _ in range(64)]
    queries = [" ".join(rng.sample(t, min(len(t), rng.randint(1, 6)))) for t in texts]
    rows_f, scores_f = fast.search_ids(queries, 25)
    rows_s, scores_s = slow.search_ids(queries, 25)
    np.testing.assert_array_equal(rows_f, rows_s)
    np.testing.assert_allclose(scores_f, scores_s, rtol=1e-6)


def test_bm25s_numba_backend_on_our_index_ranks_the_same_up_to_ties(tmp_path):
    """The comparison of benchmarks/retrieval/RESULTS.md: bm25s' numba search reads our Lucene-normed
    impacts, so its top k differ from ours only in which of equally scored documents come first."""
    if not HAVE_NUMBA:
        pytest.skip("numba is not installed (a core dependency): bm25s' numba backend needs it")
    import bm25s

    docs = _random_corpus(1500, seed=5)
    ours = BM25Retriever.build(docs, tmp_path / "idx", chunk_size=500)
    theirs = bm25s.BM25.load(tmp_path / "idx", mmap=True, backend="numba")
    rng = random.Random(4)
    texts = [docs[rng.randrange(1500)].text.split() for _ in range(64)]
    queries = [" ".join(rng.sample(t, min(len(t), rng.randint(1, 6)))) for t in texts]
    ids = [[ours.vocab[t] for t in terms] for terms in ours.analyzer.terms_batch(queries)]
    assert all(ids)
    k = 10
    res = theirs.retrieve(ids, k=k, n_threads=1, show_progress=False)
    rows, scores = ours.search_ids(queries, k)
    np.testing.assert_allclose(res.scores, scores, rtol=1e-5)  # the same scores rank by rank
    differ = 0
    for mine, my_scores, other, other_scores in zip(rows, scores, res.documents, res.scores):
        kth = my_scores[-1]
        moved = [s for r, s in zip(mine, my_scores) if r not in other] + [
            s for r, s in zip(other, other_scores) if r not in mine
        ]
        assert all(abs(s - kth) <= 1e-5 * kth for s in moved), "a document enters above the k-th score"
        differ += mine.tolist() != other.tolist()
    assert differ < len(queries) // 2  # most lists are identical; the rest order tied documents differently


def test_ties_go_to_lower_row_and_short_results(tmp_path):
    docs = [Doc(str(i), "same", "alpha beta") for i in range(5)] + [Doc("x", "other", "gamma")]
    retriever = BM25Retriever.build(docs, tmp_path / "idx")
    hits = retriever.search(["alpha"], k=3)[0]
    assert [h.id for h in hits] == ["0", "1", "2"]
    assert retriever.search(["gamma"], k=10)[0][0].id == "x" and len(retriever.search(["gamma"], 10)[0]) == 1
    assert retriever.search(["unknownword", "the of and"], k=3) == [[], []]
    assert retriever.search([], k=3) == []


def test_save_load_mmap_and_bm25s_interop(tmp_path):
    docs = _random_corpus(300, seed=5)
    built = BM25Retriever.build(docs)  # temporary directory
    saved = built.save(tmp_path / "copy")
    built.close()
    queries = ["word3 word100 word7", "word250"]
    for mmap in (True, False):
        loaded = BM25Retriever.load(saved, mmap=mmap)
        assert len(loaded) == 300
        hits = loaded.search(queries, k=5)
        assert all(h.score > 0 for hs in hits for h in hs) and len(hits[0]) == 5
        loaded.close()
    # bm25s opens the same files and ranks the same documents
    import bm25s

    model = bm25s.BM25.load(saved, mmap=True)
    ours = BM25Retriever.load(saved)
    ids = [[ours.vocab[t] for t in ours.analyzer.terms(q)] for q in queries]
    res, _ = model.retrieve(bm25s.tokenization.Tokenized(ids=ids, vocab=ours.vocab), k=5, show_progress=False)
    rows = ours.search_ids(queries, 5)[0]
    assert [r[r >= 0].tolist() for r in rows] == [r[: (row >= 0).sum()].tolist() for r, row in zip(res, rows)]
    assert (rows[0] >= 0).all() and (rows[1] == -1).any()  # bm25s pads with non-matching rows; we do not
    params = json.loads((saved / "bm25.json").read_text())
    assert params["k1"] == 0.9 and params["b"] == 0.4 and params["num_docs"] == 300


def test_bad_arguments(tmp_path):
    retriever = BM25Retriever.build([Doc("1", "t", "some words here")], tmp_path / "idx")
    with pytest.raises(ValueError, match="k must be a positive integer"):
        retriever.search(["words"], k=0)
    with pytest.raises(TypeError, match=r"queries\[1\] must be a string"):
        retriever.search(["words", 3], k=1)
    with pytest.raises(TypeError, match="list of strings"):
        retriever.search("words", k=1)
    with pytest.raises(ValueError, match="corpus is empty"):
        BM25Retriever.build([], tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="not a BM25 index"):
        BM25Retriever.load(tmp_path / "empty_dir_that_is_missing")


def test_missing_numba_names_an_install_that_exists(tmp_path, monkeypatch):
    """The message names a real fix: numba itself (a core dependency), not an extra setup.py lacks."""
    import retrievers.bm25_kernels as kernels

    BM25Retriever.build([Doc("1", "t", "some words here")], tmp_path / "idx").close()
    monkeypatch.setattr(kernels, "HAVE_NUMBA", False)
    with pytest.raises(ImportError) as info:
        BM25Retriever.load(tmp_path / "idx", backend="numba")
    message = str(info.value)
    assert "pip install 'numba>=0.59'" in message and "backend='numpy'" in message
    assert "extra" not in message
    assert BM25Retriever.load(tmp_path / "idx", backend="auto").backend == "numpy"


def test_sample_questions_find_their_passage(sample_index):
    from retrievers.data import sample_queries

    retriever = BM25Retriever.load(sample_index)
    questions = sample_queries()
    results = retriever.search([q["question"] for q in questions], k=3)
    found = sum(q["doc_id"] in [d.id for d in hits] for q, hits in zip(questions, results))
    assert found >= 0.8 * len(questions)
