"""``s3 serve`` as a real process on 127.0.0.1: ``/search``, ``/retrieve`` (Search-R1's request shape),
OpenAI chat completions through the official ``openai`` client, the MCP tool through the official MCP
client, batching of concurrent requests, the bearer token, and 4xx answers that say what is wrong."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from s3_search_fixtures import QUESTIONS, build_bm25, corpus_docs
from serve_fixtures import ServeProcess

DUNE, HAMLET, PARIS, DANUBE = QUESTIONS
TOKEN = "s3cret-token"
MAX_NEW_TOKENS = 16


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("serve_index") / "idx"
    build_bm25(path).close()
    return path


@pytest.fixture(scope="module")
def server(tiny_model_dir, index_dir, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve_log") / "serve.log"
    args = ["--model", str(tiny_model_dir), "--index", str(index_dir), "--device", "cpu",
            "--max-new-tokens", str(MAX_NEW_TOKENS), "--max-questions", "4", "--max-body-bytes", "4096"]  # fmt: skip
    proc = ServeProcess(args, log, token=TOKEN)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def in_process(tiny_model_dir, index_dir):
    """The same searcher called in-process (what the server must give back)."""
    from s3 import Searcher

    searcher = Searcher.from_pretrained(tiny_model_dir, retriever=str(index_dir), device="cpu")
    searcher.config.rollout.max_new_tokens_per_turn = MAX_NEW_TOKENS
    return searcher


def _ids(docs: list[dict]) -> list[str]:
    return [d["id"] for d in docs]


def test_search_returns_the_searchers_documents_and_trace(server, in_process):
    response = server.post("/search", {"question": DUNE})
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    expected = in_process.search(DUNE)
    assert result["question"] == DUNE
    assert _ids(result["documents"]) == [d.id for d in expected.documents]
    assert result["documents"][0]["title"] == expected.documents[0].title
    assert result["finish_reason"] == expected.finish_reason and result["queries"] == expected.queries
    trace = result["trace"]
    assert len(trace["turns"]) == len(expected.trace["turns"]) >= 1
    assert [t["text"] for t in trace["turns"]] == [t["text"] for t in expected.trace["turns"]]
    initial = expected.trace["episode"]["blocks"][0]["docs"]
    assert _ids(trace["episode"]["blocks"][0]["docs"]) == _ids(initial)

    batch = server.post("/search", {"questions": [DUNE, PARIS], "trace": False, "answer": True}).json()[
        "results"
    ]
    expected = in_process.search_batch([DUNE, PARIS])
    assert [_ids(r["documents"]) for r in batch] == [[d.id for d in e.documents] for e in expected]
    assert all("trace" not in r for r in batch)
    paris = batch[1]["generator"]
    assert paris["answer"] == "Paris"  # the offline generator read the searcher's documents
    assert paris["messages"][-1] == {"role": "user", "content": PARIS}
    assert "Doc 1 (Title: Paris)" in paris["messages"][0]["content"]


def test_retrieve_answers_search_r1_requests_with_the_searchers_documents(server, in_process):
    body = {"queries": [HAMLET, DANUBE], "topk": 3, "return_scores": True}  # what Search-R1 sends
    response = server.post("/retrieve", body)
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert len(result) == 2 and all(len(docs) == 3 for docs in result)
    for docs, expected in zip(result, in_process.search_batch([HAMLET, DANUBE])):
        selected = {d.id for d in expected.selected}
        ranked = [d for d in expected.documents if d.id in selected] + [
            d for d in expected.documents if d.id not in selected
        ]
        assert [d["document"]["id"] for d in docs] == [d.id for d in ranked[:3]]
        first = docs[0]
        assert first["document"]["contents"].startswith(f'"{first["document"]["title"]}"')
        assert isinstance(first["score"], float)
    plain = server.post("/retrieve", {"query": HAMLET, "topk": 1}).json()["result"]  # SkyRL's shape
    assert len(plain) == 1 and len(plain[0]) == 1 and "contents" in plain[0][0]
    assert server.post("/retrieve", {"queries": []}).json() == {"result": []}


def test_openai_client_gets_the_generators_answer_with_the_documents(server, in_process):
    import openai

    client = openai.OpenAI(base_url=server.url + "/v1", api_key=TOKEN, max_retries=0)
    completion = client.chat.completions.create(
        model="s3", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": PARIS}]
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Paris"
    assert completion.choices[0].finish_reason == "stop"
    expected = in_process.search(PARIS)
    extra = completion.model_extra
    assert _ids(extra["documents"]) == [d.id for d in expected.documents]
    assert extra["search"]["finish_reason"] == expected.finish_reason
    assert completion.usage.prompt_tokens > 0

    stream = client.chat.completions.create(
        model="s3", messages=[{"role": "user", "content": PARIS}], stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Paris"

    with pytest.raises(openai.UnprocessableEntityError, match="no message with role 'user'"):
        client.chat.completions.create(model="s3", messages=[{"role": "system", "content": "hi"}])
    denied = openai.OpenAI(base_url=server.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as denial:
        denied.chat.completions.create(model="s3", messages=[{"role": "user", "content": PARIS}])
    assert denial.value.response.json()["detail"] == "missing or wrong bearer token"


def test_mcp_client_calls_the_search_tool(server, in_process):
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async def calls():
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
        async with Client(streamable_http_client(server.url + "/mcp", http_client=http)) as client:
            tools = (await client.list_tools()).tools
            found = await client.call_tool("search", {"question": DUNE})
            empty = await client.call_tool("search", {"question": "  "})
            return tools, found, empty

    tools, found, empty = asyncio.run(calls())
    assert [t.name for t in tools] == ["search"] and "question" in tools[0].input_schema["properties"]
    assert not found.is_error
    expected = in_process.search(DUNE)
    assert _ids(found.structured_content["documents"]) == [d.id for d in expected.documents]
    assert found.structured_content["finish_reason"] == expected.finish_reason
    assert empty.is_error and "non-empty" in empty.content[0].text


def test_concurrent_requests_are_merged_into_batches(server):
    before = server.get("/health").json()["searched"]
    with ThreadPoolExecutor(8) as pool:
        responses = list(
            pool.map(lambda q: server.post("/search", {"question": q, "trace": False}), QUESTIONS * 2)
        )
    assert all(r.status_code == 200 for r in responses)
    assert [r.json()["results"][0]["question"] for r in responses] == QUESTIONS * 2
    after = server.get("/health").json()["searched"]
    assert after["questions"] - before["questions"] == 8
    assert after["batches"] - before["batches"] < 8  # requests that waited were searched together


@pytest.mark.parametrize(
    "path, body, status, message",
    [
        ("/search", b"{not json", 400, "not valid JSON"),
        ("/search", {"q": DUNE}, 422, "missing field 'question'"),
        ("/search", {"question": "   "}, 422, "'question' must be a non-empty string"),
        ("/search", {"questions": [DUNE, 7]}, 422, "'questions[1]' must be a non-empty string, got 7"),
        ("/search", {"questions": [DUNE] * 5}, 413, "5 questions in one request; this server's limit is 4"),
        ("/search", {"question": DUNE, "answer": "yes"}, 422, "'answer' must be true or false"),
        ("/search", {"question": "x" * 5000}, 413, "exceeds this server's limit of 4096 bytes"),
        ("/retrieve", {"queries": "who?"}, 422, "'queries' must be a list of strings, got str"),
        ("/retrieve", {"queries": [DUNE], "topk": True}, 422, "'topk' must be a positive integer"),
        ("/retrieve", {"queries": [DUNE], "topk_rerank": 2}, 400, "send 'topk'"),
        ("/retrieve", {"queries": [""]}, 422, "non-empty string"),
        ("/v1/chat/completions", {"model": "s3"}, 422, "'messages' must be a non-empty list"),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": DUNE}], "n": 2},
            422,
            "'n' must be 1",
        ),
        ("/v1/chat/completions", [1, 2], 422, "must be a JSON object"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x" * 5000}]}, 413, "exceeds"),
        ("/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "pad": "x" * 5000}, 413, "exceeds"),
    ],
)
def test_bad_input_gets_4xx_with_a_message(server, path, body, status, message):
    response = server.post(path, content=body) if isinstance(body, bytes) else server.post(path, body)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


@pytest.mark.parametrize("path", ["/search", "/v1/chat/completions", "/mcp"])
def test_a_chunked_body_past_the_limit_gets_413(server, path):
    chunks = iter([b'{"question": "' + b"x" * 3000, b"x" * 3000 + b'"}'])  # no Content-Length: chunked
    response = server.post(path, content=chunks)
    assert response.status_code == 413
    assert (
        response.json()["detail"]
        == "request body of more than 4096 bytes exceeds this server's limit of 4096 bytes"
    )


def test_every_route_needs_the_token(server):
    import httpx

    for method, path in [("post", "/search"), ("post", "/retrieve"), ("get", "/health"), ("get", "/api/run"),
                         ("post", "/v1/chat/completions"), ("post", "/mcp"), ("get", "/v1/models")]:  # fmt: skip
        response = getattr(httpx, method)(server.url + path, timeout=10)
        assert response.status_code == 401, path
        assert response.json()["detail"] == "missing or wrong bearer token"
    # the page and its static files hold no data: they load without the token, then send it
    page = httpx.get(server.url + "/", timeout=10)
    assert page.status_code == 200 and 'id="question"' in page.text
    script = httpx.get(server.url + "/static/app.js", timeout=10)
    assert script.status_code == 200 and "Authorization" in script.text
    assert httpx.post(server.url + "/", timeout=10).status_code == 401  # only GET is public


def test_serve_without_model_or_run_is_a_one_line_error(capsys):
    from s3.cli import main

    assert main(["serve"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("s3 serve: error:") and "--model" in err and "--run" in err and "\n" not in err


def test_evaluation_run_folder_is_browsed_by_question(tmp_path):
    from evaluation.contexts import ContextMethod, ContextRecord
    from evaluation.run import evaluate
    from generators.offline import ExtractiveReader
    from s3.data import QAExample
    from s3.serve.runs import EvaluationRun

    docs = {d.title: d for d in corpus_docs()}

    class Fixed(ContextMethod):
        def __init__(self, name, titles):
            self.name, self.titles = name, titles

        def contexts(self, examples):
            return [ContextRecord(e.id, e.question, [docs[t] for t in self.titles], searches=1,
                                  trace={"episode": {"blocks": [{"query": "capital"}]}}) for e in examples]  # fmt: skip

    examples = [QAExample(id="q1", question=PARIS, golden_answers=["Paris"], source="toy", split="test"),
                QAExample(id="q2", question="What is the capital of Germany?", golden_answers=["Berlin"], source="toy", split="test")]  # fmt: skip
    evaluate([Fixed("good", ["Paris", "Berlin"]), Fixed("bad/one", ["Danube"])], {"toy": examples},
             ExtractiveReader(), tmp_path / "run", progress=False)  # fmt: skip
    run = EvaluationRun(tmp_path / "run")
    overview = run.overview()
    assert overview["methods"] == ["good", "bad/one"] and overview["datasets"] == ["toy"]
    by_id = {q["id"]: q for q in overview["questions"]}
    assert by_id["q1"]["genacc"] == {"good": 1.0, "bad/one": 0.0}
    detail = run.question("toy", "q1")
    assert detail["methods"]["good"]["prediction"] == "Paris"
    assert [d["title"] for d in detail["methods"]["bad/one"]["docs"]] == ["Danube"]
    assert detail["methods"]["good"]["trace"]["episode"]["blocks"][0]["query"] == "capital"
    with pytest.raises(KeyError, match="no question 'q9'"):
        run.question("toy", "q9")
    with pytest.raises(FileNotFoundError, match="no evaluation run here"):
        EvaluationRun(tmp_path)
    assert json.loads(json.dumps(overview)) == overview


def test_page_only_server_says_what_is_missing(tmp_path):
    from fastapi.testclient import TestClient

    from s3.serve.app import create_app

    with TestClient(create_app(None, generator=None)) as client:
        response = client.post("/search", json={"question": DUNE})
        assert response.status_code == 503 and "without --model" in response.json()["detail"]
        assert client.get("/api/run").json()["detail"].startswith("no evaluation run")
        assert client.get("/health").json()["searcher"] is False
        assert 'id="run-questions"' in client.get("/").text
