"""Serper (Google results as JSON) as a retriever.

Endpoint ``POST https://google.serper.dev/search`` with a JSON body ``{"q", "num", "page", "gl",
"hl"}``; the key goes in the ``X-API-KEY`` header. Results are ``organic`` (``title``, ``link``,
``snippet``, ``position``). Errors are ``{"message", "statusCode"}``, e.g. 403 ``Unauthorized.``
for a bad key.
"""

from __future__ import annotations

from typing import Any

from retrievers.web.base import RequestSpec, WebResult, WebSearchRetriever, clean_snippet


class SerperSearch(WebSearchRetriever):
    """Serper Google search. Key: ``SERPER_API_KEY``.

    Example:
        >>> web = SerperSearch(cache_dir="runs/web_cache")
        >>> web.search(["boiling point of ethanol"], k=5)
    """

    engine = "serper"
    default_base_url = "https://google.serper.dev"
    key_env = ("SERPER_API_KEY",)
    page_size = 10
    max_results = 100

    def _build_request(self, query: str, count: int, offset: int) -> RequestSpec:
        # Serper pages are whole pages of ``num``; pick a page size that divides the offset.
        if offset % count:
            count = next(c for c in range(min(count, offset), 0, -1) if offset % c == 0)
        body = {**self.params, "q": query, "num": count, "page": offset // count + 1}
        return RequestSpec("POST", "/search", json=body, headers={"X-API-KEY": self._api_key})

    def _parse(self, payload: Any) -> list[WebResult]:
        return [
            WebResult(
                title=clean_snippet(r.get("title")),
                snippet=clean_snippet(r.get("snippet")),
                url=r.get("link", ""),
                position=r.get("position"),
            )
            for r in payload.get("organic") or []
        ]

    def _error_detail(self, payload: Any) -> str:
        if isinstance(payload, dict) and "message" in payload:
            return str(payload["message"])
        return super()._error_detail(payload)
