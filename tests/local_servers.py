"""Real servers for tests: a free port on 127.0.0.1, a process started and waited for until its health
URL answers, and stopped again. The one copy every test package uses (``tests/`` is on ``sys.path``
through the root ``conftest.py``).

Example::

    port = free_port()
    with LocalServer([sys.executable, "-m", "generators.offline", "--port", str(port)], port) as server:
        httpx.get(server.url + "/health")
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def send_json(handler: BaseHTTPRequestHandler, body: Any, status: int = 200) -> None:
    """Answer the request ``handler`` (an ``http.server`` handler) with ``body`` as JSON."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(
    url: str,
    proc: subprocess.Popen | None = None,
    timeout: float = 30.0,
    ok: Sequence[int] = (200,),
    log_path: str | os.PathLike | None = None,
    interval: float = 0.1,
) -> None:
    """Poll ``GET url`` until it answers a status in ``ok``.

    Raises:
        RuntimeError: ``proc`` exited first, or ``timeout`` seconds passed; with the log's tail if any.
    """

    def tail() -> str:
        if log_path is None or not Path(log_path).is_file():
            return ""
        return "\n" + Path(log_path).read_text(encoding="utf-8", errors="replace")[-4000:]

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited early (code {proc.returncode}) before {url} answered:{tail()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status in ok:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code in ok:
                return
        except OSError:
            pass
        time.sleep(interval)
    raise RuntimeError(f"server did not start: {url} not healthy after {timeout} s:{tail()}")


def stop_process(proc: subprocess.Popen, graceful: bool = True, timeout: float = 10.0) -> None:
    """Terminate ``proc`` (kill it if it does not exit within ``timeout``); ``graceful=False`` kills at once."""
    if proc.poll() is not None:
        return
    if graceful:
        proc.terminate()
        try:
            proc.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            pass
    proc.kill()
    proc.wait(timeout)


class LocalServer:
    """A server process on 127.0.0.1:``port``, healthy when the constructor returns; its output goes to
    ``log_path`` (a temporary file by default), shown when it fails to start. A context manager."""

    def __init__(
        self,
        cmd: Sequence[str],
        port: int,
        *,
        health: str = "/health",
        timeout: float = 30.0,
        ok: Sequence[int] = (200,),
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike | None = None,
        log_path: str | os.PathLike | None = None,
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._own_log = log_path is None
        if log_path is None:
            fd, log_path = tempfile.mkstemp(prefix="server-", suffix=".log")
            os.close(fd)
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "wb")
        env = None if env is None else {**os.environ, **env}
        self.proc = subprocess.Popen(list(cmd), stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        try:
            wait_healthy(self.url + health, self.proc, timeout, ok, self.log_path)
        except BaseException:
            self.stop(graceful=False)
            raise

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, graceful: bool = True) -> None:
        stop_process(self.proc, graceful)
        self._log.close()
        if self._own_log:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class RetrieveServer(LocalServer):
    """The real ``/retrieve`` server, ``python -m s3 serve-retriever ARGS``, on a free port (healthy when
    ``/health`` answers 200, or 401 behind an API key)."""

    def __init__(self, args: Sequence[str], log_path: str | os.PathLike, env: dict[str, str] | None = None,
                 timeout: float = 90.0) -> None:  # fmt: skip
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "s3",
            "serve-retriever",
            *args,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        super().__init__(cmd, port, timeout=timeout, ok=(200, 401), env=env, log_path=log_path)


def reader_server(latency: float = 0.0, capacity: int = 1000, timeout: float = 30.0) -> LocalServer:
    """The offline extractive reader behind the OpenAI chat API (``python -m generators.offline``), each
    request held ``latency`` seconds with at most ``capacity`` at once; its ``url`` has ``/v1`` below it."""
    port = free_port()
    cmd = [sys.executable, "-m", "generators.offline", "--port", str(port)]
    cmd += ["--latency", str(latency), "--capacity", str(capacity)]
    return LocalServer(cmd, port, timeout=timeout, cwd=REPO)
