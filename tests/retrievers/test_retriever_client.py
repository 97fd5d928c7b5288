"""HTTPRetriever against real servers: same results as local search, retries, clear errors."""

from __future__ import annotations

import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from local_servers import free_port

from retrievers.bm25 import BM25Retriever
from retrievers.client import HTTPRetriever, RetrieverRequestError, RetrieverUnavailable


def test_client_matches_local_search(server, sample_index):
    queries = ["Who designed the Sydney Opera House?", "deepest lake", "first human in space"]
    local = BM25Retriever.load(sample_index).search(queries, 4)
    with HTTPRetriever(server.url, timeout=10) as remote:
        got = remote.search(queries, 4)
        assert remote.health()["status"] == "ok"
    assert [[(d.id, d.title, d.text) for d in hits] for hits in got] == [
        [(d.id, d.title, d.text) for d in hits] for hits in local
    ]
    assert [d.score for d in got[0]] == pytest.approx([d.score for d in local[0]])


def test_client_splits_large_batches_and_reports_4xx(server):
    with HTTPRetriever(server.url + "/retrieve", max_batch=8) as remote:  # server allows 8 per request
        results = remote.search([f"capital city {i}" for i in range(20)], 2)
        assert len(results) == 20 and all(len(r) == 2 for r in results)
        with pytest.raises(RetrieverRequestError, match="exceeds this server's limit"):
            remote.search(["x"], 500)
        with pytest.raises(RetrieverRequestError, match="HTTP 400"):
            remote.search_rerank(["x"], 10, 3)


def test_unreachable_server_gives_clear_error():
    port = free_port()
    start = time.monotonic()
    with HTTPRetriever(f"http://127.0.0.1:{port}", timeout=2, max_retries=2, backoff=0.05) as remote:
        with pytest.raises(RetrieverUnavailable, match="unavailable after 3 attempts"):
            remote.search(["x"], 3)
    assert time.monotonic() - start < 5


def test_retries_transient_server_errors():
    app = FastAPI()
    calls = {"n": 0}

    @app.post("/retrieve")
    def flaky():
        calls["n"] += 1
        if calls["n"] <= 2:
            return JSONResponse({"detail": "warming up"}, status_code=503)
        return {"result": [[{"document": {"id": "1", "contents": '"T"\nbody'}, "score": 2.5}]]}

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        with HTTPRetriever(f"http://127.0.0.1:{port}", max_retries=3, backoff=0.01) as remote:
            hits = remote.search(["q"], 1)[0]
        assert calls["n"] == 3
        assert (hits[0].id, hits[0].title, hits[0].text, hits[0].score) == ("1", "T", "body", 2.5)
    finally:
        server.should_exit = True
        thread.join(10)
