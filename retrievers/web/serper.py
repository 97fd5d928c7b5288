"""Serper (Google results as JSON) as a retriever.

Endpoint ``POST https://google.serper.dev/search`` with a JSON body ``{"q", "num", "page", "gl",
"hl"}``; the key goes in the ``X-API-KEY`` header. Results are ``organic`` (``title``, ``link``,
``snippet``, ``position``). Errors are ``{"message", "statusCode"}``, e.g. 403 ``Unauthorized.``
for a bad key.
"""

from __future__ import annotations

from typing import Any

from retrievers.web.base import RequestSpec, WebResult, WebSearchRetriever, organic_results, whole_page_size


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
        count = whole_page_size(count, offset)  # Serper pages are whole pages of ``num``
        body = {**self.params, "q": query, "num": count, "page": offset // count + 1}
        return RequestSpec("POST", "/search", json=body, headers={"X-API-KEY": self._api_key})

    def _parse(self, payload: Any) -> list[WebResult]:
        return organic_results(payload.get("organic"), position="position")

    def _error_detail(self, payload: Any) -> str:
        if isinstance(payload, dict) and "message" in payload:
            return str(payload["message"])
        return super()._error_detail(payload)
