"""Where a GRPO training step's time goes, and what the reward stage's concurrency buys.

Part 1 (``step``): a few GRPO steps of the ``tiny`` preset on the embedded task (CPU, offline
generator), each split into policy generation, retrieval, the rest of the rollout, the reward
(generator + GenAcc) and the update (log-probabilities, loss, backward, optimizer: the step's
remaining time). Figures come from the trainer's own metrics (``time/*`` and ``step_time``).

Part 2 (``reward``): the reward stage on one batch of distinct (question, context) pairs against a
local OpenAI-format server that answers each request after a fixed latency: the s3 reward (one
concurrent batched call) vs the reference pattern (one blocking call per trajectory).

Run from the repository root::

    python benchmarks/training/bench_training_step.py --steps 4 --batch 64 --latency 0.05
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "s3"))
sys.path.insert(0, str(ROOT / "tests"))  # the tests' server helpers
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def step_breakdown(root: Path, steps: int, warmstart_steps: int) -> dict[str, float]:
    from train_fixtures import build_embedded_run, tiny_overrides

    from s3.config import load_config
    from s3.train.config import load_train_config
    from s3.train.trainer import train
    from s3.train.warmstart import WarmstartConfig, warmstart

    run = build_embedded_run(root / "run")
    cfg = load_train_config(
        preset="tiny", overrides=tiny_overrides(run, root / "out", **{"grpo.max_steps": steps + 1})
    )
    if warmstart_steps:  # a searcher that keeps the format, so steps search and select as in training
        ws = load_config(
            WarmstartConfig,
            overrides=[f"model={run['model']}", f"retriever={run['index']}", f"train_file={run['train']}",
                       f"output_dir={root / 'ws'}", f"protocol={cfg.protocol}", f"max_steps={warmstart_steps}",
                       "learning_rate=2e-3", "device=cpu", "progress=false"],
        )  # fmt: skip
        ws.episode = cfg.episode
        cfg.model = str(warmstart(ws))
    logs = [h for h in train(cfg)["log_history"] if "step_time" in h][1:]  # drop the warm-up step
    mean = {k: sum(h[k] for h in logs) / len(logs) for k in logs[0] if isinstance(logs[0][k], (int, float))}
    out = {
        "trajectories_per_step": cfg.grpo.questions_per_step * cfg.grpo.num_generations,
        "step_s": mean["step_time"],
        "policy_generate_s": mean["time/policy_generate_s"],
        "retrieval_s": mean["time/retrieval_s"],
        "rollout_other_s": mean["time/rollout_s"] - mean["time/policy_generate_s"] - mean["time/retrieval_s"],
        "reward_s": mean["time/reward_s"],
    }
    out["update_s"] = out["step_s"] - mean["time/rollout_s"] - out["reward_s"]
    return out


def reward_concurrency(batch: int, latency: float, capacity: int, concurrency: int) -> dict[str, float]:
    from local_servers import reader_server

    from generators import OpenAIGenerator
    from retrievers.doc import Doc
    from s3.reward import RewardConfig, SearchReward, ZeroBaseline

    server = reader_server(latency, capacity, timeout=60)
    try:
        base = f"{server.url}/v1"
        import random

        from s3.task.names import NameFactory

        names = NameFactory(random.Random(0))
        orgs = [f"{names.person().split()[0]} Industries" for _ in range(batch)]
        founders = [names.person() for _ in range(batch)]
        questions = [f"Who founded {org}?" for org in orgs]
        contexts = [
            [Doc(str(i), org, f"{org} is a company founded by {who}.")]
            for i, (org, who) in enumerate(zip(orgs, founders))
        ]
        golds = [[who] for who in founders]
        cfg = RewardConfig(kind="gbr", memo_size=0)

        def timed(gen, serial: bool) -> tuple[float, float]:
            reward = SearchReward(gen, cfg, baseline=ZeroBaseline())
            t0 = time.perf_counter()
            if serial:
                parts = [reward.score([q], [g], [c])[0] for q, g, c in zip(questions, golds, contexts)]
            else:
                parts = reward.score(questions, golds, contexts)
            return time.perf_counter() - t0, sum(p.genacc for p in parts) / len(parts)

        with OpenAIGenerator("reader", base, concurrency=1) as gen:
            serial_s, serial_acc = timed(gen, serial=True)
        with OpenAIGenerator("reader", base, concurrency=concurrency) as gen:
            batched_s, batched_acc = timed(gen, serial=False)
    finally:
        server.stop()
    assert serial_acc == batched_acc, (serial_acc, batched_acc)
    return {
        "batch": batch,
        "latency_s": latency,
        "server_capacity": capacity,
        "client_concurrency": concurrency,
        "serial_s": serial_s,
        "concurrent_s": batched_s,
        "speedup": serial_s / batched_s,
        "genacc": batched_acc,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=4, help="timed GRPO steps (after one warm-up step)")
    ap.add_argument("--batch", type=int, default=64, help="trajectories in the reward batch")
    ap.add_argument("--latency", type=float, default=0.05, help="seconds per generator request")
    ap.add_argument("--capacity", type=int, default=32, help="requests the server serves at once")
    ap.add_argument("--concurrency", type=int, default=32, help="requests the s3 reward keeps in flight")
    ap.add_argument(
        "--warmstart-steps", type=int, default=40, help="SFT steps before timing (0: random model)"
    )
    ap.add_argument("--parts", default="step,reward", help="which parts to run")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        if "step" in args.parts:
            results["step"] = step_breakdown(Path(tmp), args.steps, args.warmstart_steps)
        if "reward" in args.parts:
            results["reward"] = reward_concurrency(args.batch, args.latency, args.capacity, args.concurrency)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
