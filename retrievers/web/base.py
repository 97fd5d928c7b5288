"""Shared machinery of the web search retrievers: HTTP, rate limiting, retries, caching, page text.

Each engine module (Google Programmable Search, Brave, SerpAPI, Serper) only says how to build one
request and how to read its response; everything else lives here:

- a per-retriever rate limiter (minimum interval between requests, shared by worker threads);
- bounded retries with exponential backoff on timeouts, connection errors, 429 and 5xx, honouring
  the server's ``Retry-After`` (seconds or HTTP date), and a clear final error (:mod:`retrievers.retry`);
- an on-disk cache keyed by (engine, query, parameters) so a repeated query costs nothing;
- optional fetching of each result page's text with a size cap.

API keys come from environment variables (or the constructor), travel only in the request, and are
never logged or cached: the ``httpx`` loggers get a filter that masks every key this module knows.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from abc import abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote, quote_plus

import httpx

from retrievers.base import Retriever
from retrievers.doc import Doc
from retrievers.retry import RetriesExhausted, Retryable, RetryPolicy, parse_retry_after
from retrievers.web.cache import SearchCache
from retrievers.web.pages import fetch_page_text, strip_tags

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Secrets never reach the logs: every key is registered here and masked in httpx's log records
# (httpx logs full request URLs at INFO, and SerpAPI takes its key as a URL parameter).
_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
MASK = "***"


def register_secret(secret: str) -> None:
    """Mask ``secret`` (and its URL-encoded forms) in every log record of httpx and this package."""
    if not secret:
        return
    with _SECRETS_LOCK:
        _SECRETS.update({secret, quote(secret, safe=""), quote_plus(secret)})


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, MASK)
    return text


class _RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            try:
                message = record.getMessage()
            except Exception:  # a malformed record is not ours to fix
                return True
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


for _name in ("httpx", "httpcore", __name__.rsplit(".", 1)[0]):
    logging.getLogger(_name).addFilter(_RedactSecrets())


# ---------------------------------------------------------------------------------------------
class WebSearchError(RuntimeError):
    """A web search failed for good (after retries, or for a reason retrying cannot fix)."""

    def __init__(self, message: str, *, engine: str = "", status: int | None = None):
        super().__init__(redact(message))
        self.engine = engine
        self.status = status


class WebAuthError(WebSearchError):
    """The engine rejected the credentials (missing, invalid or out of quota key)."""


class WebRateLimitError(WebSearchError):
    """The engine kept answering 429 (rate limited) after every retry."""


@dataclass
class WebResult:
    """One organic result as the engine returned it."""

    title: str
    snippet: str
    url: str
    position: int | None = None


@dataclass
class RequestSpec:
    """What an engine module asks the base to send."""

    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None


class RateLimiter:
    """At most ``requests_per_second`` request starts per second, across threads (``<= 0``: no limit)."""

    def __init__(self, requests_per_second: float):
        self.interval = 1.0 / requests_per_second if requests_per_second > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


def env_key(names: tuple[str, ...]) -> str | None:
    """The first non-empty environment variable among ``names``."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


