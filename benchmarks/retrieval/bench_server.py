"""Server throughput under concurrent clients: our /retrieve server vs the reference design.

    python benchmarks/retrieval/bench_server.py --work benchmarks/_work/retrieval --with-lucene

Starts each server as a process on 127.0.0.1 and runs load phases against it: 32 concurrent
clients sending one query per request, 1 client sending 32 queries per request (what a training
loop sends) and 1 client sending one query (latency), payload
``{"queries": [...], "topk": 3, "return_scores": true}``. The servers run in turn, round after
round (every other round in reverse order), so load drifts on a shared machine hit all of them.

Servers: ``ours`` (``s3 serve-retriever``, default settings), ``ours_2proc`` (``--workers 2``),
``reference`` (``reference_server.py``: one synchronous FastAPI endpoint with pydantic models on one
uvicorn worker, searching a request's queries one by one, on plain uvicorn = asyncio + h11),
``reference_uvloop`` (the same with uvloop + httptools, i.e. the same HTTP stack as ours),
``reference_lucene`` (the reference design on pyserini's Lucene index, ``--with-lucene``), and the
``dummy_*`` variants of ours and the reference, which answer every query with the same three
documents and so measure each design's HTTP ceiling without any search.

Clients are raw asyncio HTTP/1.1 keep-alive connections sending pre-built requests (one process
per 16 connections), so load generation costs little CPU; every response's status is checked and
every 50th response is parsed and checked for the right number of result lists. Reports requests/s,
queries/s, p50/p99 latency, and the CPU used per second by the clients and by the server process
tree (``server_cpu_ms_per_request`` is the cost per request, the figure least distorted by other
load on the machine). Prints JSON (and writes it to ``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))  # the tests' server helpers
from local_servers import free_port  # noqa: E402

PHASES = ((32, 1), (1, 32), (1, 1))  # (concurrent clients, queries per request)
CLIENTS_PER_PROCESS = 16


# ---- constant-answer backend: the HTTP ceiling of each design ------------------------------------------
def dummy_docs(k: int = 3) -> list[dict]:
    """Three documents the size of the benchmark corpus' passages (~65 words)."""
    words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor".split()
    return [
        {"id": str(i), "title": f"title {i}", "text": " ".join(words[j % len(words)] for j in range(65))}
        for i in range(k)
    ]


def dummy_app():
    """Our server (same code path, ``create_app``) on a retriever that returns ``dummy_docs``."""
    from retrievers.base import Retriever
    from retrievers.doc import Doc
    from retrievers.server import create_app

    class Constant(Retriever):
        docs = [Doc(d["id"], d["title"], d["text"], score=1.0 - 0.1 * i) for i, d in enumerate(dummy_docs())]

        def search(self, queries, k):
            return [self.docs[:k] for _ in queries]

    return create_app(Constant())


def serve_dummy(port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "bench_server:dummy_app", factory=True, workers=workers, app_dir=str(HERE),
        host="127.0.0.1", port=port, log_level="warning", access_log=False,
    )  # fmt: skip


