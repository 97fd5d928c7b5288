"""``HTTPRetriever``: a ``Retriever`` that calls any Search-R1/s3-compatible ``POST /retrieve`` server.

Pooled connections (httpx), a timeout on every call, bounded retries with exponential backoff
(:mod:`retrievers.retry`) on connection errors, timeouts, 429 and 5xx answers, honouring the server's
``Retry-After``, and a clear :class:`RetrieverUnavailable` when the
server cannot be reached. 4xx answers are not retried: they raise :class:`RetrieverRequestError`
carrying the server's message.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from retrievers.base import Retriever
from retrievers.doc import Doc
from retrievers.retry import RetriesExhausted, Retryable, RetryPolicy, retry_after_header

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
#: the longest wait between attempts, a server's ``Retry-After`` included (seconds)
MAX_WAIT = 60.0


class RetrieverUnavailable(RuntimeError):
    """The retrieval server could not be reached (or kept failing) after all retries."""


class RetrieverRequestError(ValueError):
    """The retrieval server rejected the request (4xx); the message is the server's."""


def _endpoint(url: str) -> tuple[str, str]:
    url = url.rstrip("/")
    if url.endswith("/retrieve"):
        return url, url[: -len("/retrieve")]
    return url + "/retrieve", url


def parse_results(payload: Any) -> list[list[Doc]]:
    """Turn a ``{"result": [[{"document", "score"} | doc, ...], ...]}`` answer into ``Doc`` lists."""
    if not isinstance(payload, dict) or not isinstance(payload.get("result"), list):
        raise RetrieverRequestError("server answer has no 'result' list")
    out = []
    for hits in payload["result"]:
        docs = []
        for item in hits:
            if isinstance(item, dict) and isinstance(item.get("document"), dict):
                docs.append(Doc.from_dict(item["document"], score=item.get("score")))
            else:
                docs.append(Doc.from_dict(item))
        out.append(docs)
    return out


class HTTPRetriever(Retriever):
    """Search through a remote ``/retrieve`` server.

    Args:
        url: ``http://host:port`` or the full ``http://host:port/retrieve``.
        timeout: seconds for each HTTP call.
        max_retries: extra attempts after the first on retryable failures.
        token: bearer token, if the server needs one.
        backoff: first retry delay in seconds (doubles each time, with jitter; a ``Retry-After``
            answer sets the delay instead, up to 60 s).
        max_batch: queries per request; larger batches are split.

    Example:
        >>> with HTTPRetriever("http://127.0.0.1:3000") as r:  # doctest: +SKIP
        ...     docs = r.search(["capital of france"], k=3)[0]
    """

    def __init__(
        self,
        url: str,
        timeout: float = 30.0,
        max_retries: int = 3,
        token: str | None = None,
        backoff: float = 0.5,
        max_batch: int = 256,
    ):
        self.url, self.base_url = _endpoint(url)
        self.timeout = timeout
        self.max_retries = max(0, int(max_retries))
        self.backoff = backoff
        self.max_batch = max(1, int(max_batch))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        self._client = httpx.Client(timeout=timeout, headers=headers, limits=limits)

    def _post(self, url: str, payload: dict[str, Any]) -> Any:
        def attempt(n: int) -> Any:
            try:
                response = self._client.post(url, json=payload)
            except httpx.TransportError as exc:  # connection refused, timeout, reset
                raise Retryable(str(exc) or type(exc).__name__, cause=exc) from None
            if response.status_code in RETRYABLE_STATUS:
                raise Retryable(
                    f"HTTP {response.status_code}: {response.text[:200]}",
                    retry_after_header(response.headers),
                    status=response.status_code,
                )
            if response.status_code >= 400:
                try:
                    detail = response.json().get("detail", response.text)
                except ValueError:
                    detail = response.text
                raise RetrieverRequestError(f"{url} answered HTTP {response.status_code}: {detail}")
            return response.json()

        def on_retry(retry: int, problem: Retryable, delay: float) -> None:
            log.warning(
                "retrieval request failed (%s); retry %d/%d in %.1fs", problem, retry, self.max_retries, delay
            )

        policy = RetryPolicy(self.max_retries, self.backoff, max_wait=MAX_WAIT, jitter=0.25)
        try:
            return policy.call(attempt, on_retry=on_retry)
        except RetriesExhausted as exc:
            raise RetrieverUnavailable(
                f"retrieval server {url} unavailable after {exc.attempts} attempts: {exc.last}. "
                "Is it running? Start one with `s3 serve-retriever --index DIR`."
            ) from None

    def search(self, queries: list[str], k: int) -> list[list[Doc]]:
        """POST the queries (in batches of ``max_batch``) and return one ``Doc`` list per query."""
        if isinstance(queries, str):
            raise TypeError("queries must be a list of strings")
        results: list[list[Doc]] = []
        for start in range(0, len(queries), self.max_batch):
            batch = list(queries[start : start + self.max_batch])
            payload = self._post(self.url, {"queries": batch, "topk": k, "return_scores": True})
            docs = parse_results(payload)
            if len(docs) != len(batch):
                raise RetrieverRequestError(
                    f"server returned {len(docs)} result lists for {len(batch)} queries"
                )
            results.extend(docs)
        return results

    def search_rerank(self, queries: list[str], n: int, k: int) -> list[list[Doc]]:
        """Ask the server to retrieve ``n`` candidates per query and rerank them down to ``k``."""
        payload = {"queries": list(queries), "topk_retrieval": n, "topk_rerank": k, "return_scores": True}
        return parse_results(self._post(self.url, payload))

    def health(self) -> dict[str, Any]:
        """The server's ``GET /health`` answer (raises :class:`RetrieverUnavailable` if unreachable)."""
        try:
            response = self._client.get(self.base_url + "/health")
            response.raise_for_status()
            return response.json()
        except httpx.HTTPError as exc:
            raise RetrieverUnavailable(
                f"retrieval server {self.base_url} health check failed: {exc}"
            ) from exc

    def close(self) -> None:
        self._client.close()
