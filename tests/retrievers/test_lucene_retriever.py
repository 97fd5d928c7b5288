"""pyserini/Lucene backend: build from our corpus, open Search-R1-style indexes, agree with our BM25."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

pyserini = pytest.importorskip("pyserini", reason="pyserini (extra 'pyserini') is not installed")
try:
    from pyserini.search.lucene import LuceneSearcher  # noqa: F401  (starts the JVM)
except Exception as exc:  # pragma: no cover - depends on the machine's Java
    pytest.skip(f"pyserini cannot start Java here: {exc}", allow_module_level=True)

from retrievers.bm25 import BM25Retriever, lucene_norm_byte  # noqa: E402
from retrievers.corpus import read_corpus  # noqa: E402
from retrievers.data import sample_queries  # noqa: E402
from retrievers.factory import build_index, load_retriever  # noqa: E402
from retrievers.lucene import LuceneRetriever  # noqa: E402

pytestmark = [pytest.mark.pyserini, pytest.mark.slow]


@pytest.fixture(scope="module")
def lucene_index(tmp_path_factory, sample_corpus):
    return build_index(sample_corpus, tmp_path_factory.mktemp("lucene"), kind="lucene")


def test_norms_match_lucene_smallfloat():
    from jnius import autoclass

    small_float = autoclass("org.apache.lucene.util.SmallFloat")
    lengths = np.arange(0, 3000)
    java = np.array([small_float.intToByte4(int(n)) & 0xFF for n in lengths])
    np.testing.assert_array_equal(lucene_norm_byte(lengths), java)


def test_build_and_search_agrees_with_our_bm25(lucene_index, sample_index):
    lucene = load_retriever(lucene_index)
    assert isinstance(lucene, LuceneRetriever) and lucene.num_docs == 152
    ours = BM25Retriever.load(sample_index)
    questions = [q["question"] for q in sample_queries()]
    theirs_hits, our_hits = lucene.search(questions, 10), ours.search(questions, 10)
    overlap = np.mean(
        [len({d.id for d in a} & {d.id for d in b}) / max(len(a), 1) for a, b in zip(theirs_hits, our_hits)]
    )
    assert overlap >= 0.95
    for a, b in zip(theirs_hits, our_hits):
        assert a[0].id == b[0].id
        assert a[0].score == pytest.approx(b[0].score, rel=1e-4)  # same BM25, same analyzer, same norms
    top = lucene.search(["What is the capital of France?"], 1)[0][0]
    assert (top.title, top.id) == ("Paris", "0") and top.text.startswith("Paris is the capital")


def test_prebuilt_index_without_stored_docs_uses_corpus(tmp_path, sample_corpus):
    # The layout of an index built by Search-R1's own script, but without --storeRaw.
    (tmp_path / "in").mkdir()
    shutil.copy(sample_corpus, tmp_path / "in" / "corpus.jsonl")
    cmd = [sys.executable, "-m", "pyserini.index.lucene", "--collection", "JsonCollection", "--input",
           str(tmp_path / "in"), "--index", str(tmp_path / "bare"), "--generator", "DefaultLuceneDocumentGenerator",
           "--threads", "1"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    retriever = load_retriever(tmp_path / "bare", corpus=str(sample_corpus))
    hits = retriever.search(["Who created the Python programming language?", "deepest lake"], 2)
    assert hits[0][0].title == "Python (programming language)" and hits[1][0].title == "Lake Baikal"
    with pytest.raises(ValueError, match="stores no documents"):
        LuceneRetriever(tmp_path / "bare").search(["python"], 1)


def test_manifest(lucene_index, sample_corpus):
    manifest = json.loads((lucene_index / "index.json").read_text())
    assert manifest["kind"] == "lucene" and manifest["num_docs"] == len(list(read_corpus(sample_corpus)))
