"""The ``s3 serve`` app: a searcher (and its frozen generator) behind HTTP, OpenAI, MCP and a page.

    POST /search                {"question": "..."} or {"questions": [...]}, optional "answer": true
                                (the generator answers from the documents), "trace": false (leaner)
        -> {"results": [{"question", "documents", "selected", "queries", "finish_reason", "trace",
                         "generator": {"messages", "answer"}}]}
    POST /retrieve              Search-R1's wire format; each query is a question for the searcher,
                                answered with its documents, the selected ones first, cut to "topk"
    POST /v1/chat/completions   OpenAI chat format; the last user message is searched, the generator
                                answers; the response carries "documents" and "search" beside "choices"
    POST /mcp                   MCP (streamable HTTP): the tool ``search``
    GET  /                      the page; GET /health; GET /api/run, /api/run/question (evaluation run)

Every route sits behind :class:`retrievers.server.RequestGuard` (bearer token, body limit), and the
searches of concurrent requests are merged into batched ``search_batch`` calls by
:class:`retrievers.server.Batcher`, as the retrieval server batches its searches.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from contextlib import AsyncExitStack, asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from generators.base import Generator
from generators.prompts import answer_with_context
from retrievers.doc import Doc
from retrievers.server import DEFAULT_MAX_BODY_BYTES, Batcher, RequestGuard, detail_body
from retrievers.wire import RequestError, parse_request, render_result
from s3.searcher import Searcher, SearchResult
from s3.serve import DEFAULT_MAX_QUESTIONS

log = logging.getLogger(__name__)

STATIC = resources.files("s3.serve") / "static"
#: how long a batch waits for more questions once clients are concurrent (benchmarks/serve/RESULTS.md)
GATHER_S = 0.02


class BadRequest(ValueError):
    """A malformed request; answered with ``status`` and the message as ``detail``."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _load(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:  # JSONDecodeError and bad UTF-8
        raise BadRequest(f"request body is not valid JSON: {exc}", 400) from None


