"""The demo's searcher, seed by seed: does GRPO raise its held-out gain beyond RAG?

For each seed, the stages of ``s3 demo`` (embedded task of that seed, BM25 and naive-RAG cache, the
searcher, its warm start, GRPO; :mod:`s3.demo`) run into ``--work/seed-N``, and the searcher before
training, after the warm start and after GRPO is scored greedily on the task's validation split
(never trained on): GenAcc with the offline generator, and the gain beyond RAG (GenAcc minus the
cached naive-RAG GenAcc of the same question), overall and on the 2-hop questions, plus how often the
search names the question's bridge entity. One JSON row per seed goes to ``--out`` (reruns skip
seeds already there); ``--summary`` prints the table in Markdown.

Run from the repository root (one seed: about 6 minutes on 2 cores with native bf16, longer without)::

    python benchmarks/training/bench_demo_searcher.py --seeds 0 1 2 --out benchmarks/training/demo_searcher.jsonl
    python benchmarks/training/bench_demo_searcher.py --summary --out benchmarks/training/demo_searcher.jsonl

Extra ``key=value`` arguments are ``s3 demo`` settings (e.g. ``grpo_steps=20 searcher=tiny``).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

log = logging.getLogger("bench_demo_searcher")


def score(
    model_dir: Path,
    pre: Path,
    rows: list[dict],
    autocast: str | None,
) -> dict[str, float]:
    """Greedy held-out scores of one checkpoint (with the rules it saved)."""
    from evaluation.metrics import span_check
    from generators.offline import ExtractiveReader
    from retrievers.doc import Doc
    from s3.searcher import Searcher

    searcher = Searcher.from_pretrained(
        str(model_dir), retriever=str(pre / "index"), device="cpu", autocast=autocast
    )
    results = searcher.search_batch(
        [r["question"] for r in rows],
        initial_docs=[[Doc.from_dict(d) for d in r["initial_docs"]] for r in rows],
    )
    reader = ExtractiveReader()
    acc = [
        float(span_check(reader.answer(r["question"], x.documents), r["golden_answers"]))
        for r, x in zip(rows, results)
    ]
    gain = [a - float(r["rag_genacc"]) for a, r in zip(acc, rows)]
    two_hop = [i for i, r in enumerate(rows) if (r.get("meta") or {}).get("hops") == 2]
    bridge = [
        any(r["meta"]["bridge"].lower() in q.lower() for q in x.queries)
        for r, x in zip(rows, results)
        if (r.get("meta") or {}).get("hops") == 2
    ]
    return {
        "genacc": 100 * statistics.mean(acc),
        "gbr": 100 * statistics.mean(gain),
        "gbr_2hop": 100 * statistics.mean(gain[i] for i in two_hop) if two_hop else float("nan"),
        "bridge_query_2hop": 100 * statistics.mean(bridge) if bridge else float("nan"),
        "searches": statistics.mean(len(x.queries) for x in results),
    }


def run_seed(seed: int, work: Path, overrides: list[str]) -> dict:
    from s3.config import load_config
    from s3.demo import DemoConfig, base_model, build_task, precompute, train, use_bf16, warm_start

    cfg = load_config(
        DemoConfig,
        overrides=[f"run_dir={work / f'seed-{seed}'}", f"seed={seed}", "progress=false", *overrides],
    )
    run = Path(cfg.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    times = {}
    t = time.perf_counter()
    task = build_task(cfg, run)
    pre = precompute(cfg, run, task)
    base = base_model(cfg, run, task)
    times["setup_s"] = time.perf_counter() - t
    t = time.perf_counter()
    warm = warm_start(cfg, run, base, pre)
    times["warmstart_s"] = time.perf_counter() - t
    t = time.perf_counter()
    trained = train(cfg, run, warm, pre)
    times["grpo_s"] = time.perf_counter() - t
    rows = [json.loads(line) for line in (pre / "val.jsonl").open(encoding="utf-8") if line.strip()]
    autocast = "bf16" if use_bf16(cfg) else None
    out = {"seed": seed, "searcher": cfg.searcher, "overrides": overrides, "n": len(rows), **times}
    for name, model in (("untrained", base), ("warm", warm), ("grpo", trained)):
        out[name] = score(model, pre, rows, autocast)
        log.info("seed %d %s: %s", seed, name, out[name])
    return out


def summary(rows: list[dict]) -> str:
    lines = [
        "| seed | untrained GBR | warm start GBR | after GRPO GBR | GRPO adds | 2-hop bridge query: warm -> GRPO | GenAcc: warm -> GRPO |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        u, w, g = r["untrained"], r["warm"], r["grpo"]
        lines.append(
            f"| {r['seed']} | {u['gbr']:+.1f} | {w['gbr']:+.1f} | {g['gbr']:+.1f} | {g['gbr'] - w['gbr']:+.1f} | "
            f"{w['bridge_query_2hop']:.0f}% -> {g['bridge_query_2hop']:.0f}% | {w['genacc']:.1f} -> {g['genacc']:.1f} |"
        )
    if len(rows) > 1:
        adds = [r["grpo"]["gbr"] - r["warm"]["gbr"] for r in rows]
        warm = [r["warm"]["gbr"] for r in rows]
        lines.append(
            f"\nGRPO adds {statistics.mean(adds):+.1f} points of held-out GBR on average (min {min(adds):+.1f}); "
            f"the warm start's GBR spreads over {max(warm) - min(warm):.1f} points across seeds "
            f"(standard deviation {statistics.stdev(warm):.1f})."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--work", default="runs/bench-demo-searcher")
    parser.add_argument("--out", default="benchmarks/training/demo_searcher.jsonl")
    parser.add_argument("--summary", action="store_true", help="print the table of --out and exit")
    parser.add_argument("overrides", nargs="*", help="s3 demo settings, key=value")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = Path(args.out)
    done = [json.loads(line) for line in out.open(encoding="utf-8")] if out.exists() else []
    if not args.summary:
        for seed in args.seeds:
            if any(r["seed"] == seed and r["overrides"] == args.overrides for r in done):
                continue
            row = run_seed(seed, Path(args.work), args.overrides)
            with out.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            done.append(row)
    print(summary([r for r in done if r["overrides"] == args.overrides]))


if __name__ == "__main__":
    main()
