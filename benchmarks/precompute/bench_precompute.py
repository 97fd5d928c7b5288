"""Benchmark the precompute stage: where the time goes, and how close it gets to the generator's limit.

Two runs:

1. the embedded task (900 questions) with the in-process offline reader (no network);
2. N generated questions (default 10,000, from a larger embedded-task world) against the reader
   served over the OpenAI chat API with a fixed per-request latency and a capacity (requests served
   at once), through the project's OpenAI client. The server's own limit is capacity / latency
   requests per second; the reference implementation calls the generator one request at a time,
   which is measured on a sample with the same client at concurrency 1 and extrapolated.

Run (about 2 minutes on 2 CPU cores):

    python benchmarks/precompute/bench_precompute.py --out runs/bench-precompute

Prints a Markdown table and writes ``results.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the tests' server helpers

from local_servers import reader_server  # noqa: E402

from generators.factory import load_generator  # noqa: E402
from s3.precompute import PrecomputeConfig, load_examples, open_retriever, run_precompute  # noqa: E402
from s3.task import EmbeddedTaskConfig, WorldConfig, build_embedded_task  # noqa: E402


def run(cfg: PrecomputeConfig) -> dict:
    shutil.rmtree(cfg.output_dir, ignore_errors=True)
    t = time.perf_counter()
    summary = run_precompute(cfg)
    summary["wall"] = time.perf_counter() - t
    return summary


def sequential_rate(base: str, cfg: PrecomputeConfig, sample: int) -> float:
    """Questions per second when each generator request waits for the previous one (the reference)."""
    examples, _ = load_examples(cfg)
    examples = examples[:sample]
    retriever = open_retriever(cfg)
    docs = retriever.search([e.question for e in examples], cfg.k)
    gen = load_generator({"kind": "openai", "model": "reader", "base_url": f"{base}/v1", "concurrency": 1})
    t = time.perf_counter()
    for ex, d in zip(examples, docs):
        gen.answer_batch([ex.question], [d])
    elapsed = time.perf_counter() - t
    gen.close()
    retriever.close()
    return len(examples) / elapsed


def client_only_rate(base: str, cfg: PrecomputeConfig, sample: int, concurrency: int) -> float:
    """Questions per second of the bare concurrent client on prepared requests (no retrieval, no files)."""
    examples, _ = load_examples(cfg)
    examples = examples[:sample]
    retriever = open_retriever(cfg)
    docs = retriever.search([e.question for e in examples], cfg.k)
    retriever.close()
    gen = load_generator(
        {"kind": "openai", "model": "reader", "base_url": f"{base}/v1", "concurrency": concurrency}
    )
    t = time.perf_counter()
    gen.answer_batch([e.question for e in examples], docs)
    elapsed = time.perf_counter() - t
    gen.close()
    return len(examples) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/bench-precompute")
    ap.add_argument("--questions", type=int, default=10_000)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds per generator request")
    ap.add_argument("--capacity", type=int, default=64, help="requests the server serves at once")
    ap.add_argument("--concurrency", type=int, default=64, help="client requests in flight")
    ap.add_argument("--chunk-size", type=int, default=256)
    ap.add_argument("--sequential-sample", type=int, default=100)
    args = ap.parse_args()
    out = Path(args.out)
    results: dict = {"args": vars(args)}

    # 1. the embedded task, in-process offline reader
    task = build_embedded_task(out / "task", seed=0)
    s = run(PrecomputeConfig(task_dir=str(task), output_dir=str(out / "embedded"), progress=False))
    results["embedded"] = {"questions": s["questions"], "wall": s["wall"], "seconds": s["seconds"]}

    # 2. N generated questions against a served reader with fixed latency
    n = args.questions
    world = WorldConfig(n_organisations=max(360, n // 3), n_cities=250, n_countries=30)
    big = build_embedded_task(
        out / "task-big",
        config=EmbeddedTaskConfig(
            seed=1, train=n - 2 * (n // 10), val=n // 10, test=n // 10, one_hop_fraction=0.05, world=world
        ),
    )
    server = reader_server(args.latency, args.capacity)
    base = server.url
    try:
        cfg = PrecomputeConfig(
            task_dir=str(big),
            output_dir=str(out / "served"),
            chunk_size=args.chunk_size,
            inflight_chunks=2,
            progress=False,
            generator={
                "kind": "openai",
                "model": "reader",
                "base_url": f"{base}/v1",
                "concurrency": args.concurrency,
            },
        )
        # build the BM25 index once, outside the timed run (it is reused by the timed run)
        t = time.perf_counter()
        shutil.rmtree(cfg.output_dir, ignore_errors=True)
        open_retriever(cfg).close()
        index_s = time.perf_counter() - t
        examples, _ = load_examples(cfg)
        t = time.perf_counter()
        s = run_precompute(cfg)
        wall = time.perf_counter() - t
        seq = sequential_rate(base, cfg, args.sequential_sample)
        bare = client_only_rate(base, cfg, min(2000, n), args.concurrency)
    finally:
        server.stop()
    limit = args.capacity / args.latency
    results["served"] = {
        "questions": s["questions"],
        "corpus": json.loads((big / "task.json").read_text())["corpus_size"],
        "index_build_s": index_s,
        "wall": wall,
        "seconds": s["seconds"],
        "throughput_qps": s["questions"] / wall,
        "server_limit_qps": limit,
        "sequential_qps": seq,
        "bare_client_qps": bare,
        "sequential_extrapolated_s": s["questions"] / seq,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    e, r = results["embedded"], results["served"]
    print("| run | questions | wall s | retrieval s | generator s | scoring s | io s |")
    print("|---|---|---|---|---|---|---|")
    for name, x in (
        ("embedded, offline reader in-process", e),
        (f"generated, served reader ({args.latency * 1000:.0f} ms)", r),
    ):
        sec = x["seconds"]
        print(f"| {name} | {x['questions']} | {x['wall']:.2f} | {sec.get('retrieval', 0):.2f} | "
              f"{sec.get('generator', 0):.2f} | {sec.get('scoring', 0):.2f} | {sec.get('io', 0):.2f} |")  # fmt: skip
    print()
    print(f"served: {r['throughput_qps']:.0f} q/s = {r['throughput_qps'] / limit:.0%} of the server's limit "
          f"({limit:.0f} q/s) and {r['throughput_qps'] / bare:.0%} of the bare client's rate ({bare:.0f} q/s); "
          f"one request at a time: {seq:.1f} q/s -> {r['sequential_extrapolated_s']:.0f} s "
          f"for {r['questions']} ({r['sequential_extrapolated_s'] / r['wall']:.0f}x slower); "
          f"index build {index_s:.1f} s for {r['corpus']} passages")  # fmt: skip


if __name__ == "__main__":
    main()
