"""Fixtures for generator tests: real OpenAI-format servers started as processes on 127.0.0.1."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import pytest
from local_servers import LocalServer, free_port

STUB = Path(__file__).with_name("stub_openai_server.py")


def http_json(url: str, data: dict | None = None) -> dict:
    req = urllib.request.Request(url, data=None if data is None else json.dumps(data).encode(), method="GET")
    if data is not None:
        req.method = "POST"
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


class StubServer(LocalServer):
    """The stub server running on a free port: ``.base_url`` for clients, ``.stats()`` counted server-side."""

    def __init__(self, **options) -> None:
        port = free_port()
        cmd = [sys.executable, str(STUB), "--port", str(port)]
        for key, value in options.items():
            cmd += [f"--{key.replace('_', '-')}", str(value)]
        super().__init__(cmd, port, timeout=30)
        self.root = self.url
        self.base_url = f"{self.root}/v1"

    def stats(self) -> dict:
        return http_json(f"{self.root}/stats")

    def reset(self) -> None:
        http_json(f"{self.root}/reset", {})


@pytest.fixture
def stub_server():
    """Factory: ``stub_server(latency=0.05, fail_first=2, name="a")`` -> a running :class:`StubServer`."""
    started: list[StubServer] = []

    def make(**options) -> StubServer:
        server = StubServer(**options)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop(graceful=False)  # a stub holds no state: no wait for slow requests


@pytest.fixture(scope="module")
def _replica_pair():
    servers = [StubServer(name=name, latency=0.05) for name in ("a", "b")]
    yield servers
    for server in servers:
        server.stop(graceful=False)  # a stub holds no state: no wait for slow requests


@pytest.fixture
def replicas(_replica_pair):
    """Two stub replicas named "a" and "b" (50 ms latency), shared by a module, counters reset per test."""
    for server in _replica_pair:
        server.reset()
    return _replica_pair


@pytest.fixture
def down_url() -> str:
    """A base URL where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{free_port()}/v1"


@pytest.fixture(scope="module")
def served_tiny_model(tiny_model_dir, tmp_path_factory):
    """``transformers serve`` over the tiny model: yields (base_url, model path string)."""
    hf_home = tmp_path_factory.mktemp("hf_home")
    (hf_home / "hub").mkdir()
    port = free_port()
    model = str(tiny_model_dir)
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(hf_home), "OMP_NUM_THREADS": "1"}
    exe = Path(sys.executable).with_name("transformers")
    cmd = [str(exe), "serve", model, "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--device", "cpu", "--dtype", "float32"]
    with LocalServer(cmd, port, timeout=90, env=env) as server:
        yield f"{server.url}/v1", model
