"""Web search engines as retrievers: Google Programmable Search, Brave, SerpApi (Google, Bing), Serper.

Each engine is a ``Retriever`` returning ``Doc(id=url, title, text=snippet, meta={"url", "engine",
"rank"})``, with rate limiting, retries honouring ``Retry-After``, timeouts, an on-disk cache keyed
by (engine, query, parameters) and optional page-text fetching. Keys come from environment
variables and are never logged or cached.

Example:
    >>> from retrievers.web import build_web_retriever
    >>> web = build_web_retriever({"kind": "brave", "cache_dir": "runs/web_cache"})  # BRAVE_API_KEY
    >>> web.search(["who discovered penicillin"], k=5)
"""

from __future__ import annotations

from typing import Any

from retrievers.web.base import (
    WebAuthError,
    WebRateLimitError,
    WebSearchError,
    WebSearchRetriever,
    redact,
    register_secret,
)
from retrievers.web.brave import BraveSearch
from retrievers.web.cache import SearchCache
from retrievers.web.google import GoogleSearch
from retrievers.web.serpapi import SerpApiSearch
from retrievers.web.serper import SerperSearch

WEB_ENGINES: dict[str, type[WebSearchRetriever]] = {
    "google": GoogleSearch,
    "brave": BraveSearch,
    "serpapi": SerpApiSearch,
    "serper": SerperSearch,
}


def build_web_retriever(spec: dict[str, Any]) -> WebSearchRetriever:
    """Build a web retriever from a config dict: ``{"kind": "brave", <constructor arguments>}``.

    ``kind`` is one of ``google``, ``brave``, ``serpapi``, ``serper``; every other key is passed to
    the engine's constructor (``base_url``, ``cache_dir``, ``requests_per_second``, ``timeout``,
    ``max_retries``, ``fetch_pages``, ``params``, and ``engine`` for SerpApi, ``cse_id`` for Google).
    Keys belong in environment variables, not in configs.
    """
    options = dict(spec)
    kind = options.pop("kind", None)
    if kind not in WEB_ENGINES:
        raise ValueError(f"retriever kind: expected one of {sorted(WEB_ENGINES)}, got {kind!r}")
    try:
        return WEB_ENGINES[kind](**options)
    except TypeError as err:
        raise ValueError(f"retriever kind {kind!r}: bad option ({err})") from None


__all__ = [
    "WEB_ENGINES",
    "BraveSearch",
    "GoogleSearch",
    "SearchCache",
    "SerpApiSearch",
    "SerperSearch",
    "WebAuthError",
    "WebRateLimitError",
    "WebSearchError",
    "WebSearchRetriever",
    "build_web_retriever",
    "redact",
    "register_secret",
]
