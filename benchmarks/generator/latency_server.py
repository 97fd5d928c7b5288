"""A minimal OpenAI-format chat server with a fixed per-request latency and a capacity, for benchmarks.

It models a generator server whose throughput is set by its model, not its CPU: every request
holds one of ``capacity`` slots for ``latency`` seconds, so its limit is ``capacity / latency``
requests per second. HTTP/1.1 keep-alive on plain asyncio streams, so parsing costs almost nothing
and the benchmark measures the client, not the server's web framework.

Run: ``python latency_server.py --port 8123 --latency 0.05 --capacity 8``
"""

from __future__ import annotations

import argparse
import asyncio
import json


async def serve(port: int, latency: float, capacity: int) -> None:
    gate = asyncio.Semaphore(capacity)
    counter = {"n": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if method == "POST" and path.endswith("/chat/completions"):
                    request = json.loads(body)
                    async with gate:
                        await asyncio.sleep(latency)
                    counter["n"] += 1
                    users = [m["content"] for m in request["messages"] if m["role"] == "user"]
                    text = f"answer to {users[-1]}"
                    payload = {
                        "id": f"c{counter['n']}",
                        "object": "chat.completion",
                        "model": request.get("model", ""),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
                    }
                    status, out = "200 OK", json.dumps(payload).encode()
                elif method == "GET" and path == "/health":
                    status, out = "200 OK", b'{"status": "ok"}'
                else:
                    status, out = "404 Not Found", b'{"error": {"message": "not found"}}'
                writer.write(
                    f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(out)}\r\n"
                    f"connection: keep-alive\r\n\r\n".encode()
                    + out
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--capacity", type=int, default=8)
    args = ap.parse_args()
    asyncio.run(serve(args.port, args.latency, args.capacity))


if __name__ == "__main__":
    main()
