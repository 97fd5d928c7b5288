"""Google Programmable Search (Custom Search JSON API) as a retriever.

Endpoint ``GET https://www.googleapis.com/customsearch/v1`` with ``q`` and ``cx`` (the search engine
id); at most 10 results per request (``num``), paged with the 1-based ``start``, 100 results per
query at most. Results are the ``items`` list (``title``, ``link``, ``snippet``). Errors follow
Google's API envelope ``{"error": {"code", "message", "errors": [{"reason"}], "status"}}``.
The key is sent in the ``X-Goog-Api-Key`` header (Google's documented alternative to ``key=``) so it
never appears in a URL. Google has closed this API to new customers; existing customers can use it
until January 1, 2027 (see the API's overview page).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from retrievers.web.base import RequestSpec, WebAuthError, WebResult, WebSearchRetriever, organic_results


class GoogleSearch(WebSearchRetriever):
    """Google Programmable Search JSON API. Keys: ``GOOGLE_API_KEY`` and ``GOOGLE_CSE_ID`` (the ``cx``).

    Example:
        >>> web = GoogleSearch(cache_dir="runs/web_cache")
        >>> web.search(["capital of australia"], k=5)[0][0].meta["url"]
    """

    engine = "google"
    default_base_url = "https://www.googleapis.com"
    key_env = ("GOOGLE_API_KEY",)
    page_size = 10
    max_results = 100

    def __init__(self, api_key: str | None = None, *, cse_id: str | None = None, **kwargs: Any):
        self.cse_id = cse_id or os.environ.get("GOOGLE_CSE_ID", "").strip()
        if not self.cse_id:
            raise WebAuthError(
                "google: no search engine id; set GOOGLE_CSE_ID or pass cse_id=", engine="google"
            )
        super().__init__(api_key, **kwargs)

    def _build_request(self, query: str, count: int, offset: int) -> RequestSpec:
        params = {**self.params, "q": query, "cx": self.cse_id, "num": count, "start": offset + 1}
        return RequestSpec(
            "GET", "/customsearch/v1", params=params, headers={"X-Goog-Api-Key": self._api_key}
        )

    def _parse(self, payload: Any) -> list[WebResult]:
        return organic_results(payload.get("items"))

    def _error_detail(self, payload: Any) -> str:
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            err = payload["error"]
            reasons = [e.get("reason") for e in err.get("errors") or [] if e.get("reason")]
            reasons += [
                d.get("reason") for d in err.get("details") or [] if isinstance(d, dict) and d.get("reason")
            ]
            tail = f" [{', '.join(reasons)}]" if reasons else ""
            return f"{err.get('status', '')} {err.get('message', '')}{tail}".strip()
        return super()._error_detail(payload)

    def _is_auth_error(self, status: int, payload: Any) -> bool:
        # An invalid key is answered 400 INVALID_ARGUMENT with reason API_KEY_INVALID.
        return status in (401, 403) or (status == 400 and "API_KEY_INVALID" in self._error_detail(payload))

    def _cache_params(self, k: int) -> dict[str, Any]:
        # The engine id changes the results; store a digest of it rather than the id itself.
        return {**super()._cache_params(k), "cx": hashlib.sha256(self.cse_id.encode()).hexdigest()[:16]}