# ---- load generation ---------------------------------------------------------------------------------
def _request_bytes(port: int, batch: list[str]) -> bytes:
    body = json.dumps({"queries": batch, "topk": 3, "return_scores": True}).encode()
    head = (
        f"POST /retrieve HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _connection(port, requests, per_request, start, stop, latencies, checks, errors):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await asyncio.sleep(max(0.0, start - time.time()))
    i = 0
    while time.time() < stop:
        t = time.perf_counter()
        writer.write(requests[i % len(requests)])
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        at = lower.index(b"content-length:") + 15
        length = int(lower[at : lower.index(b"\r\n", at)])
        body = await reader.readexactly(length)
        latencies.append(time.perf_counter() - t)
        if status != 200:
            errors.append(f"HTTP {status}: {body[:200]!r}")
            break
        if i % 50 == 0:
            result = json.loads(body)["result"]
            checks.append(len(result) == per_request and all(len(hits) == 3 for hits in result))
        i += 1
    writer.close()


def _client_process(port, queries, n_conn, per_request, start, stop, offset, out) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    latencies: list[float] = []
    checks: list[bool] = []
    errors: list[str] = []

    async def run():
        tasks = []
        for c in range(n_conn):
            first = offset + c * 7919
            reqs = [
                _request_bytes(port, [queries[(first + r * per_request + j) % len(queries)] for j in range(per_request)])
                for r in range(200)
            ]  # fmt: skip
            tasks.append(_connection(port, reqs, per_request, start, stop, latencies, checks, errors))
        await asyncio.gather(*tasks)

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    asyncio.run(run())
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    out.put((latencies, checks, errors, cpu))


def _tree_cpu(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def load(
    server: psutil.Process, port: int, queries: list[str], clients: int, per_request: int, seconds: float
):
    """One phase: ``clients`` connections for ``seconds``; returns throughput, latency and CPU figures."""
    n_procs = max(1, clients // CLIENTS_PER_PROCESS)
    queue: mp.Queue = mp.Queue()
    start = time.time() + 1.0  # connections open and processes start before the clock runs
    stop = start + seconds
    procs = [
        mp.Process(
            target=_client_process,
            args=(port, queries, clients // n_procs, per_request, start, stop, p * 100003, queue),
        )
        for p in range(n_procs)
    ]
    for p in procs:
        p.start()
    time.sleep(max(0.0, start - time.time()))
    server_cpu0, t0 = _tree_cpu(server), time.time()
    parts = [queue.get() for _ in procs]
    server_cpu = _tree_cpu(server) - server_cpu0
    wall = time.time() - t0
    for p in procs:
        p.join()
    lat = sorted(x for part in parts for x in part[0])
    checks = [c for part in parts for c in part[1]]
    errors = [e for part in parts for e in part[2]]
    if errors or not all(checks):
        raise RuntimeError(f"bad answers: {errors[:3]} checks ok {sum(checks)}/{len(checks)}")
    n = len(lat)
    return {
        "clients": clients, "queries_per_request": per_request,
        "requests_per_s": round(n / seconds, 1), "queries_per_s": round(n * per_request / seconds, 1),
        "p50_ms": round(1000 * lat[n // 2], 2), "p99_ms": round(1000 * lat[min(n - 1, int(n * 0.99))], 2),
        "client_cpu_per_s": round(sum(part[3] for part in parts) / seconds, 2),
        "server_cpu_per_s": round(server_cpu / wall, 2),
        "server_cpu_ms_per_request": round(1000 * server_cpu / max(n, 1), 3),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }  # fmt: skip


def start(cmd: list[str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(900):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{cmd} did not start")


def server_commands(work: Path) -> dict:
    py, ref, bm25 = sys.executable, str(HERE / "reference_server.py"), str(work / "bm25")
    return {
        "ours": lambda p: [py, "-m", "s3", "serve-retriever", "--index", bm25, "--port", str(p)],
        "ours_2proc": lambda p: [py, "-m", "s3", "serve-retriever", "--index", bm25, "--port", str(p), "--workers", "2"],
        "reference": lambda p: [py, ref, "--index", bm25, "--port", str(p)],
        "reference_uvloop": lambda p: [py, ref, "--index", bm25, "--port", str(p), "--fast-http"],
        "reference_lucene": lambda p: [py, ref, "--lucene", str(work / "lucene"), "--port", str(p)],
        "dummy_ours": lambda p: [py, __file__, "--serve-dummy", str(p), "--dummy-workers", "auto"],
        "dummy_ours_2proc": lambda p: [py, __file__, "--serve-dummy", str(p), "--dummy-workers", "2"],
        "dummy_reference": lambda p: [py, ref, "--dummy", "--port", str(p)],
        "dummy_reference_uvloop": lambda p: [py, ref, "--dummy", "--port", str(p), "--fast-http"],
    }  # fmt: skip


def summarize(results: dict[str, list]) -> str:
    """A markdown table: per server and phase, queries/s of every run, mean p50/p99 and CPU."""
    lines = [
        "| server | clients x queries | queries/s (each run) | req/s (mean) | p50 / p99 ms (mean) "
        "| server CPU ms/request | server cores used | client cores used |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        for i, (clients, per_request) in enumerate(PHASES):
            phase = [run[i] for run in runs]

            def mean(key, phase=phase):
                return sum(p[key] for p in phase) / len(phase)

            qps = ", ".join(f"{p['queries_per_s']:.0f}" for p in phase)
            lines.append(
                f"| {name} | {clients} x {per_request} | {qps} | {mean('requests_per_s'):.0f} "
                f"| {mean('p50_ms'):.1f} / {mean('p99_ms'):.1f} | {mean('server_cpu_ms_per_request'):.2f} "
                f"| {mean('server_cpu_per_s'):.2f} | {mean('client_cpu_per_s'):.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default="benchmarks/_work/retrieval")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each load phase")
    parser.add_argument("--repeat", type=int, default=2, help="rounds over all servers (order alternates)")
    parser.add_argument(
        "--servers", default="ours,ours_2proc,reference,reference_uvloop,dummy_ours,dummy_ours_2proc,dummy_reference,dummy_reference_uvloop"
    )  # fmt: skip
    parser.add_argument("--with-lucene", action="store_true", help="add reference_lucene")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    parser.add_argument("--summarize", default=None, help="print the table for a saved --out JSON and exit")
    parser.add_argument("--serve-dummy", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--dummy-workers", default="auto", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_dummy is not None:
        auto = max(1, min(8, (os.cpu_count() or 1) // 2))  # the rule of retrievers.server.default_workers
        n = auto if args.dummy_workers == "auto" else int(args.dummy_workers)
        serve_dummy(args.serve_dummy, n)
        return
    if args.summarize:
        print(summarize(json.loads(Path(args.summarize).read_text())))
        return
    work = Path(args.work)
    queries = [json.loads(line)["query"] for line in open(work / "queries.jsonl")]
    commands = server_commands(work)
    names = args.servers.split(",") + (["reference_lucene"] if args.with_lucene else [])
    results: dict[str, list] = {name: [] for name in names}
    for r in range(args.repeat):
        for name in names if r % 2 == 0 else names[::-1]:
            port = free_port()
            proc = start(commands[name](port), port)
            try:
                server = psutil.Process(proc.pid)
                load(server, port, queries, 8, 1, 1.5)  # warm-up (JIT, page cache, connections)
                phases = [load(server, port, queries, c, q, args.seconds) for c, q in PHASES]
                results[name].append(phases)
                print(name, json.dumps(phases), flush=True, file=sys.stderr)
            finally:
                proc.terminate()
                proc.wait(15)
    text = json.dumps(results, indent=1)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    print(summarize(results))


if __name__ == "__main__":
    main()
