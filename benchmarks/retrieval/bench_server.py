"""Server throughput under concurrent clients: our /retrieve server vs the reference design.

    python benchmarks/retrieval/bench_server.py --work benchmarks/_work/retrieval

Starts each server as a process on 127.0.0.1, then runs load phases: 1, 8 and 32 concurrent
clients sending one query per request, and 1 client sending 32 queries per request (what a
training loop sends), payload ``{"queries": [...], "topk": 3, "return_scores": true}``. Clients run
in 2 processes of asyncio + httpx and share the machine's cores with the server, so the figures
are lower bounds for the server alone. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _clients(
    url: str, queries: list[str], n_clients: int, per_request: int, seconds: float, offset: int
):
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=n_clients, max_keepalive_connections=n_clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one(cid: int):
            i = offset + cid * 7919
            while time.perf_counter() < stop:
                batch = [queries[(i + j) % len(queries)] for j in range(per_request)]
                i += per_request
                t = time.perf_counter()
                r = await client.post(url, json={"queries": batch, "topk": 3, "return_scores": True})
                r.raise_for_status()
                latencies.append(time.perf_counter() - t)

        await asyncio.gather(*(one(c) for c in range(n_clients)))
    return latencies


def _client_process(args, out):
    out.put(asyncio.run(_clients(*args)))


def load(url: str, queries: list[str], clients: int, per_request: int, seconds: float) -> dict:
    procs_n = 2 if clients >= 8 else 1
    queue: mp.Queue = mp.Queue()
    procs = [
        mp.Process(
            target=_client_process,
            args=((url, queries, clients // procs_n, per_request, seconds, p * 100003), queue),
        )
        for p in range(procs_n)
    ]
    for p in procs:
        p.start()
    lat = sorted(x for _ in procs for x in queue.get())
    for p in procs:
        p.join()
    n = len(lat)
    return {
        "clients": clients, "queries_per_request": per_request, "requests_per_s": round(n / seconds, 1),
        "queries_per_s": round(n * per_request / seconds, 1),
        "p50_ms": round(1000 * lat[n // 2], 1), "p99_ms": round(1000 * lat[min(n - 1, int(n * 0.99))], 1),
    }  # fmt: skip


def start(cmd: list[str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{cmd} did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default="benchmarks/_work/retrieval")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=2, help="alternate the servers this many times")
    parser.add_argument(
        "--with-lucene", action="store_true", help="also run the reference design on pyserini"
    )
    args = parser.parse_args()
    work = Path(args.work)
    queries = [json.loads(line)["query"] for line in open(work / "queries.jsonl")]
    here = Path(__file__).resolve().parent
    servers = {
        "ours": lambda port: [sys.executable, "-m", "s3", "serve-retriever", "--index", str(work / "bm25"), "--port", str(port)],
        "reference_design": lambda port: [sys.executable, str(here / "reference_server.py"), "--index", str(work / "bm25"), "--port", str(port)],
    }  # fmt: skip
    if args.with_lucene:
        servers["reference_design_lucene"] = lambda port: [
            sys.executable, str(here / "reference_server.py"), "--lucene", str(work / "lucene"), "--port", str(port)
        ]  # fmt: skip
    results: dict[str, list] = {name: [] for name in servers}
    for _, (name, make_cmd) in ((r, item) for r in range(args.repeat) for item in servers.items()):
        port = free_port()
        proc = start(make_cmd(port), port)
        url = f"http://127.0.0.1:{port}/retrieve"
        try:
            load(url, queries, 8, 1, 2.0)  # warm up
            phases = ((1, 1), (8, 1), (32, 1), (1, 32))
            results[name].append([load(url, queries, c, q, args.seconds) for c, q in phases])
        finally:
            proc.terminate()
            proc.wait(10)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