# ---------------------------------------------------------------------------------------------
class WebSearchRetriever(Retriever):
    """Base of the web search retrievers; subclasses implement ``_build_request`` and ``_parse``.

    Args:
        api_key: the engine's key; default: the engine's environment variable (see ``key_env``).
        base_url: endpoint root; the engine's real endpoint by default (tests point it at 127.0.0.1).
        cache_dir: directory of the on-disk result cache (``None``: no cache).
        cache_ttl_s: ignore cache entries older than this (``None``: forever).
        requests_per_second: client-side rate limit for this retriever (``0``: none).
        timeout: seconds for connecting and for each read.
        max_retries: retries after the first attempt on timeouts, connection errors, 429 and 5xx.
        backoff: first backoff in seconds, doubled per retry when the server gives no ``Retry-After``.
        max_wait: cap on any single wait between attempts, in seconds.
        concurrency: queries of one batch searched in parallel threads.
        fetch_pages: replace each result's snippet with the text of its page (snippet kept in meta).
        page_max_bytes: read at most this many bytes of a page.
        page_max_chars: keep at most this many characters of a page's text.
        params: extra engine parameters sent with every request (country, language, ...).

    Results become ``Doc(id=url, title, text=snippet, meta={"url", "engine", "rank"})``, best first.
    """

    engine: ClassVar[str]
    default_base_url: ClassVar[str]
    key_env: ClassVar[tuple[str, ...]]
    page_size: ClassVar[int] = 10  # most results one request can return
    max_results: ClassVar[int] = 100  # most results the engine serves for one query

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        cache_ttl_s: float | None = None,
        requests_per_second: float = 1.0,
        timeout: float = 15.0,
        max_retries: int = 3,
        backoff: float = 1.0,
        max_wait: float = 60.0,
        concurrency: int = 4,
        fetch_pages: bool = False,
        page_max_bytes: int = 500_000,
        page_max_chars: int = 4000,
        params: dict[str, Any] | None = None,
    ):
        key = api_key or env_key(self.key_env)
        if not key:
            raise WebAuthError(
                f"{self.engine}: no API key; set {' or '.join(self.key_env)} or pass api_key=",
                engine=self.engine,
            )
        register_secret(key)
        self._api_key = key
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.cache = SearchCache(cache_dir, ttl_s=cache_ttl_s) if cache_dir else None
        self.limiter = RateLimiter(requests_per_second)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.concurrency = max(1, concurrency)
        self.fetch_pages = fetch_pages
        self.page_max_bytes = page_max_bytes
        self.page_max_chars = page_max_chars
        self.params = dict(params or {})
        self._client = httpx.Client(timeout=httpx.Timeout(timeout), headers={"Accept": "application/json"})
        self._sleep = time.sleep  # replaced in tests to observe waits without waiting

    # --- what engines implement -------------------------------------------------------------
    @property
    def engine_name(self) -> str:
        """Name recorded in ``Doc.meta['engine']`` and in cache keys."""
        return self.engine

    @abstractmethod
    def _build_request(self, query: str, count: int, offset: int) -> RequestSpec:
        """The request for ``count`` results starting at 0-based result ``offset``."""

    @abstractmethod
    def _parse(self, payload: Any) -> list[WebResult]:
        """Organic results of a successful response, in rank order."""

    def _error_detail(self, payload: Any) -> str:
        """Human-readable message of an error response."""
        return str(payload)[:300]

    def _is_auth_error(self, status: int, payload: Any) -> bool:
        return status in (401, 403)

    def _retry_after(self, response: httpx.Response) -> float | None:
        return parse_retry_after(response.headers.get("retry-after"))

    def _cache_params(self, k: int) -> dict[str, Any]:
        """The non-secret parameters that change the results (part of the cache key)."""
        return {"k": k, "params": self.params, "pages": self._page_cache_tag()}

    def _page_cache_tag(self) -> Any:
        return [self.page_max_bytes, self.page_max_chars] if self.fetch_pages else None

    # --- the Retriever contract -------------------------------------------------------------
    def search(self, queries: list[str], k: int) -> list[list[Doc]]:
        """Search each query on the web and return up to ``k`` Docs per query, best first.

        Example:
            >>> web = BraveSearch(cache_dir="runs/web_cache")          # key from BRAVE_API_KEY
            >>> docs = web.search(["who wrote the iliad"], k=5)[0]
            >>> docs[0].meta["url"], docs[0].title
        """
        if k <= 0:
            return [[] for _ in queries]
        k = min(k, self.max_results)
        unique = list(dict.fromkeys(queries))
        if len(unique) == 1 or self.concurrency == 1:
            found = {q: self._search_query(q, k) for q in unique}
        else:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(unique))) as pool:
                found = dict(zip(unique, pool.map(lambda q: self._search_query(q, k), unique)))
        return [list(found[q]) for q in queries]

    def close(self) -> None:
        self._client.close()
        if self.cache is not None:
            self.cache.close()

    def __repr__(self) -> str:  # never shows the key
        return f"{type(self).__name__}(engine={self.engine_name!r}, base_url={self.base_url!r})"

    # --- internals ---------------------------------------------------------------------------
    def _search_query(self, query: str, k: int) -> list[Doc]:
        cache_params = self._cache_params(k)
        records = self.cache.get(self.engine_name, query, cache_params) if self.cache is not None else None
        if records is None:
            results = self._fetch_results(query, k)
            records = [
                {"title": r.title, "snippet": r.snippet, "url": r.url, "rank": rank}
                for rank, r in enumerate(results, start=1)
            ]
            if self.fetch_pages:
                for record in records:
                    record["page_text"] = self._page_text(record["url"])
            if self.cache is not None:
                self.cache.put(self.engine_name, query, cache_params, records)
        else:
            logger.debug("%s: cache hit for a query (%d results)", self.engine_name, len(records))
        return [self._to_doc(r) for r in records]

    def _to_doc(self, record: dict[str, Any]) -> Doc:
        url = record["url"]
        doc_id = url or hashlib.sha1(f"{record['title']}\n{record['snippet']}".encode()).hexdigest()
        meta = {"url": url, "engine": self.engine_name, "rank": record["rank"]}
        text = record["snippet"]
        if record.get("page_text"):
            meta["snippet"], text = text, record["page_text"]
        return Doc(id=doc_id, title=record["title"], text=text, meta=meta)

    def _fetch_results(self, query: str, k: int) -> list[WebResult]:
        results: list[WebResult] = []
        seen: set[str] = set()
        while len(results) < k:
            count = min(self.page_size, k - len(results))
            page = self._parse(self._request_json(self._build_request(query, count, len(results))))
            fresh = [r for r in page if r.url not in seen]
            for r in fresh:
                seen.add(r.url)
            results.extend(fresh)
            if len(page) < count or not fresh:  # the engine has no more results
                break
        return results[:k]

    def _page_text(self, url: str) -> str | None:
        if not url.startswith(("http://", "https://")):
            return None
        return fetch_page_text(
            self._client,
            url,
            max_bytes=self.page_max_bytes,
            max_chars=self.page_max_chars,
            timeout=self.timeout,
        )

    def _request_json(self, spec: RequestSpec) -> Any:
        url = f"{self.base_url}{spec.path}"

        def attempt(n: int) -> Any:
            self.limiter.wait()
            try:
                response = self._client.request(
                    spec.method, url, params=spec.params or None, headers=spec.headers, json=spec.json
                )
            except httpx.TimeoutException as err:
                raise Retryable(f"timed out after {self.timeout}s ({type(err).__name__})") from None
            except httpx.TransportError as err:
                raise Retryable(f"connection failed ({type(err).__name__}: {redact(str(err))})") from None
            status = response.status_code
            payload = _json_or_text(response)
            if status == 200:
                if isinstance(payload, str):
                    raise WebSearchError(
                        f"{self.engine_name}: HTTP 200 but the body is not JSON: {payload[:200]!r}",
                        engine=self.engine_name,
                        status=status,
                    )
                return payload
            detail = self._error_detail(payload)
            if status == 429 or status == 408 or status >= 500:
                raise Retryable(f"HTTP {status}: {detail}", self._retry_after(response), status=status)
            if self._is_auth_error(status, payload):
                raise WebAuthError(
                    f"{self.engine_name}: HTTP {status}: {detail} (check {' / '.join(self.key_env)})",
                    engine=self.engine_name,
                    status=status,
                )
            raise WebSearchError(
                f"{self.engine_name}: HTTP {status}: {detail}", engine=self.engine_name, status=status
            )

        def on_retry(retry: int, problem: Retryable, delay: float) -> None:
            logger.warning(
                "%s: %s; retry %d/%d in %.1fs", self.engine_name, problem, retry, self.max_retries, delay
            )

        policy = RetryPolicy(self.max_retries, self.backoff, max_wait=self.max_wait)
        try:
            return policy.call(attempt, sleep=self._sleep, on_retry=on_retry)
        except RetriesExhausted as exc:
            status = exc.last.status
            if status is None:
                raise WebSearchError(
                    f"{self.engine_name}: gave up after {exc.attempts} attempts; last problem: {exc.last}",
                    engine=self.engine_name,
                ) from None
            cls = WebRateLimitError if status == 429 else WebSearchError
            raise cls(
                f"{self.engine_name}: gave up after {exc.attempts} attempts; last answer {exc.last}",
                engine=self.engine_name,
                status=status,
            ) from None


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def clean_snippet(text: Any) -> str:
    """Snippet text without HTML highlights or entities (engines mark query terms with tags)."""
    return strip_tags(str(text or ""))


def organic_results(
    items: Any, *, snippet: str = "snippet", url: str = "link", position: str | None = None
) -> list[WebResult]:
    """:class:`WebResult` of each result object of an engine's list (``None``: no results), read from
    its ``title`` and the fields named ``snippet``, ``url`` and (if given) ``position``."""
    return [
        WebResult(
            title=clean_snippet(r.get("title")),
            snippet=clean_snippet(r.get(snippet)),
            url=r.get(url, ""),
            position=r.get(position) if position else None,
        )
        for r in items or []
    ]


def whole_page_size(count: int, offset: int) -> int:
    """The largest page size up to ``count`` that divides ``offset``, for engines that page by whole
    pages (the request asks for page ``offset // size``) instead of taking a result offset."""
    if offset % count:
        return next(c for c in range(min(count, offset), 0, -1) if offset % c == 0)
    return count
