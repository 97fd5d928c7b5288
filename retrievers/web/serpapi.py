"""SerpApi (Google and Bing result pages as JSON) as a retriever.

Endpoint ``GET https://serpapi.com/search.json`` with ``engine`` (``google`` or ``bing``), ``q`` and
``api_key`` (SerpApi takes the key only as a URL parameter, so this package masks it in every log
line). Paging: Google uses ``start`` (0-based offset) and ``num``; Bing uses ``first`` (1-based) and
``count`` (at most 50). Results are ``organic_results`` (``position``, ``title``, ``link``,
``snippet``). Errors are ``{"error": "message"}`` with 400/401/403/429 (429: hourly throughput
exceeded or searches used up). A 200 answer whose search found nothing also carries ``error``; that
is an empty result, not a failure. Bing's own web search API closed in August 2025; this is the
supported way to search Bing here.
"""

from __future__ import annotations

from typing import Any

from retrievers.web.base import RequestSpec, WebResult, WebSearchError, WebSearchRetriever, organic_results

ENGINES = ("google", "bing")


class SerpApiSearch(WebSearchRetriever):
    """SerpApi with ``engine="google"`` or ``engine="bing"``. Key: ``SERPAPI_API_KEY``.

    Example:
        >>> web = SerpApiSearch(engine="bing", cache_dir="runs/web_cache")
        >>> web.search(["tallest building in europe"], k=5)
    """

    engine = "serpapi"
    default_base_url = "https://serpapi.com"
    key_env = ("SERPAPI_API_KEY",)
    page_size = 10
    max_results = 100

    def __init__(self, api_key: str | None = None, *, engine: str = "google", **kwargs: Any):
        if engine not in ENGINES:
            raise ValueError(f"serpapi: engine must be one of {ENGINES}, got {engine!r}")
        self.serp_engine = engine
        if engine == "bing":
            self.page_size = 50
        super().__init__(api_key, **kwargs)

    @property
    def engine_name(self) -> str:
        return f"serpapi-{self.serp_engine}"

    def _build_request(self, query: str, count: int, offset: int) -> RequestSpec:
        if self.serp_engine == "bing":
            paging = {"count": count, "first": offset + 1}
        else:
            paging = {"num": count, "start": offset}
        params = {**self.params, "engine": self.serp_engine, "q": query, **paging, "api_key": self._api_key}
        return RequestSpec("GET", "/search.json", params=params)

    def _parse(self, payload: Any) -> list[WebResult]:
        if "organic_results" not in payload and payload.get("error"):
            status = (payload.get("search_metadata") or {}).get("status")
            if status == "Success":  # the engine found nothing for this query
                return []
            raise WebSearchError(f"{self.engine_name}: {payload['error']}", engine=self.engine_name)
        return organic_results(payload.get("organic_results"), position="position")

    def _error_detail(self, payload: Any) -> str:
        if isinstance(payload, dict) and payload.get("error"):
            return str(payload["error"])
        return super()._error_detail(payload)
