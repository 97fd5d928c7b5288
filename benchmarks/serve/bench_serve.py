"""Searches per second through ``s3 serve``'s ``POST /search`` vs the same searcher called in-process.

    python benchmarks/serve/bench_serve.py --work benchmarks/_work/serve --seconds 20
    python benchmarks/serve/bench_serve.py --model runs/searcher --index idx/ --seconds 60   # your searcher

Without ``--model`` a tiny searcher model is built from a config (random weights, tokenizer trained on
the sample corpus) over a BM25 index of the sample corpus (152 passages); every turn then runs to the
token budget (``--max-new-tokens``), so each episode costs the same. Two load levels, each bounded by
``--seconds`` of wall time:

* **1 client**: one question at a time. In-process: ``searcher.search(q)`` in a loop. Served: one
  HTTP client sending ``{"question": q, "trace": false}`` and waiting for each answer.
* **32 clients**: in-process, ``searcher.search_batch`` of 32 questions (the best a caller can do
  alone); served, 32 concurrent HTTP clients, each sending one question per request, which the
  server merges into batched searches.

The server is a separate process on 127.0.0.1 (``python -m s3 serve``, same model, index and budget,
``--device cpu``), started after the in-process runs and stopped at the end. The overhead ratio is
in-process searches/s divided by served searches/s (1.00 = no overhead). Prints JSON and writes it
to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_searcher_files(work: Path) -> tuple[Path, Path]:
    """A tiny searcher model and a BM25 index of the sample corpus under ``work`` (reused if there)."""
    from retrievers.corpus import read_corpus
    from retrievers.data import sample_corpus_path
    from retrievers.factory import build_index
    from s3.tiny_model import build_tiny_model

    model, index = work / "tiny", work / "idx"
    if not (model / "config.json").is_file():
        texts = [f"{d.title}\n{d.text}" for d in read_corpus(sample_corpus_path())]
        build_tiny_model(model, texts=texts, vocab_size=1024, seed=0)
    if not index.is_dir():
        build_index(sample_corpus_path(), index, kind="bm25")
    return model, index


def bench_in_process(
    model: str, index: str, questions: list[str], seconds: float, max_new_tokens: int
) -> dict:
    import torch

    from s3 import Searcher

    torch.set_num_threads(1)
    searcher = Searcher.from_pretrained(model, retriever=index, device="cpu")
    searcher.config.rollout.max_new_tokens_per_turn = max_new_tokens
    searcher.search(questions[0])  # warm-up
    out = {}
    for clients in (1, 32):
        done, start, i = 0, time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            batch = [questions[(i + j) % len(questions)] for j in range(clients)]
            searcher.search_batch(batch)
            done += clients
            i += clients
        elapsed = time.perf_counter() - start
        out[clients] = {
            "searches": done,
            "seconds": round(elapsed, 2),
            "searches_per_s": round(done / elapsed, 3),
        }
    searcher.close()
    return out


async def _load(url: str, questions: list[str], clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(n: int, http: httpx.AsyncClient) -> None:
        nonlocal errors
        i = n
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            response = await http.post(
                url + "/search", json={"question": questions[i % len(questions)], "trace": False}
            )
            if response.status_code != 200 or not response.json()["results"][0]["documents"]:
                errors += 1
            latencies.append(time.perf_counter() - sent)
            i += clients

    start = time.perf_counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=600, limits=limits) as http:
        await asyncio.gather(*(client(n, http) for n in range(clients)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "searches": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 2),
        "searches_per_s": round(len(latencies) / elapsed, 3),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 1),
        "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
    }


def bench_served(
    model: str, index: str, questions: list[str], seconds: float, max_new_tokens: int, log: Path
) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "s3", "serve", "--model", model, "--index", index, "--device", "cpu",
           "--max-new-tokens", str(max_new_tokens), "--no-mcp", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 180
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"s3 serve did not start:\n{log.read_text()}")
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.3)
            httpx.post(url + "/search", json={"question": questions[0]}, timeout=600)  # warm-up
            results = {clients: asyncio.run(_load(url, questions, clients, seconds)) for clients in (1, 32)}
            results["batches"] = httpx.get(url + "/health", timeout=10).json()["searched"]
            return results
        finally:
            proc.terminate()
            proc.wait(30)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--work", default="benchmarks/_work/serve", help="folder for the tiny model and index"
    )
    parser.add_argument(
        "--model", default=None, help="a searcher checkpoint (default: a tiny one built here)"
    )
    parser.add_argument("--index", default=None, help="its index (default: BM25 of the sample corpus)")
    parser.add_argument("--seconds", type=float, default=20.0, help="wall time of each load phase")
    parser.add_argument("--max-new-tokens", type=int, default=24, help="token budget of a searcher turn")
    parser.add_argument("--out", default=None, help="write the JSON here too")
    args = parser.parse_args(argv)

    from retrievers.data import sample_queries

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.model:
        model, index = args.model, args.index
    else:
        model, index = (str(p) for p in build_searcher_files(work))
    questions = [q["question"] for q in sample_queries()]
    in_process = bench_in_process(model, index, questions, args.seconds, args.max_new_tokens)
    served = bench_served(model, index, questions, args.seconds, args.max_new_tokens, work / "serve.log")
    report = {
        "model": model,
        "seconds_per_phase": args.seconds,
        "max_new_tokens": args.max_new_tokens,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "in_process": in_process,
        "served": served,
        "overhead_ratio": {
            c: round(in_process[c]["searches_per_s"] / served[c]["searches_per_s"], 3) for c in (1, 32)
        },
    }
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
