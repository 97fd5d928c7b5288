"""A small OpenAI-format chat server with injectable latency and failures (tests and benchmarks).

Run as a process: ``python stub_openai_server.py --port 8123 --latency 0.05 --capacity 8``.
``POST /v1/chat/completions`` answers ``"[<name>] <last user message>"`` (the stop strings are
kept in the output, as ``transformers serve`` does). Latency is held inside a semaphore of
``capacity`` slots, so the server's own limit is ``capacity / latency`` requests per second.
``--fail-first N`` answers the first N requests with ``--fail-status``; ``--fail-status`` with
``--fail-first -1`` fails every request; ``--retry-after S`` sends ``Retry-After: S`` with each failure. ``GET /stats`` reports requests seen, the most in flight at
once and the last Authorization header's hash; ``POST /reset`` clears the counters.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from generators.offline import chat_completion, hold_slot


def build_app(
    name: str,
    latency: float,
    capacity: int,
    fail_first: int,
    fail_status: int,
    retry_after: str | None = None,
) -> FastAPI:
    app = FastAPI()
    gate = asyncio.Semaphore(capacity)
    state = {"requests": 0, "in_flight": 0, "max_in_flight": 0, "auth_sha256": None, "bodies": []}

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/stats")
    async def stats() -> dict:
        return {k: v for k, v in state.items() if k != "bodies"} | {
            "last_body": (state["bodies"] or [None])[-1]
        }

    @app.post("/reset")
    async def reset() -> dict:
        state.update(requests=0, max_in_flight=0, bodies=[])
        return {"ok": True}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        state["requests"] += 1
        n = state["requests"]
        auth = request.headers.get("authorization", "")
        state["auth_sha256"] = hashlib.sha256(auth.encode()).hexdigest()
        state["bodies"] = [*state["bodies"][-9:], body]
        if fail_first < 0 or n <= fail_first:
            headers = {"Retry-After": retry_after} if retry_after else None
            return JSONResponse(
                {"error": {"message": f"injected failure {n}"}}, status_code=fail_status, headers=headers
            )
        await hold_slot(gate, state, latency)
        messages = body.get("messages", [])
        users = [m["content"] for m in messages if m.get("role") == "user"]
        return chat_completion(f"[{name}] {users[-1] if users else ''}", body.get("model", ""), n, messages)

    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", default="stub")
    ap.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    ap.add_argument("--capacity", type=int, default=1000, help="requests served at once")
    ap.add_argument("--fail-first", type=int, default=0, help="fail the first N requests (-1: all)")
    ap.add_argument("--fail-status", type=int, default=500)
    ap.add_argument("--retry-after", default=None, help="Retry-After header of each failure")
    args = ap.parse_args()
    app = build_app(
        args.name, args.latency, args.capacity, args.fail_first, args.fail_status, args.retry_after
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
