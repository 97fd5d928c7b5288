"""Fixtures for the retrieval tests: the sample corpus, a BM25 index of it, and real server processes."""

from __future__ import annotations

from pathlib import Path

import pytest
from local_servers import RetrieveServer

from retrievers.data import sample_corpus_path


@pytest.fixture(scope="session")
def sample_corpus() -> Path:
    return sample_corpus_path()


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory, sample_corpus) -> Path:
    from retrievers.factory import build_index

    return build_index(sample_corpus, tmp_path_factory.mktemp("sample_bm25"), kind="bm25")


@pytest.fixture(scope="module")
def start_server(tmp_path_factory):
    """Factory: ``start_server(args) -> RetrieveServer``; every server started is stopped at teardown."""
    started: list[RetrieveServer] = []

    def start(args: list[str]) -> RetrieveServer:
        proc = RetrieveServer(args, tmp_path_factory.mktemp("server") / "server.log")
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope="module")
def server(sample_index, tmp_path_factory):
    """The sample BM25 index served by ``python -m s3 serve-retriever`` with small limits."""
    proc = RetrieveServer(
        ["--index", str(sample_index), "--max-queries", "8", "--max-topk", "50"],
        tmp_path_factory.mktemp("server") / "server.log",
    )
    yield proc
    proc.stop()
