"""Benchmark: the rollout's own overhead per turn per episode (time outside the model and the retriever).

Builds a tiny random Qwen2 searcher and a BM25 index over a synthetic corpus, runs ``run_rollout``
at several batch sizes, and splits wall time into policy generation, retrieval and the rest (the
rollout's tokenising, stop-cutting, parsing and bookkeeping). Target: overhead < 5% of a turn's time.

    OMP_NUM_THREADS=1 python benchmarks/rollout/bench_rollout.py                  # batch 1, 32, 256
    OMP_NUM_THREADS=1 python benchmarks/rollout/bench_rollout.py --batch 1 32 --max-new-tokens 64
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path


def synthetic_corpus(n: int, seed: int = 0):
    from retrievers.doc import Doc

    rng = random.Random(seed)
    words = [f"w{i}" for i in range(3000)]
    return [Doc(str(i), f"Title {i}", " ".join(rng.choices(words, k=60))) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument(
        "--max-new-tokens", type=int, default=100, help="tokens per turn (fixed: no early stop)"
    )
    parser.add_argument("--docs", type=int, default=5000, help="corpus size")
    parser.add_argument("--preset", default="8-3-3")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--chunk", type=int, default=32, help="the backend generates at most this many rows at once"
    )
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from retrievers.bm25 import BM25Retriever
    from s3.policy.hf import HFPolicy
    from s3.presets import episode_preset
    from s3.protocol import S3Protocol
    from s3.rollout import RolloutConfig, RolloutStats, run_rollout
    from s3.tiny_model import build_tiny_model

    corpus = synthetic_corpus(args.docs)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_model(
            Path(tmp) / "model", texts=[d.text for d in corpus[:500]], vocab_size=1024
        )
        policy = HFPolicy.from_pretrained(str(model_dir), device="cpu", max_batch_size=args.chunk)
        retriever = BM25Retriever.build(corpus, Path(tmp) / "bm25")
        ecfg = episode_preset(args.preset)
        # a random model rarely writes a stop string, so every turn samples max_new_tokens tokens
        rcfg = RolloutConfig(max_new_tokens_per_turn=args.max_new_tokens, temperature=1.0, top_p=1.0, seed=0)
        rng = random.Random(1)
        print(
            f"torch {torch.__version__}, threads {torch.get_num_threads()}, preset {args.preset}, "
            f"max_new_tokens {args.max_new_tokens}, corpus {args.docs} docs"
        )
        print(
            "| batch | episode-turns | total s | generate s | search s | overhead s | overhead / episode-turn (ms) "
            "| overhead share of a turn |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for batch in args.batch:
            questions = [
                " ".join(rng.choices([f"w{i}" for i in range(3000)], k=8)) + "?" for _ in range(batch)
            ]
            best = None
            for _ in range(args.repeats):
                stats = RolloutStats()
                t0 = time.perf_counter()
                run_rollout(
                    policy,
                    retriever,
                    S3Protocol(),
                    questions,
                    episode_cfg=ecfg,
                    rollout_cfg=rcfg,
                    stats=stats,
                )
                assert abs(stats.total_s - (time.perf_counter() - t0)) < 0.5
                if best is None or stats.overhead_s < best.overhead_s:
                    best = stats
            s = best
            per = 1000 * s.overhead_s / max(1, s.episode_turns)
            share = s.overhead_s / s.total_s
            print(
                f"| {batch} | {s.episode_turns} | {s.total_s:.2f} | {s.generate_s:.2f} | {s.search_s:.3f} | "
                f"{s.overhead_s:.3f} | {per:.2f} | {100 * share:.2f}% |",
                flush=True,
            )


if __name__ == "__main__":
    main()