def _flag(body: dict, name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise BadRequest(f"'{name}' must be true or false, got {json.dumps(value)}")
    return value


def parse_questions(body: Any, max_questions: int) -> list[str]:
    """The questions of a ``/search`` body (``question`` or ``questions``); errors name the field."""
    if not isinstance(body, dict):
        raise BadRequest(f"request body must be a JSON object, got {type(body).__name__}")
    if "questions" in body:
        questions = body["questions"]
        if not isinstance(questions, list) or not questions:
            raise BadRequest("'questions' must be a non-empty list of strings")
        field = "questions[{}]"
    elif "question" in body:
        questions = [body["question"]]
        field = "question"
    else:
        raise BadRequest("missing field 'question' (a string) or 'questions' (a list of strings)")
    for i, q in enumerate(questions):
        if not isinstance(q, str) or not q.strip():
            got = json.dumps(q) if not isinstance(q, str) else "an empty string"
            raise BadRequest(f"'{field.format(i)}' must be a non-empty string, got {got}")
    if len(questions) > max_questions:
        raise BadRequest(
            f"{len(questions)} questions in one request; this server's limit is {max_questions}", 413
        )
    return [q.strip() for q in questions]


def chat_question(body: Any) -> str:
    """The question of an OpenAI chat request: the text of its last user message."""
    if not isinstance(body, dict):
        raise BadRequest(f"request body must be a JSON object, got {type(body).__name__}")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list of {'role', 'content'} objects")
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        raise BadRequest("'messages' holds no message with role 'user': nothing to search for")
    content = users[-1].get("content")
    if isinstance(content, list):  # content parts: keep the text ones
        content = " ".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    if not isinstance(content, str) or not content.strip():
        raise BadRequest("the last user message has no text content")
    if body.get("n", 1) not in (1, None):
        raise BadRequest(f"'n' must be 1 (one answer per question), got {json.dumps(body.get('n'))}")
    return content.strip()


def ranked_documents(result: SearchResult) -> list[Doc]:
    """The searcher's documents, those it selected first (so a small ``topk`` keeps its choices)."""
    selected = {d.id for d in result.selected}
    chosen = [d for d in result.documents if d.id in selected]
    return chosen + [d for d in result.documents if d.id not in selected]


class SearchService:
    """The searcher and the generator behind the routes, each called in merged batches.

    Args:
        searcher: the trained searcher (``None``: the page only browses an evaluation run).
        generator: the frozen generator that answers from the documents (``None``: no answers).
        max_questions: most questions per request.
        max_topk: largest ``topk`` of ``/retrieve``.
    """

    def __init__(
        self,
        searcher: Searcher | None,
        generator: Generator | None,
        max_questions: int = DEFAULT_MAX_QUESTIONS,
        max_topk: int = 1000,
        model_name: str = "s3",
    ):
        self.searcher = searcher
        self.generator = generator
        self.max_questions = max_questions
        self.max_topk = max_topk
        self.model_name = model_name
        size = searcher.config.batch_size if searcher is not None else 1
        # one thread each: the policy model and the generator are not shared between threads
        self.searches = Batcher(
            self._search_batch, workers=1, max_batch=max(1, size), trim=_whole, gather_s=GATHER_S
        )
        self.answers = Batcher(self._answer_batch, workers=1, max_batch=64, trim=_whole)
        self.stats = {"questions": 0, "batches": 0}  # searches so far (GET /health shows them)

    def _search_batch(self, questions: list[str], _k: int) -> list[SearchResult]:
        results = self.searcher.search_batch(questions)
        self.stats["questions"] += len(questions)
        self.stats["batches"] += 1
        return results

    def _answer_batch(self, items: list[tuple[str, list[Doc]]], _k: int) -> list[str]:
        return self.generator.answer_batch([q for q, _ in items], [docs for _, docs in items])

    def start(self) -> None:
        self.searches.start()
        self.answers.start()

    async def stop(self) -> None:
        await self.searches.stop()
        await self.answers.stop()

    def _need_searcher(self) -> None:
        if self.searcher is None:
            raise BadRequest("this server has no searcher (started without --model): only the page runs", 503)

    async def search(self, questions: list[str]) -> list[SearchResult]:
        self._need_searcher()
        return await self.searches.search(questions, 0)

    async def answer(self, questions: list[str], contexts: list[list[Doc]]) -> list[str]:
        if self.generator is None:
            raise BadRequest("this server has no generator: start it with a generator to get answers", 503)
        return await self.answers.search(list(zip(questions, contexts)), 0)

    # -------------------------------------------------------------- the routes' bodies

    async def handle_search(self, body: bytes) -> tuple[int, bytes]:
        payload = _load(body)
        questions = parse_questions(payload, self.max_questions)
        with_trace = _flag(payload, "trace", True)
        with_answer = _flag(payload, "answer", False)
        results = await self.search(questions)
        out = [r.to_dict(with_trace=with_trace) for r in results]
        if with_answer:
            answers = await self.answer(questions, [r.documents for r in results])
            for row, result, text in zip(out, results, answers):
                row["generator"] = {
                    "model": getattr(self.generator, "name", type(self.generator).__name__),
                    "messages": answer_with_context(result.question, result.documents),
                    "answer": text.strip(),
                }
        return 200, _json({"results": out})

    async def handle_retrieve(self, body: bytes) -> tuple[int, bytes]:
        payload = _load(body)
        try:
            req = parse_request(payload, self.max_topk, self.max_questions, self.max_topk)
        except RequestError as exc:
            raise BadRequest(str(exc), exc.status) from None
        if req.rerank is not None:
            raise BadRequest(
                "'topk_retrieval'/'topk_rerank' are for reranking servers; this one searches, send 'topk'",
                400,
            )
        if not req.queries:
            return 200, b'{"result":[]}'
        if any(not q.strip() for q in req.queries):
            raise BadRequest(
                "every query must be a non-empty string (each one is a question for the searcher)"
            )
        results = await self.search([q.strip() for q in req.queries])
        docs = [ranked_documents(r)[: req.topk] for r in results]
        return 200, _json(render_result(docs, req.return_scores))

    async def chat(self, payload: Any) -> dict[str, Any]:
        from evaluation.run import count_tokens_approx

        question = chat_question(payload)
        (result,) = await self.search([question])
        (answer,) = await self.answer([question], [result.documents])
        prompt = answer_with_context(question, result.documents)
        prompt_tokens = sum(count_tokens_approx(m["content"]) for m in prompt)
        completion_tokens = count_tokens_approx(answer)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(payload.get("model") or self.model_name),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.strip()},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "documents": [d.to_dict(with_score=True) for d in result.documents],
            "search": {
                "queries": result.queries,
                "selected": [d.id for d in result.selected],
                "finish_reason": result.finish_reason,
            },
        }


def _whole(result: Any, _k: int) -> Any:
    return result


def _guarded(handler):
    """A route body that answers :class:`BadRequest` with its status and the message."""

    async def run(body: bytes) -> tuple[int, bytes]:
        try:
            return await handler(body)
        except BadRequest as exc:
            return exc.status, detail_body(str(exc))
        except Exception as exc:
            log.exception("request failed")
            return 500, detail_body(f"search failed: {type(exc).__name__}: {exc}")

    return run


