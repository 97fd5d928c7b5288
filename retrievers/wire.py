"""The ``/retrieve`` wire format: request validation, the response envelope, JSON bytes, and the schema.

Requests are read the way upstream's pydantic server reads them (``"topk": "3"``, ``3.0`` and
``"3.0"`` are 3; ``"return_scores": "true"`` is true), so a client that worked against Search-R1's
server works here; a boolean ``topk`` is refused. Every error names the field.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from retrievers.doc import Doc


def _builtin(value: Any) -> Any:
    """numpy scalars/arrays (scores, ids a retriever left unconverted) as plain Python values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


try:  # optional speed-up (pulled by the package's install_requires); the stdlib is the fallback
    import orjson

    def dumps(value: Any) -> bytes:
        """``value`` as compact UTF-8 JSON bytes (numpy values as plain ones)."""
        return orjson.dumps(value, default=_builtin)

    loads = orjson.loads
except ImportError:  # pragma: no cover - exercised only without orjson

    def dumps(value: Any) -> bytes:
        """``value`` as compact UTF-8 JSON bytes (numpy values as plain ones)."""
        return json.dumps(value, ensure_ascii=False, default=_builtin).encode("utf-8")

    loads = json.loads


def detail_body(message: str) -> bytes:
    """An error response body, ``{"detail": message}``, as every route of these servers answers."""
    return dumps({"detail": message})


class RequestError(ValueError):
    """A malformed request; becomes an HTTP 4xx with the message as ``detail``."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


@dataclass
class RetrieveRequest:
    queries: list[str]
    topk: int
    return_scores: bool
    rerank: tuple[int, int] | None = None  # (topk_retrieval, topk_rerank)


_INTEGRAL_DECIMAL = re.compile(r"[+-]?\d+\.0*")


def _as_int(value: Any) -> int | None:
    """Upstream's (pydantic's lax) integer coercion: ``3``, ``3.0`` and ``"3"`` are 3; never a bool."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if _INTEGRAL_DECIMAL.fullmatch(text):  # "3.0", as pydantic reads it
            text = text.split(".")[0]
        try:
            return int(text)
        except ValueError:
            return None
    return None


def _positive_int(body: dict, name: str, limit: int) -> int | None:
    raw = body.get(name)
    value = _as_int(raw)
    if raw is not None and value is None:
        raise RequestError(f"'{name}' must be a positive integer or null, got {json.dumps(raw)}")
    if value is None or value == 0:  # null / 0 / missing -> server default, as upstream
        return None
    if value < 0:
        raise RequestError(f"'{name}' must be a positive integer or null, got {json.dumps(raw)}")
    if value > limit:
        raise RequestError(f"'{name}' = {value} exceeds this server's limit of {limit}")
    return value


_BOOLS = {
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "yes": True,
    "no": False,
    "on": True,
    "off": False,
}


def _as_bool(value: Any) -> bool | None:
    """Upstream's (pydantic's lax) boolean coercion: true/false, 0/1 and their usual spellings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        return _BOOLS.get(value.strip().lower())
    return None


def parse_request(body: Any, default_topk: int, max_queries: int, max_topk: int) -> RetrieveRequest:
    """Validate a ``/retrieve`` body; raises :class:`RequestError` naming the bad field."""
    if not isinstance(body, dict):
        raise RequestError(f"request body must be a JSON object, got {type(body).__name__}")
    if "queries" in body:
        queries = body["queries"]
        if not isinstance(queries, list):
            raise RequestError(f"'queries' must be a list of strings, got {type(queries).__name__}")
    elif "query" in body:
        if not isinstance(body["query"], str):
            raise RequestError(f"'query' must be a string, got {type(body['query']).__name__}")
        queries = [body["query"]]
    else:
        raise RequestError("missing field 'queries' (a list of strings) or 'query' (a string)")
    for i, q in enumerate(queries):
        if not isinstance(q, str):
            raise RequestError(f"'queries[{i}]' must be a string, got {type(q).__name__}")
    if len(queries) > max_queries:
        raise RequestError(
            f"{len(queries)} queries in one request; this server's limit is {max_queries}", 413
        )
    topk = _positive_int(body, "topk", max_topk) or default_topk
    raw_scores = body.get("return_scores", False)
    return_scores = False if raw_scores is None else _as_bool(raw_scores)
    if return_scores is None:
        raise RequestError(f"'return_scores' must be true or false, got {json.dumps(raw_scores)}")
    rerank = None
    if body.get("topk_retrieval") is not None or body.get("topk_rerank") is not None:
        k = (
            _positive_int(body, "topk_rerank", max_topk)
            or _positive_int(body, "topk", max_topk)
            or default_topk
        )
        n = _positive_int(body, "topk_retrieval", max_topk) or max(10, k)
        if n < k:
            raise RequestError(f"'topk_retrieval' ({n}) must be >= 'topk_rerank' ({k})")
        rerank = (n, k)
    return RetrieveRequest(queries=queries, topk=topk, return_scores=return_scores, rerank=rerank)


def render_result(results: list[list[Doc]], return_scores: bool) -> dict[str, Any]:
    """The response envelope; every document carries ``id``, ``title``, ``text`` and ``contents``."""
    if return_scores:
        return {"result": [[{"document": d.to_dict(), "score": d.score} for d in docs] for docs in results]}
    return {"result": [[d.to_dict() for d in docs] for docs in results]}


def _request_schema(max_queries: int, max_topk: int) -> dict[str, Any]:
    """The ``/retrieve`` request body as JSON Schema, for the OpenAPI document (clients, fuzzers)."""
    count = {"anyOf": [{"type": "integer", "minimum": 0, "maximum": max_topk}, {"type": "null"}]}
    return {
        "type": "object",
        "properties": {
            "queries": {"type": "array", "items": {"type": "string"}, "maxItems": max_queries},
            "query": {"type": "string", "description": "one query (SkyRL); instead of 'queries'"},
            "topk": {**count, "description": "documents per query; null or 0: the server default"},
            "return_scores": {"anyOf": [{"type": "boolean"}, {"type": "null"}], "default": False},
            "topk_retrieval": {**count, "description": "reranking servers: candidates retrieved"},
            "topk_rerank": {**count, "description": "reranking servers: documents kept"},
        },
        "anyOf": [{"required": ["queries"]}, {"required": ["query"]}],
    }


_DETAIL_SCHEMA = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}


def retrieve_openapi(max_queries: int, max_topk: int) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": _DETAIL_SCHEMA}}}
    result = {"type": "object", "properties": {"result": {"type": "array", "items": {"type": "array"}}}}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _request_schema(max_queries, max_topk)}},
        },
        "responses": {
            "200": {
                "description": "one list of documents per query",
                "content": {"application/json": {"schema": result}},
            },
            "400": {"description": "not JSON, or rerank fields on a plain retriever", **error},
            "401": {"description": "missing or wrong bearer token", **error},
            "413": {"description": "too many queries or too large a body", **error},
            "422": {"description": "a field of the wrong type or out of range", **error},
            "500": {"description": "the retriever failed", **error},
        },
    }
