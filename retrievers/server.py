"""The ``/retrieve`` HTTP server: any ``Retriever`` behind the wire format Search-R1, s3 and veRL send.

    POST /retrieve  {"queries": ["..."], "topk": 3 | null, "return_scores": true}
        -> {"result": [[{"document": {"id", "title", "text", "contents"}, "score": 1.2}, ...], ...]}
    with "return_scores": false the inner lists hold the documents without the wrapper;
    {"query": "..."} (one string, as SkyRL sends) is accepted as a one-query batch;
    optional "topk_retrieval" / "topk_rerank" call the retriever's ``search_rerank(queries, n, k)``.
    GET /health -> {"status": "ok", ...}

This module holds the app (its routes and the ``/retrieve`` handler) and how it is run; the pieces:

- :mod:`retrievers.wire`: requests validated as upstream's server reads them, the response envelope,
  JSON bytes (orjson) and the OpenAPI schema.
- :mod:`retrievers.asgi`: the lean ASGI path in front of FastAPI: a bearer token, when set, guards
  every route; bodies over ``max_body_bytes`` get 413; ``POST /retrieve`` is answered from the body
  bytes (no per-request models, pre-serialised bytes). The FastAPI route with the same handler stays
  for the schema and as the fallback.
- :mod:`retrievers.batching`: searches never run on the event loop: concurrent requests are queued,
  merged into batches (while one batch is searching, the next one fills up) and searched on worker
  threads, so one slow search does not block other clients and many small requests cost one
  batched search.

With ``workers`` > 1, several server processes share the port, each opening the (memory-mapped)
index. Run it with ``python -m retrievers.server --index DIR`` or ``s3 serve-retriever --index DIR``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import mmap
import os
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from retrievers.asgi import RequestGuard
from retrievers.base import Retriever
from retrievers.batching import Batcher
from retrievers.wire import (
    RequestError,
    detail_body,
    dumps,
    loads,
    parse_request,
    render_result,
    retrieve_openapi,
)

log = logging.getLogger(__name__)

DEFAULT_PORT = 3000
#: queries one request may carry: Search-R1's GRPO recipe sends 512 prompts x 5 rollouts = 2,560
DEFAULT_MAX_QUERIES = 4096
#: request body limit (8 MiB: 4,096 queries of 2 KB each)
DEFAULT_MAX_BODY_BYTES = 8 * 2**20
CONFIG_ENV = "S3_RETRIEVER_SERVER_CONFIG"  # how ``serve`` hands its settings to worker processes


class _RetrieveHandler:
    """``POST /retrieve`` from raw bytes to ``(status, body bytes)``: shared by both request paths."""

    def __init__(
        self, retriever: Retriever, batcher: Batcher, default_topk: int, max_queries: int, max_topk: int,
    ):  # fmt: skip
        self.retriever = retriever
        self.batcher = batcher
        self.limits = (default_topk, max_queries, max_topk)

    async def __call__(self, body: bytes) -> tuple[int, bytes]:
        try:
            payload = loads(body)
        except ValueError as exc:  # json.JSONDecodeError, orjson.JSONDecodeError, bad UTF-8
            return 400, detail_body(f"request body is not valid JSON: {exc}")
        try:
            req = parse_request(payload, *self.limits)
        except RequestError as exc:
            return exc.status, detail_body(str(exc))
        if not req.queries:
            return 200, b'{"result":[]}'
        try:
            if req.rerank is not None:
                rerank = getattr(self.retriever, "search_rerank", None)
                if rerank is None:
                    return 400, detail_body(
                        "'topk_retrieval'/'topk_rerank' need a reranking retriever; this server has "
                        f"{type(self.retriever).__name__}, send 'topk' instead"
                    )
                loop = asyncio.get_running_loop()
                results = await loop.run_in_executor(self.batcher.executor, rerank, req.queries, *req.rerank)
            else:
                results = await self.batcher.search(req.queries, req.topk)
            return 200, dumps(render_result(results, req.return_scores))
        except Exception as exc:
            log.exception("retrieval failed")
            return 500, detail_body(f"retrieval failed: {type(exc).__name__}: {exc}")


def create_app(
    retriever: Retriever,
    default_topk: int = 3,
    max_queries: int = DEFAULT_MAX_QUERIES,
    max_topk: int = 1000,
    token: str | None = None,
    workers: int = 2,
    max_batch: int = 512,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """A FastAPI app serving ``retriever`` on ``POST /retrieve`` and ``GET /health``.

    Args:
        retriever: any ``Retriever``.
        default_topk: k when a request sends ``topk`` null, 0 or nothing.
        max_queries: most queries one request may carry (more -> 413).
        max_topk: largest ``topk`` accepted (more -> 422).
        token: if set, every route (``/openapi.json`` and ``/docs`` too) needs
            ``Authorization: Bearer <token>`` (else 401).
        workers: threads running searches concurrently (per server process).
        max_batch: most queries merged into one ``search`` call.
        max_body_bytes: largest request body accepted (more -> 413).

    Example:
        >>> import uvicorn  # doctest: +SKIP
        >>> uvicorn.run(create_app(load_retriever("idx/")), host="127.0.0.1", port=3000)  # doctest: +SKIP
    """
    if default_topk < 1 or default_topk > max_topk:
        raise ValueError(f"default_topk must be between 1 and max_topk ({max_topk}), got {default_topk}")
    batcher = Batcher(retriever.search, workers=max(1, workers), max_batch=max(1, max_batch))
    handler = _RetrieveHandler(retriever, batcher, default_topk, max_queries, max_topk)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="s3 retrieval server", version="1", lifespan=lifespan)
    app.state.retriever = retriever
    app.add_middleware(
        RequestGuard, routes={"/retrieve": handler}, max_body_bytes=max_body_bytes, token=token
    )

    @app.get("/health")
    async def health() -> Response:
        info = {
            "status": "ok",
            "retriever": type(retriever).__name__,
            "default_topk": default_topk,
            "max_topk": max_topk,
            "max_queries": max_queries,
            "max_body_bytes": max_body_bytes,
            "rerank": hasattr(retriever, "search_rerank"),
            "pid": os.getpid(),
        }
        num_docs = getattr(retriever, "num_docs", None)
        if isinstance(num_docs, int):
            info["num_docs"] = num_docs
        startup = getattr(retriever, "startup", None)  # dense: estimated (and measured) load cost
        if isinstance(startup, dict):
            info["startup"] = startup
        return JSONResponse(info)

    @app.post("/retrieve", openapi_extra=retrieve_openapi(max_queries, max_topk))
    async def retrieve(request: Request) -> Response:  # reached only if the fast path is bypassed
        status, content = await handler(await request.body())
        return Response(content, status_code=status, media_type="application/json")

    return app


def default_workers(retriever: Retriever) -> int:
    """Server processes for ``workers="auto"``.

    Memory-mapped BM25 (all processes share the index pages): one process per two cores, at most 8.
    One process already keeps about two cores busy, because the BM25 kernel runs without the GIL on
    the search threads while the event loop answers HTTP (measured on 2 cores: one process needed
    less CPU per request than two, benchmarks/retrieval/RESULTS.md). Anything else: 1 (dense models,
    Lucene's JVM and remote backends would be loaded once per process).
    """
    from retrievers.bm25 import BM25Retriever

    if isinstance(retriever, BM25Retriever) and isinstance(retriever.docstore._data, mmap.mmap):
        return max(1, min(8, (os.cpu_count() or 1) // 2))
    return 1


def app_from_environment() -> FastAPI:
    """App factory for worker processes: opens the retriever described in ``$S3_RETRIEVER_SERVER_CONFIG``."""
    from retrievers.factory import load_retriever

    config = json.loads(os.environ[CONFIG_ENV])
    spec, overrides = config["spec"], config["overrides"]
    retriever = load_retriever(spec, **overrides) if overrides else load_retriever(spec)
    return create_app(retriever, **config["app"])


def serve(
    retriever: Retriever | str | dict,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    default_topk: int = 3,
    max_queries: int = DEFAULT_MAX_QUERIES,
    max_topk: int = 1000,
    token: str | None = None,
    search_threads: int = 2,
    log_level: str = "info",
    workers: int | str = "auto",
    overrides: dict[str, Any] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> None:
    """Open ``retriever`` (a ``Retriever`` or a spec for ``load_retriever``) and serve it until stopped.

    Args:
        workers: server processes sharing the port (``"auto"``: :func:`default_workers`). Each one
            opens the index itself, so more than 1 needs ``retriever`` as a spec (path or dict).
        search_threads: search threads per process. Other arguments as in :func:`create_app`.
        overrides: keyword options for ``load_retriever`` (e.g. ``{"threads": 1}``).
    """
    import uvicorn

    from retrievers.factory import load_retriever

    overrides = overrides or {}
    spec = retriever
    retriever = load_retriever(spec, **overrides) if overrides else load_retriever(spec)  # fails fast here
    if host not in ("127.0.0.1", "localhost", "::1") and token is None:
        log.warning("serving on %s without a bearer token: anyone who can reach it can query it", host)
    n = default_workers(retriever) if workers == "auto" else max(1, int(workers))
    app_options = {
        "default_topk": default_topk, "max_queries": max_queries, "max_topk": max_topk, "token": token,
        "workers": search_threads, "max_body_bytes": max_body_bytes,
    }  # fmt: skip
    if n > 1 and isinstance(spec, Retriever):
        log.warning("workers=%d needs an index path or spec, not a Retriever object: using 1 process", n)
        n = 1
    log.info("serving %s on http://%s:%d/retrieve (%d process(es))", type(retriever).__name__, host, port, n)
    if n == 1:
        app = create_app(retriever, **app_options)
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
        return
    close = getattr(retriever, "close", None)
    if callable(close):
        close()
    os.environ[CONFIG_ENV] = json.dumps(
        {
            "spec": str(spec) if isinstance(spec, os.PathLike) else spec,
            "overrides": overrides,
            "app": app_options,
        }
    )
    uvicorn.run(
        f"{__name__}:app_from_environment", factory=True, workers=n, host=host, port=port,
        log_level=log_level, access_log=False,
    )  # fmt: skip


def _workers_arg(value: str) -> int | str:
    if value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"--workers must be 'auto' or a positive integer, got {value!r}")
    return int(value)


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options shared by ``python -m retrievers.server`` and ``s3 serve-retriever``."""
    parser.add_argument("--index", required=True, help="index directory, /retrieve URL, or a JSON spec")
    parser.add_argument("--host", default=os.environ.get("S3_RETRIEVER_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("S3_RETRIEVER_PORT", DEFAULT_PORT)))
    parser.add_argument("--topk", type=int, default=3, help="k when a request sends topk null")
    parser.add_argument(
        "--max-queries", type=int, default=DEFAULT_MAX_QUERIES,
        help="most queries per request (Search-R1's GRPO recipe sends 2,560)",
    )  # fmt: skip
    parser.add_argument(
        "--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, help="largest request body (more: 413)"
    )
    parser.add_argument("--max-topk", type=int, default=1000, help="largest topk accepted")
    parser.add_argument(
        "--workers", type=_workers_arg, default="auto",
        help="server processes sharing the port ('auto': one per 2 cores, up to 8, for memory-mapped BM25; else 1)",
    )  # fmt: skip
    parser.add_argument("--search-threads", type=int, default=2, help="search threads per process")
    parser.add_argument("--threads", type=int, default=None, help="BM25 threads per batch")
    parser.add_argument("--corpus", default=None, help="corpus JSONL (Lucene indexes without stored docs)")
    parser.add_argument(
        "--token", default=os.environ.get("S3_RETRIEVER_TOKEN"), help="bearer token (env S3_RETRIEVER_TOKEN)"
    )


def run_from_args(args: argparse.Namespace) -> None:
    spec: Any = args.index
    if isinstance(spec, str) and spec.lstrip().startswith("{"):
        spec = json.loads(spec)
    overrides = {k: v for k, v in (("threads", args.threads), ("corpus", args.corpus)) if v is not None}
    serve(
        spec, args.host, args.port, args.topk, args.max_queries, args.max_topk, args.token,
        search_threads=args.search_threads, workers=args.workers, overrides=overrides,
        max_body_bytes=args.max_body_bytes,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m retrievers.server", description=__doc__.split("\n")[0])
    add_server_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_from_args(args)


if __name__ == "__main__":
    main()
