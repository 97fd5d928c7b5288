"""Fixtures for the retrieval tests: the sample corpus, a BM25 index of it, and real server processes."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from retrievers.data import sample_corpus_path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A real ``/retrieve`` server started as a subprocess on 127.0.0.1 (killed by ``stop``)."""

    def __init__(self, args: list[str], log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        cmd = [
            sys.executable,
            "-m",
            "s3",
            "serve-retriever",
            *args,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code in (200, 401):
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start:\n{log_path.read_text()}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture(scope="session")
def sample_corpus() -> Path:
    return sample_corpus_path()


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory, sample_corpus) -> Path:
    from retrievers.factory import build_index

    return build_index(sample_corpus, tmp_path_factory.mktemp("sample_bm25"), kind="bm25")


@pytest.fixture(scope="module")
def start_server(tmp_path_factory):
    """Factory: ``start_server(args) -> ServerProcess``; every server started is stopped at teardown."""
    started: list[ServerProcess] = []

    def start(args: list[str]) -> ServerProcess:
        proc = ServerProcess(args, tmp_path_factory.mktemp("server") / "server.log")
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope="module")
def server(sample_index, tmp_path_factory):
    """The sample BM25 index served by ``python -m s3 serve-retriever`` with small limits."""
    proc = ServerProcess(
        ["--index", str(sample_index), "--max-queries", "8", "--max-topk", "50"],
        tmp_path_factory.mktemp("server") / "server.log",
    )
    yield proc
    proc.stop()
