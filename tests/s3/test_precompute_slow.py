"""Precompute end to end with real processes: a SIGKILLed run resumes exactly; Ray gives the same files.

The generator is the extractive reader served over the OpenAI chat API (``python -m generators.offline``)
with a fixed latency, called through the project's OpenAI client; the server lists the questions it
was asked, so the test can tell which questions reached the generator in each run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import local_servers
import pytest

from s3.data import normalize_question
from s3.precompute import CACHE_FILE, PrecomputeConfig, run_precompute
from s3.task import EmbeddedTaskConfig, build_embedded_task

OUT_FILES = (CACHE_FILE, "train.jsonl", "val.jsonl", "test.jsonl", "summary.json")
REPO = Path(__file__).resolve().parents[2]


def _http(url: str, post: bool = False) -> dict:
    req = urllib.request.Request(url, data=b"{}" if post else None, method="POST" if post else "GET")
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory):
    cfg = EmbeddedTaskConfig(seed=3, train=60, val=20, test=20)
    return build_embedded_task(tmp_path_factory.mktemp("task"), config=cfg)


@pytest.fixture(scope="module")
def reader_server():
    with local_servers.reader_server(latency=0.1, capacity=4) as server:
        yield server.url


def _overrides(base: str) -> list[str]:
    return [
        "chunk_size=4",
        "inflight_chunks=1",
        "generator.kind=openai",
        "generator.model=reader",
        f"generator.base_url={base}/v1",
    ]


def _complete_keys(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    keys = set()
    for line in path.read_text().splitlines(keepends=True):
        if line.endswith("\n"):
            keys.add(json.loads(line)["key"])
    return keys


@pytest.mark.slow
def test_sigkilled_run_resumes_without_asking_again(task_dir, reader_server, tmp_path):
    # the uninterrupted reference, same generator endpoint
    ref = tmp_path / "ref"
    cfg = PrecomputeConfig(
        task_dir=str(task_dir),
        output_dir=str(ref),
        chunk_size=4,
        inflight_chunks=1,
        progress=False,
        generator={"kind": "openai", "model": "reader", "base_url": f"{reader_server}/v1"},
    )
    run_precompute(cfg)
    _http(reader_server + "/reset", post=True)

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "s3", "precompute", "--task-dir", str(task_dir), "--output", str(out),
           "--no-progress", *_overrides(reader_server)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(_complete_keys(out / CACHE_FILE)) < 30:
        assert proc.poll() is None, f"precompute ended before the kill: {proc.stderr.read().decode()[-2000:]}"
        assert time.monotonic() < deadline, "precompute made no progress"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    done = _complete_keys(out / CACHE_FILE)
    assert 30 <= len(done) < 100  # killed midway
    asked_before = {normalize_question(q) for q in _http(reader_server + "/requests")["questions"]}
    assert done <= asked_before

    # requests the killed client left in flight still finish on the server: let them drain first
    while _http(reader_server + "/stats")["in_flight"]:
        time.sleep(0.05)
    time.sleep(0.3)
    _http(reader_server + "/reset", post=True)
    resumed = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    asked_after = [normalize_question(q) for q in _http(reader_server + "/requests")["questions"]]
    assert not done & set(asked_after), "finished questions were sent to the generator again"
    assert len(asked_after) == len(set(asked_after)) == 100 - len(done)
    for name in OUT_FILES:
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name


@pytest.mark.slow
def test_ray_backend_gives_the_same_files(task_dir, tmp_path):
    common = dict(task_dir=str(task_dir), limit=10, chunk_size=8, progress=False)
    local = run_precompute(PrecomputeConfig(output_dir=str(tmp_path / "local"), **common))
    on_ray = run_precompute(
        PrecomputeConfig(output_dir=str(tmp_path / "ray"), backend="ray", ray_num_cpus=2, **common)
    )
    assert on_ray["computed_this_run"] == local["computed_this_run"] == 30
    assert on_ray["backend"] == "ray" and on_ray["seconds"]["generator"] > 0
    for name in OUT_FILES:
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
