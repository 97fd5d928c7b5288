"""build_index / load_retriever: manifests, specs, the kind registry, the CLI, and a light import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from retrievers import build_index, load_retriever
from retrievers.base import Retriever
from retrievers.bm25 import BM25Retriever
from retrievers.client import HTTPRetriever
from retrievers.corpus import CorpusError
from retrievers.factory import RETRIEVER_KINDS


def test_manifest_and_load_by_dir_and_dict(sample_index, sample_corpus):
    manifest = json.loads((sample_index / "index.json").read_text())
    assert manifest["kind"] == "bm25" and manifest["num_docs"] == 152
    assert manifest["corpus"] == str(sample_corpus.resolve())
    assert "numpy" in manifest["versions"] and manifest["options"] == {}
    by_dir = load_retriever(sample_index)
    by_dict = load_retriever({"kind": "bm25", "path": str(sample_index), "threads": 1})
    assert isinstance(by_dir, BM25Retriever) and by_dict.threads == 1
    assert by_dir.search(["Mozart operas"], 1)[0][0].title == "Wolfgang Amadeus Mozart"
    assert load_retriever(by_dir) is by_dir


def test_url_spec_gives_http_client():
    client = load_retriever("http://127.0.0.1:9/retrieve")
    assert isinstance(client, HTTPRetriever) and client.url == "http://127.0.0.1:9/retrieve"
    assert load_retriever("https://search.example/").url == "https://search.example/retrieve"


def test_registry_is_extensible(sample_index):
    class Constant(Retriever):
        def __init__(self, spec):
            self.spec = spec

        def search(self, queries, k):
            return [[] for _ in queries]

    RETRIEVER_KINDS["constant"] = Constant
    try:
        retriever = load_retriever({"kind": "constant", "x": 1})
        assert isinstance(retriever, Constant) and retriever.spec == {"kind": "constant", "x": 1}
    finally:
        del RETRIEVER_KINDS["constant"]
    with pytest.raises(
        ValueError, match=r"unknown retriever kind .nope.; known: .*bm25, .*dense, .*http, .*lucene"
    ):
        load_retriever({"kind": "nope"})


def test_build_errors_name_the_file(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(CorpusError, match=r"empty\.jsonl: corpus is empty"):
        build_index(empty, tmp_path / "idx")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "contents": "ok"}\n{"id": "2"}\n')
    with pytest.raises(CorpusError, match=r"bad\.jsonl:2: missing field 'contents'"):
        build_index(bad, tmp_path / "idx2")
    with pytest.raises(ValueError, match="unknown index kind"):
        build_index(bad, tmp_path / "idx3", kind="magic")
    with pytest.raises(FileNotFoundError, match="not a recognised index"):
        load_retriever(tmp_path)


def test_cli_index_and_bad_corpus(tmp_path, sample_corpus):
    out = tmp_path / "cli_idx"
    done = subprocess.run(
        [sys.executable, "-m", "s3", "index", "--corpus", str(sample_corpus), "--output", str(out), "--option", "k1=1.2"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "bm25 index of 152 documents" in done.stdout
    assert json.loads((out / "bm25.json").read_text())["k1"] == 1.2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "contents": "ok"}\nnot json\n')
    failed = subprocess.run(
        [sys.executable, "-m", "s3", "index", "--corpus", str(bad), "--output", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert failed.returncode != 0 and f"{bad}:2: not valid JSON" in failed.stderr


def test_import_retrievers_is_light():
    code = "import sys, retrievers; retrievers.Doc; print(sorted(m for m in ('torch', 'faiss', 'fastapi', 'numba') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
