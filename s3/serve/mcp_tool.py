"""The MCP tool ``search`` of ``s3 serve``, on the official MCP SDK's streamable HTTP transport.

An agent connects to ``http://HOST:PORT/mcp`` and calls ``search(question)``; the answer holds the
documents the searcher gathered (id, title, text), the queries it issued and why it stopped. The
tool goes through the same batched searcher as ``POST /search``. Needs the ``serve`` extra
(``pip install "s3-search-agent[serve]"``).
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.routing import Route

#: the path the transport is served on
MCP_PATH = "/mcp"


def build_mcp(service: Any, host: str, max_body_bytes: int) -> tuple[MCPServer, Route]:
    """An MCP server whose tool ``search`` runs ``service.search`` (a :class:`s3.serve.app.SearchService`),
    and its transport's route, to add to another app (whose lifespan runs ``server.session_manager``)."""
    server = MCPServer(
        "s3",
        instructions="search(question) gathers the documents a trained s3 searcher selects for a question.",
    )

    @server.tool()
    async def search(question: str) -> dict[str, Any]:
        """Gather documents for a question: the searcher issues queries, reads the results and selects
        the useful documents. Returns the documents (id, title, text), the queries and the stop reason."""
        if not question.strip():
            raise ToolError("'question' must be a non-empty string")
        try:
            (result,) = await service.search([question.strip()])
        except ValueError as exc:  # BadRequest: say why (no searcher, ...)
            raise ToolError(str(exc)) from None
        return {
            "question": result.question,
            "documents": [d.to_dict(with_score=True) for d in result.documents],
            "selected": [d.id for d in result.selected],
            "queries": result.queries,
            "finish_reason": result.finish_reason,
        }

    # stateless JSON responses: every call stands alone, so any HTTP client and any replica can answer it
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=True,
        host=host,
        max_request_body_size=max_body_bytes,
    )
    route = next(r for r in app.routes if isinstance(r, Route) and r.path == MCP_PATH)
    return server, route
