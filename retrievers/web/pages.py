"""Fetching result pages and turning their HTML into plain text, with a size cap.

Web search snippets are short; some pipelines want the page text itself. Pages are read as a stream
and cut at ``max_bytes`` so a huge or endless page cannot exhaust memory, then reduced to visible
text (scripts, styles and markup removed) and cut again at ``max_chars``.
"""

from __future__ import annotations

import html
import logging
import re
from html.parser import HTMLParser

import httpx

logger = logging.getLogger(__name__)

_SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "head"}
_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "pre"}
_TAG_RE = re.compile(r"<[^>]+>")
_SPACE_RE = re.compile(r"[ \t\r\f\v]+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS and self._skip_depth:
            self._skip_depth -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Visible text of an HTML document: no scripts or styles, one paragraph per line."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    lines = (_SPACE_RE.sub(" ", line).strip() for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def strip_tags(fragment: str) -> str:
    """Plain text of a short HTML fragment such as a snippet with ``<strong>`` highlights."""
    return _SPACE_RE.sub(" ", html.unescape(_TAG_RE.sub("", fragment))).strip()


def fetch_page_text(
    client: httpx.Client, url: str, *, max_bytes: int, max_chars: int, timeout: float
) -> str | None:
    """Download at most ``max_bytes`` of ``url`` and return its text (at most ``max_chars``).

    Returns ``None`` (and logs a warning) when the page cannot be fetched or is not text.
    """
    try:
        with client.stream("GET", url, timeout=timeout, follow_redirects=True) as resp:
            if resp.status_code != 200:
                logger.warning("page fetch %s: HTTP %d", url, resp.status_code)
                return None
            ctype = resp.headers.get("content-type", "text/html").lower()
            if not (ctype.startswith("text/") or "html" in ctype or "xml" in ctype):
                logger.warning("page fetch %s: skipping content type %s", url, ctype)
                return None
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= max_bytes:
                    break
            body = b"".join(chunks)[:max_bytes]
            encoding = resp.charset_encoding or "utf-8"
    except httpx.HTTPError as err:
        logger.warning("page fetch %s failed: %s", url, type(err).__name__)
        return None
    markup = body.decode(encoding, errors="replace")
    text = html_to_text(markup) if ("html" in ctype or "<" in markup[:200]) else markup.strip()
    return text[:max_chars]
