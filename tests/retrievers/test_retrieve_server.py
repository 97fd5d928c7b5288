"""The /retrieve server as a real process: exact wire format, limits, errors, and it keeps serving."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from retrievers.base import Retriever
from retrievers.bm25 import BM25Retriever
from retrievers.doc import Doc
from retrievers.server import create_app

DOC_KEYS = {"id", "title", "text", "contents"}


def post(server, payload, **kwargs):
    return httpx.post(server.url + "/retrieve", json=payload, timeout=30, **kwargs)


def test_search_r1_payload_with_scores(server, sample_index):
    queries = ["What is the capital of France?", "Who painted The Starry Night?"]
    response = post(server, {"queries": queries, "topk": 3, "return_scores": True})
    assert response.status_code == 200
    result = response.json()["result"]
    assert len(result) == 2 and all(len(hits) == 3 for hits in result)
    local = BM25Retriever.load(sample_index).search(queries, 3)
    for hits, expected in zip(result, local):
        assert [h["document"]["id"] for h in hits] == [d.id for d in expected]
        assert [h["score"] for h in hits] == pytest.approx([d.score for d in expected])
        for hit in hits:
            assert set(hit) == {"document", "score"} and set(hit["document"]) == DOC_KEYS
            doc = hit["document"]
            assert doc["contents"] == f'"{doc["title"]}"\n{doc["text"]}'
    assert result[0][0]["document"]["title"] == "Paris"
    assert result[1][0]["document"]["title"] == "Vincent van Gogh"


def test_without_scores_topk_default_and_single_query(server):
    bare = post(server, {"queries": ["Eiffel Tower engineer"], "topk": 2, "return_scores": False}).json()
    assert set(bare["result"][0][0]) == DOC_KEYS and len(bare["result"][0]) == 2
    wrapped = post(server, {"queries": ["Eiffel Tower engineer"], "topk": 2, "return_scores": True}).json()
    assert [h["document"] for h in wrapped["result"][0]] == bare["result"][0]
    for topk in (None, 0):  # null / 0 / missing -> the server default (3)
        assert len(post(server, {"queries": ["capital city"], "topk": topk}).json()["result"][0]) == 3
    assert len(post(server, {"queries": ["capital city"]}).json()["result"][0]) == 3
    skyrl = post(server, {"query": "Eiffel Tower", "topk": 1, "return_scores": True}).json()
    assert skyrl["result"][0][0]["document"]["title"] == "Eiffel Tower"
    # three queries (upstream crashes with HTTP 500 for return_scores=false and N != 2)
    three = post(server, {"queries": ["a Nile", "Mars moons", "gold"], "topk": 1, "return_scores": False})
    assert three.status_code == 200 and len(three.json()["result"]) == 3
    assert post(server, {"queries": [], "topk": 3}).json() == {"result": []}
    assert post(server, {"queries": ["zzzunknownzzz"], "topk": 3}).json() == {"result": [[]]}


@pytest.mark.parametrize(
    "payload, status, message",
    [
        ({"queries": ["x"], "topk": -1}, 422, "'topk' must be a positive integer or null, got -1"),
        ({"queries": ["x"], "topk": "three"}, 422, "'topk' must be a positive integer"),
        ({"queries": ["x"], "topk": 2.5}, 422, "'topk' must be a positive integer"),
        ({"queries": ["x"], "topk": True}, 422, "'topk' must be a positive integer or null, got true"),
        ({"queries": ["x"], "topk": False}, 422, "'topk' must be a positive integer or null, got false"),
        ({"queries": ["x"], "topk": 51}, 422, "exceeds this server's limit of 50"),
        ({"queries": ["x"] * 9}, 413, "9 queries in one request; this server's limit is 8"),
        ({"queries": ["x", 3]}, 422, "'queries[1]' must be a string, got int"),
        ({"queries": [None]}, 422, "'queries[0]' must be a string, got NoneType"),
        ({"queries": "x"}, 422, "'queries' must be a list of strings, got str"),
        ({"query": 5}, 422, "'query' must be a string"),
        ({"topk": 3}, 422, "missing field 'queries'"),
        ({"queries": ["x"], "return_scores": "maybe"}, 422, "'return_scores' must be true or false"),
        ({"queries": ["x"], "return_scores": 2}, 422, "'return_scores' must be true or false"),
        (["x"], 422, "request body must be a JSON object"),
        ({"queries": ["x"], "topk_rerank": 2}, 400, "need a reranking retriever"),
    ],
)
def test_bad_requests_get_clear_4xx(server, payload, status, message):
    response = post(server, payload)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


def test_server_survives_bad_input(server):
    bad = httpx.post(server.url + "/retrieve", content=b"{not json", timeout=10)
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["detail"]
    binary = httpx.post(server.url + "/retrieve", content=b"\xff\xfe\x00", timeout=10)
    assert binary.status_code == 400
    assert httpx.get(server.url + "/retrieve", timeout=10).status_code == 405
    assert post(server, {"queries": ["Mount Everest height"], "topk": 1}).status_code == 200
    health = httpx.get(server.url + "/health", timeout=10).json()
    assert health["status"] == "ok" and health["num_docs"] >= 100 and health["max_queries"] == 8
    assert server.alive()


def test_upstream_type_coercion(server):
    """Search-R1's server (pydantic) takes topk "3" and 3.0; a client that worked there works here."""
    for topk in ("3", 3.0, "3.0", " 2 ", 2):
        response = post(server, {"queries": ["capital city"], "topk": topk, "return_scores": "true"})
        assert response.status_code == 200, response.text
        hits = response.json()["result"][0]
        assert len(hits) == int(float(topk)) and "score" in hits[0]
    assert (
        "score" not in post(server, {"queries": ["capital city"], "return_scores": 0}).json()["result"][0][0]
    )


