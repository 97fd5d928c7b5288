"""Web search retrievers against a real local HTTP server that answers in each engine's format.

The server (a ``ThreadingHTTPServer`` on 127.0.0.1) serves the documented response shapes recorded
in ``fixtures/web/`` (sources in its README), checks each engine's key where the engine expects it,
answers errors in each engine's envelope, and counts requests server-side. The real endpoints are
never called.
"""

from __future__ import annotations

import email.utils
import json
import logging
import subprocess
import sys
import threading
import time
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from retrievers.web import (
    BraveSearch,
    GoogleSearch,
    SerpApiSearch,
    SerperSearch,
    WebAuthError,
    WebRateLimitError,
    WebSearchError,
    build_web_retriever,
)

FIXTURES = Path(__file__).parent / "fixtures" / "web"
KEYS = {
    "google": "goog-KEY-1234567890abcdef",
    "cse": "test-engine-id",
    "brave": "BSA-brave-KEY-0987654321",
    "serpapi": "serp+api/KEY=abc&123",  # characters that must be URL-encoded
    "serper": "serper-KEY-5555aaaa",
}
REPO = Path(__file__).resolve().parents[2]


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


class EngineServer:
    """Answers like Google CSE, Brave, SerpApi and Serper; counts requests; can be told to fail."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.forced: dict[str, deque] = defaultdict(deque)
        self.verbatim = False
        self.delay = 0.0
        self.total = 30  # results available per query
        self.page_bytes = 50_000
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                server._handle(self, None)

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                server._handle(self, json.loads(self.rfile.read(length) or b"{}"))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def force(self, engine: str, status: int, body, headers: dict | None = None, times: int = 1) -> None:
        for _ in range(times):
            self.forced[engine].append((status, body, headers or {}))

    def count(self, engine: str | None = None) -> int:
        return sum(1 for r in self.requests if engine is None or r["engine"] == engine)

    # --- request handling -----------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler, body: dict | None) -> None:
        parts = urlsplit(h.path)
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        headers = {k.lower(): v for k, v in h.headers.items()}
        engine = {
            "/customsearch/v1": "google",
            "/res/v1/web/search": "brave",
            "/search.json": "serpapi",
            "/search": "serper",
        }.get(parts.path, "page" if parts.path.startswith("/page/") else "unknown")
        with self._lock:
            self.requests.append(
                {
                    "engine": engine,
                    "method": h.command,
                    "path": parts.path,
                    "params": params,
                    "headers": headers,
                    "body": body,
                    "t": time.monotonic(),
                }
            )
            forced = self.forced[engine].popleft() if self.forced[engine] else None
        if self.delay:
            time.sleep(self.delay)
        if engine == "page":
            return self._page(h, parts.path)
        if forced:
            return self._send(h, *forced)
        auth_error = self._check_key(engine, params, headers)
        if auth_error:
            return self._send(h, *auth_error, {})
        query = params.get("q") or (body or {}).get("q", "")
        return self._send(h, 200, self._results(engine, query, params, body or {}), {})

    def _check_key(self, engine, params, headers):
        if engine == "google":
            if headers.get("x-goog-api-key") != KEYS["google"] or params.get("cx") != KEYS["cse"]:
                return 400, fixture("google_error_400_invalid_key.json")
        elif engine == "brave":
            if headers.get("x-subscription-token") != KEYS["brave"]:
                return 422, fixture("brave_error_422_invalid_token.json")
        elif engine == "serpapi":
            if params.get("api_key") != KEYS["serpapi"]:
                return 401, fixture("serpapi_error_401.json")
        elif engine == "serper":
            if headers.get("x-api-key") != KEYS["serper"]:
                return 403, fixture("serper_error_403.json")
        else:
            return 404, {"error": "not found"}
        return None

    def _results(self, engine: str, query: str, params: dict, body: dict) -> dict:
        name = {
            "google": "google_search.json",
            "brave": "brave_search.json",
            "serper": "serper_search.json",
            "serpapi": "serpapi_bing.json" if params.get("engine") == "bing" else "serpapi_google.json",
        }[engine]
        payload = fixture(name)
        if self.verbatim:
            return payload
        # Synthetic results in the fixture's item shape: result i of query q, paged like the engine.
        if engine == "google":
            count, offset = int(params.get("num", 10)), int(params.get("start", 1)) - 1
        elif engine == "brave":
            count = int(params.get("count", 20))
            offset = int(params.get("offset", 0)) * count
        elif engine == "serper":
            count = int(body.get("num", 10))
            offset = (int(body.get("page", 1)) - 1) * count
        elif params.get("engine") == "bing":
            count, offset = int(params.get("count", 10)), int(params.get("first", 1)) - 1
        else:
            count, offset = int(params.get("num", 10)), int(params.get("start", 0))
        items = []
        for i in range(offset, min(offset + count, self.total)):
            title = f"{query} result {i + 1}"
            url = f"{self.url}/page/{quote(query.replace(' ', '-'))}/{i + 1}"
            snippet = f"Snippet <b>{i + 1}</b> about {query}"
            items.append((title, url, snippet, i + 1))
        if engine == "google":
            template = payload["items"][0]
            payload["items"] = [{**template, "title": t, "link": u, "snippet": s} for t, u, s, _ in items]
        elif engine == "brave":
            template = payload["web"]["results"][0]
            payload["web"]["results"] = [
                {**template, "title": t, "url": u, "description": s} for t, u, s, _ in items
            ]
        elif engine == "serper":
            template = payload["organic"][0]
            payload["organic"] = [
                {**template, "title": t, "link": u, "snippet": s, "position": p} for t, u, s, p in items
            ]
        else:
            template = payload["organic_results"][0]
            payload["organic_results"] = [
                {**template, "title": t, "link": u, "snippet": s, "position": p} for t, u, s, p in items
            ]
        return payload

    def _page(self, h: BaseHTTPRequestHandler, path: str) -> None:
        words = " ".join(f"word{i}" for i in range(self.page_bytes // 6))
        page = (
            "<html><head><title>T</title><style>.x{color:red}</style></head><body>"
            "<script>var secret = 'do not index';</script>"
            f"<h1>Page {path}</h1><p>First paragraph &amp; more.</p><p>{words}</p></body></html>"
        ).encode()
        self._send(h, 200, page, {"Content-Type": "text/html; charset=utf-8"})

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body, headers: dict) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        if "Content-Type" not in headers:
            h.send_header("Content-Type", "application/json")
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        try:
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading (size cap)
            pass


@pytest.fixture
def srv():
    srv = EngineServer()
    yield srv
    srv.close()


ENGINES = ["google", "brave", "serpapi-google", "serpapi-bing", "serper"]


def make(name: str, srv: EngineServer, **kwargs):
    """A retriever for engine ``name`` pointed at the local server, no rate limit unless asked."""
    kwargs.setdefault("requests_per_second", 0)
    kwargs.setdefault("backoff", 0.01)
    if name == "google":
        return GoogleSearch(KEYS["google"], cse_id=KEYS["cse"], base_url=srv.url, **kwargs)
    if name == "brave":
        return BraveSearch(KEYS["brave"], base_url=srv.url, **kwargs)
    if name.startswith("serpapi"):
        return SerpApiSearch(KEYS["serpapi"], engine=name.split("-")[1], base_url=srv.url, **kwargs)
    return SerperSearch(KEYS["serper"], base_url=srv.url, **kwargs)


def all_keys() -> list[str]:
    return [KEYS["google"], KEYS["brave"], KEYS["serpapi"], KEYS["serper"], quote(KEYS["serpapi"], safe="")]


# --- mapping and request format ------------------------------------------------------------------
@pytest.mark.parametrize("name", ENGINES)
def test_documented_response_maps_to_docs(srv, name):
    srv.verbatim = True
    with make(name, srv) as web:
        docs = web.search(["coffee"], k=5)[0]
    if name == "google":
        items = [
            (i["title"].replace("&amp;", "&"), i["link"], i["snippet"])
            for i in fixture("google_search.json")["items"]
        ]
    elif name == "brave":
        items = [
            (r["title"], r["url"], r["description"]) for r in fixture("brave_search.json")["web"]["results"]
        ]
        items = [
            (t, u, s.replace("<strong>", "").replace("</strong>", "").replace("&amp;", "&"))
            for t, u, s in items
        ]
    elif name == "serper":
        items = [(r["title"], r["link"], r["snippet"]) for r in fixture("serper_search.json")["organic"]]
    else:
        data = fixture("serpapi_bing.json" if name.endswith("bing") else "serpapi_google.json")
        items = [(r["title"], r["link"], r["snippet"]) for r in data["organic_results"]]
    assert [(d.title, d.meta["url"], d.text) for d in docs] == items
    assert [d.id for d in docs] == [u for _, u, _ in items]
    assert [d.meta["rank"] for d in docs] == list(range(1, len(items) + 1))
    assert {d.meta["engine"] for d in docs} == {web.engine_name}
    assert all("<" not in d.text for d in docs)

    req = srv.requests[-1]
    if name == "google":
        assert (req["method"], req["path"]) == ("GET", "/customsearch/v1")
        assert req["params"]["q"] == "coffee" and req["params"]["cx"] == KEYS["cse"]
        assert "key" not in req["params"]  # the key travels in a header, never in the URL
    elif name == "brave":
        assert (req["method"], req["path"], req["params"]["q"]) == ("GET", "/res/v1/web/search", "coffee")
    elif name == "serper":
        assert (req["method"], req["path"], req["body"]["q"]) == ("POST", "/search", "coffee")
    else:
        assert (req["method"], req["path"]) == ("GET", "/search.json")
        assert req["params"]["engine"] == name.split("-")[1] and req["params"]["q"] == "coffee"


def test_spec_builder_and_env_keys(srv, monkeypatch):
    monkeypatch.setenv("BRAVE_API_KEY", KEYS["brave"])
    web = build_web_retriever({"kind": "brave", "base_url": srv.url, "requests_per_second": 0})
    assert [d.title for d in web.search(["tea"], k=2)[0]] == ["tea result 1", "tea result 2"]
    web.close()
    monkeypatch.delenv("SERPER_API_KEY", raising=False)
    with pytest.raises(WebAuthError, match="SERPER_API_KEY"):
        SerperSearch(base_url=srv.url)
    with pytest.raises(ValueError, match="expected one of"):
        build_web_retriever({"kind": "altavista"})
    with pytest.raises(ValueError, match="bad option"):
        build_web_retriever({"kind": "brave", "api_key": "x", "colour": "red"})


def test_whole_page_size_divides_the_offset():
    from retrievers.web.base import whole_page_size

    assert whole_page_size(20, 0) == 20 and whole_page_size(5, 20) == 5  # already a whole page
    assert whole_page_size(10, 25) == 5 and whole_page_size(10, 7) == 7 and whole_page_size(4, 7) == 1
    assert all(25 % whole_page_size(c, 25) == 0 for c in range(1, 30))


def test_pagination_google_and_brave(srv):
    with make("google", srv) as web:
        docs = web.search(["rivers"], k=15)[0]
    assert [d.meta["rank"] for d in docs] == list(range(1, 16))
    assert [d.title for d in docs] == [f"rivers result {i}" for i in range(1, 16)]
    pages = [(r["params"]["start"], r["params"]["num"]) for r in srv.requests if r["engine"] == "google"]
    assert pages == [("1", "10"), ("11", "5")]

    with make("brave", srv) as web:
        docs = web.search(["lakes"], k=25)[0]
    assert [d.title for d in docs] == [f"lakes result {i}" for i in range(1, 26)]
    pages = [(r["params"]["count"], r["params"]["offset"]) for r in srv.requests if r["engine"] == "brave"]
    assert pages == [("20", "0"), ("5", "4")]

    srv.total = 3  # the engine has fewer results than asked: stop paging
    with make("serper", srv) as web:
        assert len(web.search(["hills"], k=30)[0]) == 3
    assert srv.count("serper") == 1


def test_serpapi_empty_search_and_failed_search(srv):
    with make("serpapi-google", srv) as web:
        srv.force("serpapi", 200, fixture("serpapi_no_results.json"))
        assert web.search(["zzqxj nonexistent phrase"], k=5) == [[]]
        srv.force("serpapi", 200, {"search_metadata": {"status": "Error"}, "error": "Unsupported parameter."})
        with pytest.raises(WebSearchError, match="Unsupported parameter"):
            web.search(["another"], k=5)


# --- cache ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ENGINES)
def test_cache_makes_repeats_free_survives_restart_and_never_stores_the_key(srv, tmp_path, name):
    cache = tmp_path / "cache"
    with make(name, srv, cache_dir=cache) as web:
        first = web.search(["alpha", "beta", "alpha"], k=4)
        assert srv.count() == 2  # duplicate queries in one batch are searched once
        again = web.search(["alpha", "beta"], k=4)
        assert srv.count() == 2  # repeated queries are free
        assert again == first[:2]
        web.search(["alpha"], k=3)  # different parameters: a new search
        assert srv.count() == 3
    with make(name, srv, cache_dir=cache) as restarted:  # a new object reads the same cache
        assert restarted.search(["beta"], k=4) == [first[1]]
    assert srv.count() == 3

    files = [p for p in cache.rglob("*") if p.is_file()]
    assert files
    for path in files:
        blob = path.read_bytes()
        for key in all_keys():
            assert key.encode() not in blob and key not in str(path)
    assert [d.meta["url"] for d in first[0]] == [f"{srv.url}/page/alpha/{i}" for i in range(1, 5)]


def test_cache_survives_a_new_process(srv, tmp_path):
    cache = tmp_path / "cache"
    with make("serper", srv, cache_dir=cache) as web:
        expected = [d.to_dict() for d in web.search(["gamma"], k=3)[0]]
    assert srv.count() == 1
    code = (
        "import json, sys\n"
        "from retrievers.web import SerperSearch\n"
        f"web = SerperSearch({KEYS['serper']!r}, base_url={srv.url!r}, cache_dir={str(cache)!r})\n"
        "print(json.dumps([d.to_dict() for d in web.search(['gamma'], k=3)[0]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == expected
    assert srv.count() == 1  # the second process never reached the srv


# --- errors, retries, rate limits ----------------------------------------------------------------
@pytest.mark.parametrize(
    "name, status, message",
    [
        ("google", 400, "API key not valid"),
        ("brave", 422, "SUBSCRIPTION_TOKEN_INVALID"),
        ("serpapi-google", 401, "Invalid API key"),
        ("serper", 403, "Unauthorized"),
    ],
)
def test_bad_key_is_a_clear_error_without_retries(srv, name, status, message):
    web = make(name, srv)
    web._api_key = "wrong-key"
    with pytest.raises(WebAuthError, match=message) as info:
        web.search(["q"], k=3)
    assert info.value.status == status
    assert "_KEY" in str(info.value)  # names the environment variable to check
    assert srv.count() == 1
    web.close()


def test_google_daily_limit_is_not_retried(srv):
    srv.force("google", 403, fixture("google_error_403_daily_limit.json"))
    with make("google", srv) as web, pytest.raises(WebAuthError, match="dailyLimitExceeded"):
        web.search(["q"], k=3)
    assert srv.count() == 1


@pytest.mark.parametrize(
    "name, body",
    [
        ("google", "google_error_429.json"),
        ("brave", "brave_error_429.json"),
        ("serpapi-bing", "serpapi_error_429.json"),
        ("serper", None),
    ],
)
def test_429_waits_for_retry_after_then_succeeds(srv, name, body):
    engine = name.split("-")[0]
    payload = fixture(body) if body else {"message": "Too many requests.", "statusCode": 429}
    srv.force(engine, 429, payload, {"Retry-After": "7"})
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    srv.force(engine, 429, payload, {"Retry-After": date})
    web = make(name, srv, max_wait=100)
    slept: list[float] = []
    web._sleep = slept.append
    docs = web.search(["delta"], k=2)[0]
    assert [d.title for d in docs] == ["delta result 1", "delta result 2"]
    assert srv.count() == 3
    assert slept[0] == 7.0
    assert 25 <= slept[1] <= 30  # an HTTP-date Retry-After is honoured too
    web.close()


def test_brave_rate_limit_reset_header_and_giving_up(srv):
    srv.force("brave", 429, fixture("brave_error_429.json"), {"X-RateLimit-Reset": "1, 1419704"}, times=3)
    web = make("brave", srv, max_retries=2)
    slept: list[float] = []
    web._sleep = slept.append
    with pytest.raises(WebRateLimitError, match="RATE_LIMITED"):
        web.search(["q"], k=2)
    assert srv.count() == 3 and slept == [1.0, 1.0]
    web.close()


def test_server_errors_back_off_exponentially(srv):
    srv.force("serper", 503, {"message": "Service Unavailable", "statusCode": 503}, times=2)
    web = make("serper", srv, backoff=0.5)
    slept: list[float] = []
    web._sleep = slept.append
    assert len(web.search(["eps"], k=2)[0]) == 2
    assert slept == [0.5, 1.0] and srv.count() == 3
    web.close()


def test_timeouts_are_retried_then_reported(srv):
    srv.delay = 1.0
    web = make("serper", srv, timeout=0.2, max_retries=1)
    with pytest.raises(WebSearchError, match="gave up after 2 attempts.*timed out"):
        web.search(["slow"], k=2)
    assert srv.count() == 2
    web.close()


def test_rate_limiter_spaces_requests(srv):
    web = make("brave", srv, requests_per_second=10, concurrency=4)
    web.search(["a", "b", "c", "d"], k=1)
    times = sorted(r["t"] for r in srv.requests)
    assert len(times) == 4
    assert all(b - a >= 0.08 for a, b in zip(times, times[1:]))  # 0.1 s apart, small clock slack
    web.close()


def test_keys_never_logged(srv, caplog):
    caplog.set_level(logging.DEBUG)
    # other tests (the CLI's setup_logging) may have quieted httpx; this test needs its request lines
    caplog.set_level(logging.DEBUG, logger="httpx")
    web = make("serpapi-google", srv)  # SerpApi carries its key in the URL
    slept: list[float] = []
    web._sleep = slept.append
    srv.force("serpapi", 429, fixture("serpapi_error_429.json"), {"Retry-After": "1"})
    web.search(["logged query"], k=2)
    web._api_key = KEYS["serpapi"] + "-revoked"
    with pytest.raises(WebAuthError) as info:
        web.search(["other query"], k=2)
    web.close()
    for name in ("google", "brave", "serper"):
        with make(name, srv) as other:
            other.search(["x"], k=1)
    assert any(r.name.startswith("httpx") for r in caplog.records)  # httpx did log the requests
    assert any("retry" in r.getMessage() for r in caplog.records)
    text = caplog.text + "".join(r.getMessage() for r in caplog.records) + str(info.value) + repr(web)
    for key in all_keys():
        assert key not in text


# --- page text -----------------------------------------------------------------------------------
def test_fetch_pages_caps_size_and_is_cached(srv, tmp_path):
    web = make("google", srv, fetch_pages=True, page_max_bytes=4000, page_max_chars=1500, cache_dir=tmp_path)
    docs = web.search(["zeta"], k=2)[0]
    pages = [r for r in srv.requests if r["engine"] == "page"]
    assert len(pages) == 2
    for i, doc in enumerate(docs, start=1):
        assert doc.text.startswith(f"Page /page/zeta/{i}\nFirst paragraph & more.\nword0 word1")
        assert "do not index" not in doc.text and "color:red" not in doc.text and "<" not in doc.text
        assert len(doc.text) <= 1500
        assert doc.meta["snippet"] == f"Snippet {i} about zeta"
    # the page body was cut at 4000 bytes: the last word kept is far below the page's last word
    last_word = int(docs[0].text.split()[-1].removeprefix("word") or 0)
    assert last_word < 4000 // 6
    web.search(["zeta"], k=2)
    assert len([r for r in srv.requests if r["engine"] == "page"]) == 2  # pages came from the cache
    web.close()


@pytest.mark.slow
def test_web_engine_served_behind_retrieve(srv, tmp_path):
    """A web engine configured by spec, served by the real /retrieve server, cached on disk."""
    import httpx
    from test_rerank import start_retriever_server

    spec = {
        "kind": "serper",
        "base_url": srv.url,
        "requests_per_second": 0,
        "cache_dir": str(tmp_path / "cache"),
    }
    server = start_retriever_server(spec, tmp_path / "srv.log", env={"SERPER_API_KEY": KEYS["serper"]})
    url = server.url
    try:
        body = {"queries": ["omega", "omega"], "topk": 3, "return_scores": True}
        first = httpx.post(url + "/retrieve", json=body, timeout=30).json()["result"]
        second = httpx.post(url + "/retrieve", json=body, timeout=30).json()["result"]
    finally:
        server.stop()
    assert first == second
    assert [r["document"]["title"] for r in first[0]] == [
        "omega result 1",
        "omega result 2",
        "omega result 3",
    ]
    assert first[0][0]["document"]["contents"] == '"omega result 1"\nSnippet 1 about omega'
    assert first[0][0]["document"]["url"] == f"{srv.url}/page/omega/1"
    assert srv.count("serper") == 1  # one search for both queries and both requests
    assert KEYS["serper"] not in (tmp_path / "srv.log").read_text()