def _openai_error(message: str, status: int) -> Response:
    """An error as OpenAI's API sends it (``error.message``, which its clients show), plus ``detail``."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}, "detail": message}
    return JSONResponse(body, status_code=status)


def _stream(completion: dict[str, Any]) -> bytes:
    """A chat completion as OpenAI's server-sent chunks (the answer is known whole, so one chunk)."""
    base = {k: completion[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    content = completion["choices"][0]["message"]["content"]
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": None}],
         "documents": completion["documents"], "search": completion["search"]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": completion["usage"]},
    ]  # fmt: skip
    return b"".join(b"data: " + _json(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def create_app(
    searcher: Searcher | None,
    generator: Generator | None = None,
    run_dir: str | Path | None = None,
    token: str | None = None,
    max_questions: int = DEFAULT_MAX_QUESTIONS,
    max_topk: int = 1000,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    host: str = "127.0.0.1",
    mcp: bool = True,
    model_name: str = "s3",
) -> FastAPI:
    """The ``s3 serve`` app.

    Args:
        searcher: the searcher (``None`` serves only the page's evaluation-run view).
        generator: the frozen generator for answers (``/v1/chat/completions``, the page).
        run_dir: an evaluation run folder (``s3 evaluate --output``) the page browses.
        token: if set, every route needs ``Authorization: Bearer <token>``.
        max_questions: most questions per request (more: 413).
        max_topk: largest ``topk`` of ``/retrieve`` (more: 422).
        max_body_bytes: largest request body (more: 413).
        host: the host it is served on (the MCP transport's DNS-rebinding check follows it).
        mcp: offer the MCP tool ``search`` at ``/mcp`` when the ``mcp`` package is installed.
        model_name: the ``model`` echoed in chat completions.

    Example:
        >>> import uvicorn  # doctest: +SKIP
        >>> searcher = Searcher.from_pretrained("runs/searcher", retriever="idx/")  # doctest: +SKIP
        >>> uvicorn.run(create_app(searcher, load_generator({})), port=3001)  # doctest: +SKIP
    """
    service = SearchService(searcher, generator, max_questions, max_topk, model_name)
    run = None
    if run_dir is not None:
        from s3.serve.runs import EvaluationRun

        run = EvaluationRun(run_dir)
    mcp_server = mcp_route = None
    if mcp and searcher is not None:
        try:
            from s3.serve.mcp_tool import build_mcp
        except ImportError:
            log.warning('no MCP tool: the mcp package is missing (pip install "s3-search-agent[serve]")')
        else:
            mcp_server, mcp_route = build_mcp(service, host=host, max_body_bytes=max_body_bytes)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        service.start()
        async with AsyncExitStack() as stack:
            if mcp_server is not None:
                await stack.enter_async_context(mcp_server.session_manager.run())
            yield
        await service.stop()

    app = FastAPI(title="s3 searcher server", version="1", lifespan=lifespan)
    app.state.service = service
    routes = {"/search": _guarded(service.handle_search), "/retrieve": _guarded(service.handle_retrieve)}
    # the page and its static files hold no data: a browser loads them without the token, then the
    # page asks for it and sends it with every call
    app.add_middleware(
        RequestGuard, routes=routes, max_body_bytes=max_body_bytes, token=token, public=("/", "/static/*")
    )

    @app.get("/health")
    async def health() -> Response:
        info: dict[str, Any] = {
            "status": "ok",
            "searcher": searcher is not None,
            "mcp": mcp_server is not None,
        }
        if searcher is not None:
            info.update(
                protocol=searcher.config.protocol,
                preset=searcher.config.preset,
                episode=f"{searcher.config.episode.docs_per_search}-{searcher.config.episode.select_cap}-"
                f"{searcher.config.episode.max_turns}",
                retriever=type(searcher.retriever).__name__,
                batch_size=searcher.config.batch_size,
            )
        info["generator"] = (
            None if generator is None else getattr(generator, "name", type(generator).__name__)
        )
        info["run"] = None if run is None else run.name
        info["searched"] = dict(service.stats)
        info.update(
            model=model_name, max_questions=max_questions, max_topk=max_topk, max_body_bytes=max_body_bytes
        )
        return JSONResponse(info)

    # FastAPI routes with the same handlers: the OpenAPI document, and the fallback path
    @app.post("/search")
    async def search(request: Request) -> Response:
        status, content = await routes["/search"](await request.body())
        return Response(content, status_code=status, media_type="application/json")

    @app.post("/retrieve")
    async def retrieve(request: Request) -> Response:
        status, content = await routes["/retrieve"](await request.body())
        return Response(content, status_code=status, media_type="application/json")

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        try:
            payload = _load(await request.body())
            stream = _flag(payload, "stream", False) if isinstance(payload, dict) else False
            completion = await service.chat(payload)
        except BadRequest as exc:
            return _openai_error(str(exc), exc.status)
        except Exception as exc:
            log.exception("chat completion failed")
            return _openai_error(f"search failed: {type(exc).__name__}: {exc}", 500)
        if stream:
            return Response(_stream(completion), media_type="text/event-stream")
        return JSONResponse(completion)

    @app.get("/v1/models")
    async def models() -> Response:
        return JSONResponse(
            {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "s3"}]}
        )

    @app.get("/", response_class=HTMLResponse)
    async def page() -> Response:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/api/run")
    async def run_overview() -> Response:
        if run is None:
            return JSONResponse(
                {"detail": "no evaluation run: start the server with --run DIR"}, status_code=404
            )
        return JSONResponse(run.overview())

    @app.get("/api/run/question")
    async def run_question(dataset: str, id: str) -> Response:  # noqa: A002 - the example id
        if run is None:
            return JSONResponse(
                {"detail": "no evaluation run: start the server with --run DIR"}, status_code=404
            )
        try:
            return JSONResponse(run.question(dataset, id))
        except KeyError as exc:
            return JSONResponse({"detail": str(exc.args[0])}, status_code=404)

    if mcp_route is not None:
        app.router.routes.append(mcp_route)
    return app
