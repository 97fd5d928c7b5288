"""The lean ASGI request path in front of FastAPI: bearer token, body limit, POST routes from bytes.

:class:`RequestGuard` wraps an app (the retrieval server, ``s3 serve``): it checks the bearer token
on every route and the body-size limit on every POST, and answers the POST routes it is given
straight from the request body bytes (no FastAPI routing, no per-request models); everything else
goes on to the wrapped app.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from retrievers.wire import detail_body

_UNAUTHORIZED = b'{"detail":"missing or wrong bearer token"}'

#: a POST route answered directly from the request body: ``await handler(body) -> (status, JSON bytes)``
BodyHandler = Callable[[bytes], Awaitable[tuple[int, bytes]]]


async def _respond(send: Any, status: int, content: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def bearer_authorized(token: bytes | None, authorization: bytes | None) -> bool:
    """``Authorization: Bearer <token>``; the scheme name is case-insensitive (RFC 9110)."""
    if token is None:
        return True
    scheme, _, credentials = (authorization or b"").strip().partition(b" ")
    return scheme.lower() == b"bearer" and secrets.compare_digest(credentials.strip(), token)


class RequestGuard:
    """ASGI middleware in front of every route: the bearer token (every route), the body-size limit
    (every POST: its body is read here, up to the limit), and the POST ``routes`` answered directly
    from their body bytes (the lean path); everything else goes on to the wrapped app.

    Args:
        app: the ASGI app behind it (FastAPI).
        routes: path -> :data:`BodyHandler` for the POST routes answered here.
        max_body_bytes: largest request body accepted (more: 413).
        token: if set, every request needs ``Authorization: Bearer <token>`` (else 401).
        public: ``GET`` paths served without the token (exact, or a prefix when ending in ``*``):
            static files holding no data, such as a page that then sends the token itself.
    """

    def __init__(
        self, app: Any, routes: dict[str, BodyHandler], max_body_bytes: int, token: str | None = None,
        public: tuple[str, ...] = (),
    ):  # fmt: skip
        self.app = app
        self.routes = routes
        self.max_body_bytes = max_body_bytes
        self.token = token.encode() if token is not None else None
        self.public = public

    def _public(self, scope: dict) -> bool:
        path = scope["path"]
        return scope["method"] == "GET" and any(
            path == p or (p.endswith("*") and path.startswith(p[:-1])) for p in self.public
        )

    def _too_large(self, size: int | str) -> bytes:
        return detail_body(
            f"request body of {size} bytes exceeds this server's limit of {self.max_body_bytes} bytes"
        )

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if not bearer_authorized(self.token, headers.get(b"authorization")) and not self._public(scope):
            await _respond(send, 401, _UNAUTHORIZED)
            return
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await _respond(send, 413, self._too_large(int(declared)))
            return
        body = await self._read_body(receive, send)
        if body is None:  # answered with 413, or the client left
            return
        handler = self.routes.get(scope["path"])
        if handler is None:  # a POST route behind: it reads the body already read here
            await self.app(scope, _replay(body, receive), send)
            return
        status, content = await handler(body)
        await _respond(send, status, content)

    async def _read_body(self, receive: Any, send: Any) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:  # chunked upload without a Content-Length
                await _respond(send, 413, self._too_large(f"more than {self.max_body_bytes}"))
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    """``receive`` that gives ``body`` whole, then waits on the connection (for a disconnect)."""
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
