"""A refactor check: seeded rollouts in s3 and Search-R1 modes, dumped to JSON (ids, masks, rewards).

Runs a tiny random Qwen2 searcher (sampled, two seeds) and scripted policies (fixed and seeded random
turn scripts, several budgets, a failing retriever) through a real BM25 index in both modes, scores
the trajectories with each mode's reward, and writes every trajectory's prompt and completion ids,
log-probs, environment mask, turns and episode, the rewards, the call counts and the resolved
Search-R1 rules. Run it before and after a change to the rollout and compare the two files::

    OMP_NUM_THREADS=1 python benchmarks/rollout/rollout_fingerprint.py --out before.json
    ... change the code ...
    OMP_NUM_THREADS=1 python benchmarks/rollout/rollout_fingerprint.py --out after.json
    cmp before.json after.json && echo identical

Takes about a minute on one CPU core.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import logging
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "s3")]  # the searcher tests' corpus and questions

log = logging.getLogger("rollout_fingerprint")

S3_TURNS = [
    '<important_info>[1, 3]</important_info><search_complete>False</search_complete><query>{{"query": "{w}"}}</query>',
    "<important_info>[2]</important_info><search_complete>True</search_complete>",
    "<important_info>[9, 1]</important_info><search_complete>maybe</search_complete>",
    "<query>{w}</query> spill over text <query>again",
    '{{"query": "{w}"}}</query>',
    "no action at all {w}",
]
R1_TURNS = [
    "<think>{w}</think><search>{w}</search> spill",
    "<answer>{w}</answer> after",
    "<search>{w}",
    "<think>{w}",
    "<answer>Tacoma</answer>",
    "</search> {w}",
]
WORDS = ["Paris", "Danube", "born", "Herbert", "capital", "river", "novel", "x", "é", "42"]


def random_scripts(rng: random.Random, questions, turns):
    def words():
        return " ".join(rng.choices(WORDS, k=rng.randint(0, 4)))

    return {q: [rng.choice(turns).format(w=words()) for _ in range(rng.randint(1, 5))] for q in questions}


def dump(trajs, stats) -> dict:
    out = {"trajectories": [t.to_dict() for t in trajs]}
    out["calls"] = {
        "generate": stats.generate_calls,
        "search": stats.search_calls,
        "turns": stats.episode_turns,
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--random-cases", type=int, default=24, help="random scripted cases per mode")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import torch

    torch.set_num_threads(1)
    from s3_search_fixtures import QUESTIONS, CountingRetriever, build_bm25
    from transformers import AutoTokenizer

    from baselines.search_r1 import search_r1_config
    from generators.offline import ExtractiveReader
    from s3.episode import EpisodeConfig
    from s3.policy.hf import HFPolicy
    from s3.policy.scripted import ScriptedPolicy
    from s3.protocol import BriefS3Protocol, S3Protocol
    from s3.protocol_r1 import SearchR1Protocol, r1_episode_config
    from s3.reward import RewardConfig, SearchReward
    from s3.reward_r1 import AnswerReward, AnswerRewardConfig
    from s3.rollout import RolloutConfig, RolloutStats, run_rollout
    from s3.searcher import Searcher, SearcherConfig
    from s3.tiny_model import build_tiny_model

    golds = {q: [a] for q, a in zip(QUESTIONS, ["Tacoma", "Stratford-upon-Avon", "Paris", "Danube"])}
    s3_reward = SearchReward(ExtractiveReader(), RewardConfig(kind="gbr", baseline="none"))
    r1_reward = AnswerReward(AnswerRewardConfig(kind="em", format_weight=0.5))

    def rewards(mode, trajs):
        g = [golds[t.question] for t in trajs]
        if mode == "s3":
            parts = s3_reward.score([t.question for t in trajs], g, [t.context() for t in trajs])
        else:
            parts = r1_reward.score_trajectories(trajs, g)
        return [dataclasses.asdict(p) for p in parts]

    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        texts = ['"Paris"\nParis is the capital of France.', "Who wrote the novel? The author was born."]
        model_dir = build_tiny_model(Path(tmp) / "model", texts=texts, vocab_size=512, seed=0)
        tok = AutoTokenizer.from_pretrained(model_dir)
        bm25 = build_bm25(Path(tmp) / "bm25")
        hf = HFPolicy.from_pretrained(str(model_dir), device="cpu")
        modes = {
            "s3": (S3Protocol(), EpisodeConfig(docs_per_search=4, max_turns=2), S3_TURNS),
            "s3-brief": (
                BriefS3Protocol(),
                EpisodeConfig(docs_per_search=3, max_turns=3, final_turn=False),
                S3_TURNS,
            ),
            "search-r1": (SearchR1Protocol(), r1_episode_config(docs_per_search=3, max_turns=2), R1_TURNS),
            "search-r1-init": (SearchR1Protocol(), r1_episode_config(2, 2, initial_k=2), R1_TURNS),
        }

        def case(name, mode, policy, retriever, protocol, ecfg, rcfg, questions=QUESTIONS):
            stats = RolloutStats()
            trajs = run_rollout(
                policy, retriever, protocol, questions, episode_cfg=ecfg, rollout_cfg=rcfg, stats=stats
            )
            result[name] = {
                **dump(trajs, stats),
                "rewards": rewards("s3" if mode.startswith("s3") else "r1", trajs),
            }

        for mode, (protocol, ecfg, turns) in modes.items():
            for seed in (0, 1):
                rcfg = RolloutConfig(
                    temperature=1.0, top_p=1.0, max_new_tokens_per_turn=20, max_obs_tokens=60, seed=seed
                )
                case(f"{mode}/tiny-model/seed{seed}", mode, hf, bm25, protocol, ecfg, rcfg)
            tight = RolloutConfig(temperature=1.0, top_p=0.9, max_new_tokens_per_turn=12, max_obs_tokens=30,
                                  max_total_tokens=900, seed=3, fixed_generate_calls=True)  # fmt: skip
            case(f"{mode}/tiny-model/tight", mode, hf, bm25, protocol, ecfg, tight)
            rng = random.Random(mode)
            for i in range(args.random_cases):
                scripts = random_scripts(rng, QUESTIONS[: rng.randint(1, 4)], turns)
                policy = ScriptedPolicy(tok, scripts, use_stop_strings=rng.random() < 0.3)
                ecfg_i = dataclasses.replace(
                    ecfg, docs_per_search=rng.randint(1, 6), max_turns=rng.randint(0, 3)
                )
                rcfg = RolloutConfig.greedy(
                    max_obs_tokens=rng.randint(4, 200), max_new_tokens_per_turn=rng.randint(1, 60),
                    max_total_tokens=rng.choice([400, 850, 900, 1000, 1400, 8192]),
                    fixed_generate_calls=rng.random() < 0.3, end_with_eos=rng.random() < 0.8,
                )  # fmt: skip
                case(f"{mode}/scripted/{i}", mode, policy, bm25, protocol, ecfg_i, rcfg, list(scripts))
            failing = CountingRetriever(bm25, fail=True)
            scripts = random_scripts(random.Random(7), QUESTIONS, turns[:1] * 3)
            rcfg = RolloutConfig.greedy(on_search_error="feedback")
            ecfg_f = dataclasses.replace(ecfg, initial_k=0)
            case(
                f"{mode}/scripted/search-error",
                mode,
                ScriptedPolicy(tok, scripts),
                failing,
                protocol,
                ecfg_f,
                rcfg,
            )

        # the Searcher API and the Search-R1 rules each entry point resolves
        for mode in ("s3", "search-r1"):
            searcher = Searcher(hf, bm25, mode=mode)
            searcher.config.rollout = RolloutConfig.greedy(max_new_tokens_per_turn=16, max_obs_tokens=60)
            result[f"searcher/{mode}"] = [r.to_dict() for r in searcher.search_batch(QUESTIONS[:2])]
        result["rules"] = {
            "for_mode": dataclasses.asdict(SearcherConfig.for_mode("search-r1")),
            "search_r1_config": dataclasses.asdict(search_r1_config()),
            "search_r1_config_2_5": dataclasses.asdict(search_r1_config(2, 5, 8)),
            "r1_episode_config": dataclasses.asdict(r1_episode_config()),
            "train_help": {
                f"{m}/{p}": train_help_config(m, p)
                for m in ("s3", "search-r1")
                for p in (None, "search-r1", "search-r1-135m", "search-r1-tiny")
            },
        }
    Path(args.out).write_text(json.dumps(result, indent=1, sort_keys=True, ensure_ascii=False))
    log.info("wrote %d cases to %s", len(result), args.out)


def train_help_config(mode: str, preset: str | None) -> str:
    """What ``s3 train --mode MODE [--preset P] --help-config`` prints (every resolved setting)."""
    from s3.cli import build_parser

    args = build_parser().parse_args(
        ["train", "--mode", mode, "--help-config", *(["--preset", preset] if preset else [])]
    )
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        args.func(args)
    return buf.getvalue()


if __name__ == "__main__":
    main()
