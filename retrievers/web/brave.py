"""Brave Search API (web search) as a retriever.

Endpoint ``GET https://api.search.brave.com/res/v1/web/search`` with ``q``; the key goes in the
``X-Subscription-Token`` header. ``count`` is at most 20 and ``offset`` counts *pages* of ``count``
results (at most 9). Results are ``web.results`` (``title``, ``url``, ``description`` with
``<strong>`` highlights). Errors are ``{"type": "ErrorResponse", "error": {"status", "code",
"detail", "meta"}}``; rate-limited answers are 429 ``RATE_LIMITED`` and the ``X-RateLimit-Reset``
header says when the per-second window reopens.
"""

from __future__ import annotations

from typing import Any

import httpx

from retrievers.retry import parse_retry_after
from retrievers.web.base import RequestSpec, WebResult, WebSearchRetriever, organic_results, whole_page_size


class BraveSearch(WebSearchRetriever):
    """Brave Search API. Key: ``BRAVE_API_KEY`` (or ``BRAVE_SEARCH_API_KEY``).

    Example:
        >>> web = BraveSearch(cache_dir="runs/web_cache", requests_per_second=1)  # free plan: 1 request/s
        >>> web.search(["who painted the night watch"], k=5)
    """

    engine = "brave"
    default_base_url = "https://api.search.brave.com"
    key_env = ("BRAVE_API_KEY", "BRAVE_SEARCH_API_KEY")
    page_size = 20
    max_results = 200  # offset at most 9 pages of 20

    def _build_request(self, query: str, count: int, offset: int) -> RequestSpec:
        count = whole_page_size(count, offset)  # Brave's ``offset`` counts whole pages of ``count``
        params = {**self.params, "q": query, "count": count, "offset": offset // count}
        return RequestSpec(
            "GET", "/res/v1/web/search", params=params, headers={"X-Subscription-Token": self._api_key}
        )

    def _parse(self, payload: Any) -> list[WebResult]:
        return organic_results((payload.get("web") or {}).get("results"), snippet="description", url="url")

    def _error_detail(self, payload: Any) -> str:
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            err = payload["error"]
            return f"{err.get('code', '')}: {err.get('detail', '')}".strip(": ")
        return super()._error_detail(payload)

    def _is_auth_error(self, status: int, payload: Any) -> bool:
        code = payload.get("error", {}).get("code", "") if isinstance(payload, dict) else ""
        return status in (401, 403) or "TOKEN" in str(code) or "SUBSCRIPTION" in str(code)

    def _retry_after(self, response: httpx.Response) -> float | None:
        wait = parse_retry_after(response.headers.get("retry-after"))
        if wait is None and response.headers.get("x-ratelimit-reset"):
            # "1, 1419704": seconds until the per-second window and the monthly quota reset.
            wait = parse_retry_after(response.headers["x-ratelimit-reset"].split(",")[0])
        return wait
