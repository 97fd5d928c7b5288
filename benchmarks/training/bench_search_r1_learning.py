"""Search-R1 mode, seed by seed: does GRPO raise a tiny model's own held-out exact match?

Two settings on the embedded task (a world of 3 countries, questions "In which country is CITY?"):

* ``reading`` (the setting of ``tests/s3/test_train_r1.py``): the first retrieved document is in the
  prompt; a 2,048-token vocabulary.
* ``searching``: no document in the prompt, so the policy must write the city's name into its one
  ``<search>`` and answer from what comes back; a 400-token vocabulary (names split into pieces shared
  with training names, which is what lets a tiny model learn to copy them) and a longer warm start.

The recipe is the same in both: a warm start on clean demonstrations (the policy learns the tags, and
to search and read), a short fine-tune at a lower learning rate on demonstrations of which 60% answer
with a document-blind guess (the most common training answer), then GRPO on the exact-match reward,
which must remove that bias. Held-out: 48 questions, greedy EM, the sampling policy's expected EM (4
seeded samples a question at temperature 1) and, in the searching setting, how often the first query
is exactly the question's city. Results go to ``--out`` (one JSON row a seed; reruns skip done seeds).

Run from the repository root (one seed: about 2 minutes reading, 5-7 minutes searching, on one core)::

    python benchmarks/training/bench_search_r1_learning.py --setting searching --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

log = logging.getLogger("bench_search_r1_learning")

SETTINGS = {
    "reading": {"initial_k": 1, "vocab": 2048, "clean_steps": 150},
    "searching": {"initial_k": 0, "vocab": 400, "clean_steps": 700},
}
BUDGETS = {"max_new_tokens_per_turn": 16, "max_obs_tokens": 160, "max_total_tokens": 512}


def build_world(root: Path) -> tuple[Path, Path, list[dict]]:
    """The 3-country embedded task, its BM25 index, the city-country training file and test rows."""
    from retrievers.factory import build_index
    from s3.task.build import EmbeddedTaskConfig, build_embedded_task
    from s3.task.world import WorldConfig

    task = root / "task"
    if not (root / "index" / "index.json").exists():
        world = WorldConfig(n_countries=3, n_cities=300, n_organisations=300)
        config = EmbeddedTaskConfig(seed=0, train=750, val=3, test=147, one_hop_fraction=1.0, world=world)
        build_embedded_task(task, config=config)
        build_index(str(task / "corpus.jsonl"), str(root / "index"), kind="bm25")

    def rows(path: Path) -> list[dict]:
        with open(path, encoding="utf-8") as f:
            return [r for r in map(json.loads, f) if r["type"] == "city_country"]

    train_file = root / "train.jsonl"
    train_file.write_text("".join(json.dumps(r) + "\n" for r in rows(task / "train.jsonl")), encoding="utf-8")
    return task, train_file, rows(task / "test.jsonl")[:48]


def run_seed(setting: str, seed: int, work: Path, grpo_steps: int) -> dict:
    import torch

    from retrievers.factory import load_retriever
    from s3.policy.hf import HFPolicy
    from s3.protocol_r1 import FEEDBACK, INSTRUCTIONS, SearchR1Protocol, r1_episode_config
    from s3.reward_r1 import AnswerReward
    from s3.rollout import RolloutConfig
    from s3.tiny_model import build_tiny_model
    from s3.train.config import load_train_config
    from s3.train.heldout import evaluate_answers, rollout_rows
    from s3.train.trainer import train
    from s3.train.warmstart import WarmstartConfig, warmstart

    torch.set_num_threads(1)
    spec = SETTINGS[setting]
    task, train_file, test_rows = build_world(work)
    retriever = load_retriever(str(work / "index"))
    root = work / f"{setting}-seed{seed}"
    with open(task / "corpus.jsonl", encoding="utf-8") as f:
        texts = [json.loads(line)["contents"] for line in f] + [INSTRUCTIONS + FEEDBACK] * 200
    t0 = time.time()
    model = build_tiny_model(
        root / "tiny", texts=texts, vocab_size=spec["vocab"], hidden_size=64, intermediate_size=128, seed=seed
    )
    episode = r1_episode_config(docs_per_search=3, max_turns=1, initial_k=spec["initial_k"])

    def warm_start(init, out: str, steps: int, learning_rate: float, noise: float) -> Path:
        cfg = WarmstartConfig(
            model=str(init), output_dir=str(root / out), retriever=str(work / "index"),
            train_file=str(train_file), protocol="search-r1", episode=episode, max_steps=steps,
            learning_rate=learning_rate, batch_size=16, seed=seed, device="cpu", progress=False,
            answer_noise_rate=noise,
        )  # fmt: skip
        cfg.rollout = dataclasses.replace(cfg.rollout, **BUDGETS)
        return warmstart(cfg, retriever=retriever)

    def held_out(path: Path) -> dict:
        policy = HFPolicy.from_pretrained(str(path), device="cpu")
        protocol, em = SearchR1Protocol(), AnswerReward()
        # one greedy pass gives both the exact match and the queries
        greedy, exact, searches = [], 0, 0
        greedy_cfg = RolloutConfig.greedy(**BUDGETS)
        for chunk, trajs in rollout_rows(policy, test_rows, retriever, protocol, episode, greedy_cfg, 64):
            greedy += [p.em for p in em.score_trajectories(trajs, [r["golden_answers"] for r in chunk])]
            for row, traj in zip(chunk, trajs):
                queries = [b.query for b in traj.episode.blocks if b.query is not None]
                city = row["question"].rsplit(" is ", 1)[-1].rstrip("?").strip()
                exact += bool(queries) and queries[0].strip() == city
                searches += len(queries)
        sampled = [
            evaluate_answers(
                policy, test_rows, retriever, protocol, episode, em,
                RolloutConfig(temperature=1.0, top_p=1.0, seed=1000 * k, **BUDGETS),
            )["em"]
            for k in range(4)
        ]  # fmt: skip
        n = len(test_rows)
        return {
            "greedy": round(sum(greedy) / n, 3),
            "sampled": round(sum(sampled) / len(sampled), 3),
            "query_exact": round(exact / n, 3),
            "searches": round(searches / n, 3),
        }

    reader = warm_start(model, "ws-clean", spec["clean_steps"], 3e-3, 0.0)
    warm = warm_start(reader, "ws-noisy", 30, 1e-3, 0.6)
    before = held_out(warm)
    log.info("%s seed %d: warm start %s (%.0f s)", setting, seed, before, time.time() - t0)
    cfg = load_train_config(
        preset="search-r1-tiny",
        overrides=[
            f"model={warm}", f"retriever={work / 'index'}", f"data.train_file={train_file}",
            f"output_dir={root / 'grpo'}", "resume=never", "logging.progress=false", f"grpo.seed={seed}",
            f"grpo.max_steps={grpo_steps}", "grpo.learning_rate=1e-3", "grpo.questions_per_step=8",
            "grpo.num_generations=8", "grpo.micro_batch_size=32", "episode.docs_per_search=3",
            "episode.max_turns=1", f"episode.initial_k={spec['initial_k']}",
            f"episode.include_initial={'always' if spec['initial_k'] else 'never'}",
            *(f"rollout.{k}={v}" for k, v in BUDGETS.items()),
        ],
    )  # fmt: skip
    summary = train(cfg, retriever=retriever)
    after = held_out(Path(summary["final_dir"]))
    curve = [round(h["reward/em"], 2) for h in summary["log_history"] if "reward/em" in h]
    row = {"setting": setting, "seed": seed, "clean_steps": spec["clean_steps"], "grpo_steps": grpo_steps,
           "before": before, "after": after, "train_reward": curve, "seconds": round(time.time() - t0)}  # fmt: skip
    log.info("%s seed %d: %s -> %s", setting, seed, before, after)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--setting", choices=sorted(SETTINGS), default="searching")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--grpo-steps", type=int, default=30)
    p.add_argument("--work", default="benchmarks/_work/search_r1_learning", help="task, index and runs")
    p.add_argument("--out", default=None, help="JSONL results (default: WORK/SETTING.jsonl)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    work = Path(args.work)
    out = Path(args.out or work / f"{args.setting}.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists():
        done = {json.loads(line)["seed"] for line in out.read_text(encoding="utf-8").splitlines() if line}
    for seed in args.seeds:
        if seed in done:
            log.info("seed %d already in %s; skipped", seed, out)
            continue
        row = run_seed(args.setting, seed, work, args.grpo_steps)
        with open(out, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line]
    print("| seed | greedy EM | sampled EM | first query exact | searches |")
    print("|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: r["seed"]):
        b, a = r["before"], r["after"]
        print(f"| {r['seed']} | {b['greedy']:.2f} -> {a['greedy']:.2f} | {b['sampled']:.2f} -> {a['sampled']:.2f} "
              f"| {b['query_exact']:.2f} -> {a['query_exact']:.2f} | {b['searches']:.2f} -> {a['searches']:.2f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