def test_bearer_token_on_every_route(sample_index, start_server):
    secured = start_server(["--index", str(sample_index), "--token", "s3cret"])
    assert post(secured, {"queries": ["Paris"]}).status_code == 401
    assert post(secured, {"queries": ["Paris"]}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert post(secured, {"queries": ["Paris"]}, headers={"Authorization": "Basic s3cret"}).status_code == 401
    for scheme in ("Bearer", "bearer", "BEARER"):  # the scheme name is case-insensitive
        ok = post(
            secured,
            {"queries": ["Paris"], "topk": 1, "return_scores": True},
            headers={"Authorization": f"{scheme} s3cret"},
        )
        assert ok.status_code == 200 and ok.json()["result"][0][0]["document"]["title"] == "Paris"
    for path in ("/health", "/openapi.json", "/docs", "/redoc", "/nowhere"):
        assert httpx.get(secured.url + path, timeout=10).status_code == 401, path
        authorized = httpx.get(secured.url + path, headers={"Authorization": "bearer s3cret"}, timeout=10)
        assert authorized.status_code == (404 if path == "/nowhere" else 200), path


def test_search_r1_batch_of_2560_queries_on_a_default_server(sample_index, start_server):
    """Search-R1's GRPO recipe: 512 prompts x 5 rollouts in one request; the default limits take it."""
    default = start_server(["--index", str(sample_index)])
    queries = [f"capital of country number {i}" for i in range(2560)]
    response = post(default, {"queries": queries, "topk": 3, "return_scores": True})
    assert response.status_code == 200, response.text[:300]
    result = response.json()["result"]
    assert len(result) == 2560 and all(len(hits) == 3 for hits in result)


def test_body_size_limit(sample_index, start_server):
    limited = start_server(["--index", str(sample_index), "--max-body-bytes", "1000"])
    big = {"queries": ["capital of France " * 5] * 12}  # about 1.1 kB
    response = post(limited, big)
    assert response.status_code == 413
    assert "exceeds this server's limit of 1000 bytes" in response.json()["detail"]

    def chunks():  # no Content-Length: the limit applies while reading
        for _ in range(20):
            yield b" " * 100

    chunked = httpx.post(limited.url + "/retrieve", content=chunks(), timeout=10)
    assert chunked.status_code == 413 and "limit of 1000 bytes" in chunked.json()["detail"]
    assert post(limited, {"queries": ["Paris"], "topk": 1}).status_code == 200
    assert limited.alive()


def test_openapi_documents_the_request_body(sample_index):
    app = create_app(BM25Retriever.load(sample_index), max_queries=8)
    with TestClient(app) as client:
        schema = client.get("/openapi.json").json()["paths"]["/retrieve"]["post"]
    body = schema["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["queries"] == {"type": "array", "items": {"type": "string"}, "maxItems": 8}
    assert {"topk", "return_scores", "query"} <= set(body["properties"])
    assert {"200", "413", "422"} <= set(schema["responses"])


class _SlowRetriever(Retriever):
    """Sleeps on the query "slow"; records how searches were batched. Has a toy reranker."""

    def __init__(self):
        self.calls: list[list[str]] = []

    def search(self, queries, k):
        self.calls.append(list(queries))
        if "slow" in queries:
            time.sleep(1.5)
        return [[Doc(f"{q}-{i}", q, f"hit {i}", score=float(k - i)) for i in range(k)] for q in queries]

    def search_rerank(self, queries, n, k):
        return [[Doc(f"{q}-r{i}", q, f"reranked from {n}", score=1.0) for i in range(k)] for q in queries]


def test_slow_search_does_not_block_others_and_batches_merge():
    retriever = _SlowRetriever()
    with TestClient(create_app(retriever, workers=2)) as client:
        slow_done = []
        thread = threading.Thread(
            target=lambda: slow_done.append(client.post("/retrieve", json={"queries": ["slow"], "topk": 1}))
        )
        thread.start()
        time.sleep(0.2)
        start = time.monotonic()
        fast = client.post("/retrieve", json={"queries": ["fast"], "topk": 2, "return_scores": True})
        fast_seconds = time.monotonic() - start
        thread.join()
        assert fast.status_code == 200 and fast_seconds < 1.0 and not slow_done[0].is_error
        assert [h["document"]["id"] for h in fast.json()["result"][0]] == ["fast-0", "fast-1"]

        reranked = client.post("/retrieve", json={"queries": ["q"], "topk_retrieval": 20, "topk_rerank": 2})
        assert [d["text"] for d in reranked.json()["result"][0]] == ["reranked from 20"] * 2
        bad = client.post("/retrieve", json={"queries": ["q"], "topk_retrieval": 1, "topk_rerank": 2})
        assert bad.status_code == 422

        # while one search runs, concurrent requests queue up and are merged into one batch
        retriever.calls.clear()
        threads = [threading.Thread(target=client.post, args=("/retrieve",), kwargs={"json": {"queries": [q]}})
                   for q in ["slow", "slow"] + [f"q{i}" for i in range(6)]]  # fmt: skip
        for t in threads:
            t.start()
            time.sleep(0.05)
        for t in threads:
            t.join()
        assert sum(len(c) for c in retriever.calls) == 8 and len(retriever.calls) < 8


def test_contents_and_ids_are_served_as_stored(tmp_path):
    """Upstream returns the corpus row itself: an unquoted title, CRLF and integer ids survive."""
    import json

    from retrievers.corpus import read_corpus

    rows = {
        "Zebulon": {"id": 7, "contents": "Zebulon Harbor\nZebulon Harbor is a quiet port."},
        "Quillmere": {"id": "crlf", "contents": '"Quillmere"\r\nQuillmere lies on a lake.\r\nIt has a mill.'},
        "Ostrava": {"id": "plain", "contents": '"Ostrava"\nOstrava is a city.'},
        "Varn": {"id": 9, "title": "Varn", "text": "Varn is a river."},
    }
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows.values()))
    bm25 = BM25Retriever.build(read_corpus(corpus), tmp_path / "idx")
    with TestClient(create_app(bm25)) as client:
        for query, row in rows.items():
            hit = client.post("/retrieve", json={"queries": [query], "topk": 1}).json()["result"][0][0]
            assert hit["id"] == row["id"]
            assert hit["contents"] == row.get("contents", '"Varn"\nVarn is a river.')
    assert bm25.docstore.row_of("7") == 0
    bm25.close()
