"""Fixtures for generator tests: real OpenAI-format servers started as processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

STUB = Path(__file__).with_name("stub_openai_server.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before becoming healthy")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server at {url} not healthy after {timeout} s")


def stop(proc: subprocess.Popen, graceful: bool = True) -> None:
    if proc.poll() is None:
        if not graceful:  # a stub holds no state; do not wait for its in-flight slow requests
            proc.kill()
            proc.wait(timeout=5)
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def http_json(url: str, data: dict | None = None) -> dict:
    req = urllib.request.Request(url, data=None if data is None else json.dumps(data).encode(), method="GET")
    if data is not None:
        req.method = "POST"
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


class StubServer:
    """A running stub server: ``.base_url`` for clients, ``.stats()`` counted server-side."""

    def __init__(self, proc: subprocess.Popen, port: int) -> None:
        self.proc = proc
        self.port = port
        self.root = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.root}/v1"

    def stats(self) -> dict:
        return http_json(f"{self.root}/stats")

    def reset(self) -> None:
        http_json(f"{self.root}/reset", {})


def start_stub(**options) -> StubServer:
    port = free_port()
    cmd = [sys.executable, str(STUB), "--port", str(port)]
    for key, value in options.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", proc, timeout=30)
    except Exception:
        stop(proc)
        raise
    return StubServer(proc, port)


@pytest.fixture
def stub_server():
    """Factory: ``stub_server(latency=0.05, fail_first=2, name="a")`` -> a running :class:`StubServer`."""
    started: list[StubServer] = []

    def make(**options) -> StubServer:
        server = start_stub(**options)
        started.append(server)
        return server

    yield make
    for server in started:
        stop(server.proc, graceful=False)


@pytest.fixture(scope="module")
def _replica_pair():
    servers = [start_stub(name=name, latency=0.05) for name in ("a", "b")]
    yield servers
    for server in servers:
        stop(server.proc, graceful=False)


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
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(hf_home), OMP_NUM_THREADS="1")
    exe = Path(sys.executable).with_name("transformers")
    cmd = [str(exe), "serve", model, "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--device", "cpu", "--dtype", "float32"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", proc, timeout=90)
        yield f"http://127.0.0.1:{port}/v1", model
    finally:
        stop(proc)
