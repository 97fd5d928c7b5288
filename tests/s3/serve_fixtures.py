"""A real ``s3 serve`` process on 127.0.0.1 for the serve tests, and a tiny warm-started searcher."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServeProcess:
    """``python -m s3 serve ARGS`` on a free port of 127.0.0.1, up once ``/health`` answers."""

    def __init__(self, args: list[str], log_path: Path, token: str | None = None, timeout: float = 120):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.log_path = log_path
        self._log = open(log_path, "wb")
        cmd = [sys.executable, "-m", "s3", "serve", *args, "--host", "127.0.0.1", "--port", str(self.port)]
        if token:
            cmd += ["--token", token]
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"s3 serve exited early:\n{log_path.read_text()}")
            try:
                if httpx.get(self.url + "/health", headers=self.headers, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"s3 serve did not start:\n{log_path.read_text()}")

    def post(self, path: str, body=None, content: bytes | None = None, **kwargs) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return httpx.post(self.url + path, json=body, content=content, headers=headers, timeout=120, **kwargs)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, headers=self.headers, timeout=60)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def warm_started_searcher(root: Path, steps: int = 100) -> dict:
    """The embedded task (60 training questions), its BM25 index and a tiny searcher warm-started on
    scripted demonstrations for ``steps`` steps under the ``tiny`` preset: enough to write queries,
    select documents and stop (about 30 s on 2 cores). Returns the paths (``model``, ``index``, ...)."""
    from train_fixtures import build_embedded_run

    from s3.config import load_config
    from s3.train.config import load_train_config
    from s3.train.warmstart import WarmstartConfig, warmstart

    run = build_embedded_run(root, train=60, val=10, drop_rag_correct=False)
    tcfg = load_train_config(
        preset="tiny",
        overrides=[f"model={run['model']}", f"retriever={run['index']}", f"data.train_file={run['train']}",
                   f"reward.rag_cache={run['cache']}", f"output_dir={root / 'train'}"],
    )  # fmt: skip
    wcfg = load_config(
        WarmstartConfig,
        overrides=[f"model={run['model']}", f"output_dir={root / 'ws'}", f"retriever={run['index']}",
                   f"train_file={run['train']}", f"protocol={tcfg.protocol}", "learning_rate=0.002",
                   f"max_steps={steps}", "select_noise_rate=0.0", "device=cpu", "progress=false"],
    )  # fmt: skip
    wcfg.episode = tcfg.episode  # the demonstrations follow the preset's episode rules and prompt
    wcfg.protocol_options = dict(tcfg.protocol_options)
    run["searcher"] = str(warmstart(wcfg))
    run["task"] = str(root / "task")
    return run
