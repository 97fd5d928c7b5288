"""A server built the way the reference /retrieve server is: one synchronous endpoint, one uvicorn
worker, searching the queries of a request one after another, one request at a time.

    python benchmarks/retrieval/reference_server.py --index benchmarks/_work/retrieval/bm25 --port 8001
    python benchmarks/retrieval/reference_server.py --lucene benchmarks/_work/retrieval/lucene --port 8001
    python benchmarks/retrieval/reference_server.py --dummy --port 8001   # constant answer, no search

Written for the benchmark (not a copy of the reference code): same BM25 backend as our server
(``--index``) or pyserini's Lucene (``--lucene``), so the comparison isolates the server design.
HTTP stack: plain uvicorn (asyncio loop, h11 parser), what ``pip install uvicorn fastapi`` gives
the reference setup; ``--fast-http`` switches to uvloop + httptools, the stack our server uses.
"""

from __future__ import annotations

import argparse
import json
import threading

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel


class QueryRequest(BaseModel):
    queries: list[str]
    topk: int | None = None
    return_scores: bool = False


def make_app(search_one, default_topk: int = 3) -> FastAPI:
    app = FastAPI()
    lock = threading.Lock()

    @app.post("/retrieve")
    def retrieve(request: QueryRequest):
        k = request.topk or default_topk
        with lock:  # one search at a time, queries one by one
            results = [search_one(q, k) for q in request.queries]
        if request.return_scores:
            return {"result": [[{"document": d, "score": s} for d, s in hits] for hits in results]}
        return {"result": [[d for d, _ in hits] for hits in results]}

    @app.get("/health")
    def health():
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", help="our BM25 index directory")
    parser.add_argument("--lucene", help="a pyserini Lucene index directory (built with --storeRaw)")
    parser.add_argument("--dummy", action="store_true", help="answer every query with 3 fixed documents")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument(
        "--fast-http", action="store_true", help="uvloop + httptools instead of asyncio + h11"
    )
    args = parser.parse_args()
    if args.dummy:
        from bench_server import dummy_docs

        hits = [(d, 1.0 - 0.1 * i) for i, d in enumerate(dummy_docs())]

        def search_one(q, k):
            return [({**d, "contents": f'"{d["title"]}"\n{d["text"]}'}, s) for d, s in hits[:k]]
    elif args.lucene:
        from pyserini.search.lucene import LuceneSearcher

        searcher = LuceneSearcher(args.lucene)

        def search_one(q, k):
            return [(json.loads(searcher.doc(h.docid).raw()), h.score) for h in searcher.search(q, k)]
    else:
        from retrievers.bm25 import BM25Retriever

        retriever = BM25Retriever.load(args.index, threads=1)

        def search_one(q, k):
            return [(d.to_dict(), d.score) for d in retriever.search([q], k)[0]]

    loop, http = ("uvloop", "httptools") if args.fast_http else ("asyncio", "h11")
    uvicorn.run(
        make_app(search_one),
        host="127.0.0.1",
        port=args.port,
        workers=1,
        log_level="warning",
        loop=loop,
        http=http,
    )


if __name__ == "__main__":
    main()
