"""Generator-stage throughput: our concurrent client vs one request at a time (as the reference reward does).

A local OpenAI-format server answers every request after a fixed latency and serves at most
``capacity`` requests at once, so its own limit is ``capacity / latency`` requests per second. We
time (1) the sequential baseline: the official synchronous ``openai`` client, one
``chat.completions.create`` after another, and (2) :class:`generators.OpenAIGenerator` sending the
whole batch with its concurrency limit. We report both throughputs, their ratio, and ours as a
fraction of the server's limit (target: at least 0.9).

Run from the repository root::

    python benchmarks/generator/bench_generator.py --n 800 --latency 0.05 --capacity 8
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the tests' server helpers
SERVER = Path(__file__).with_name("latency_server.py")

from local_servers import free_port, wait_healthy  # noqa: E402

from generators import OpenAIGenerator, SamplingParams  # noqa: E402


def start_server(latency: float, capacity: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [
        sys.executable,
        str(SERVER),
        "--port",
        str(port),
        "--latency",
        str(latency),
        "--capacity",
        str(capacity),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", proc, timeout=30)
    except RuntimeError:
        proc.kill()
        raise
    return proc, f"http://127.0.0.1:{port}/v1"


def requests_for(n: int, offset: int = 0) -> list[list[dict[str, str]]]:
    return [
        [
            {"role": "system", "content": "Passages: Doc 1 (Title: X) some retrieved text. Answer briefly."},
            {"role": "user", "content": f"question number {offset + i}?"},
        ]
        for i in range(n)
    ]


def sequential(base_url: str, n: int) -> float:
    """Requests per second of the reference pattern: a blocking call per request."""
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key="EMPTY", timeout=60, max_retries=3)
    reqs = requests_for(n, offset=10**6)
    client.chat.completions.create(model="m", messages=reqs[0], max_tokens=16, temperature=0)  # warm-up
    t0 = time.perf_counter()
    for messages in reqs:
        client.chat.completions.create(model="m", messages=messages, max_tokens=16, temperature=0)
    elapsed = time.perf_counter() - t0
    client.close()
    return n / elapsed


def concurrent(base_url: str, n: int, concurrency: int) -> tuple[float, float]:
    """Requests per second of our client over the whole batch, and its CPU seconds per request."""
    gen = OpenAIGenerator("m", base_url, concurrency=concurrency, timeout=60)
    gen.generate(requests_for(concurrency, offset=2 * 10**6), SamplingParams(max_tokens=16))  # warm-up
    reqs = requests_for(n)
    cpu0, t0 = time.process_time(), time.perf_counter()
    out = gen.generate(reqs, SamplingParams(max_tokens=16))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    assert len(out) == n and out[-1] == f"answer to question number {n - 1}?"
    gen.close()
    return n / elapsed, cpu / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=800, help="requests for the concurrent client")
    ap.add_argument("--seq-n", type=int, default=60, help="requests for the one-at-a-time baseline")
    ap.add_argument("--latency", type=float, default=0.05, help="server seconds per request")
    ap.add_argument("--capacity", type=int, default=8, help="requests the server handles at once")
    ap.add_argument(
        "--concurrency", type=int, nargs="+", default=None, help="client limits (default: capacity, 4x)"
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    limit = args.capacity / args.latency
    proc, base_url = start_server(args.latency, args.capacity)
    try:
        seq = sequential(base_url, args.seq_n)
        rows = []
        for c in args.concurrency or [args.capacity, 4 * args.capacity]:
            thr, cpu = concurrent(base_url, args.n, c)
            rows.append(
                {
                    "concurrency": c,
                    "req_per_s": thr,
                    "vs_sequential": thr / seq,
                    "of_server_limit": thr / limit,
                    "client_cpu_ms_per_req": 1000 * cpu,
                }
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    print(
        f"server: latency {args.latency * 1000:.0f} ms, capacity {args.capacity} -> limit {limit:.0f} req/s"
    )
    print(
        f"one at a time (sync openai client, {args.seq_n} requests): {seq:.1f} req/s ({seq / limit:.3f} of limit)"
    )
    print(
        "| client concurrency | requests | req/s | x one-at-a-time | fraction of server limit | client CPU ms/req |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['concurrency']} | {args.n} | {r['req_per_s']:.1f} | {r['vs_sequential']:.1f}x "
            f"| {r['of_server_limit']:.3f} | {r['client_cpu_ms_per_req']:.2f} |"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"limit": limit, "sequential": seq, "rows": rows, **vars(args)}, default=str)
        )


if __name__ == "__main__":
    main()
