"""``s3 train``: train the searcher with GRPO (TRL) on the gain-beyond-RAG reward.

    s3 train --preset tiny model=runs/warmstart/final retriever=runs/precompute/index \\
        data.train_file=runs/precompute/train.jsonl reward.rag_cache=runs/precompute/rag_cache.jsonl
    s3 train --preset 7b --config my_run.yaml grpo.max_steps=20 output_dir=runs/s3-7b
    s3 train --mode search-r1 --preset search-r1-tiny model=runs/warmstart-r1/final retriever=runs/index \
        data.train_file=runs/task/train.jsonl
    accelerate launch --config_file configs/accelerate/zero3.yaml -m s3 train --preset 7b --config my_run.yaml

Settings come from the defaults, then ``--preset``, then ``--config FILE.yaml``, then ``key=value``
overrides (``s3 train --preset 7b --help-config`` lists every key with the preset's values). A run
started again with the same ``output_dir`` resumes from its latest checkpoint (``resume=never`` starts
over).

Check a run before it meets a GPU (no GPU, no model download; exit 0, or 2 naming the field to change):

    WORLD_SIZE=8 s3 train --preset 7b --dry-run
    s3 train --preset 7b --dry-run --accelerate-config configs/accelerate/zero3.yaml --num-processes 8
"""

from __future__ import annotations

import argparse
import json
import logging

from s3.commands import add_command, print_settings

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(subparsers, __name__, help="GRPO training of the searcher")
    p.add_argument("overrides", nargs="*", help="config overrides key=value (e.g. grpo.max_steps=20)")
    p.add_argument(
        "--preset",
        help="named preset: tiny (CPU), 7b (the method's defaults), search-r1, search-r1-tiny; it fixes the "
        "protocol, episode rules and budgets (warm-start with the same `s3 warmstart --preset`)",
    )
    p.add_argument(
        "--mode",
        choices=["s3", "search-r1"],
        default="s3",
        help="search-r1: the model searches and answers itself, rewarded on its own answer "
        "(protocol=search-r1; without --preset, Search-R1's episode rules; presets search-r1, search-r1-tiny)",
    )
    p.add_argument("--config", help="YAML config file")
    p.add_argument(
        "--help-config", action="store_true", help="list every config key (with --preset's values) and exit"
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="resolve and check the run (world size, batch split, precision, generator, baseline) and exit",
    )
    p.add_argument(
        "--accelerate-config", help="accelerate config file the run will be launched with (for --dry-run)"
    )
    p.add_argument(
        "--num-processes", type=int, help="processes the run will be launched with (for --dry-run)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from s3.train.config import TrainConfig, load_train_config

    overrides = list(args.overrides)
    if args.mode == "search-r1":
        from s3.protocol_r1 import EPISODE_RULES, NAME

        mode = [f"protocol={NAME}"]
        if args.preset is None:  # Search-R1's episode rules (a preset brings its own)
            mode += [f"episode.{key}={json.dumps(value)}" for key, value in EPISODE_RULES.items()]
        overrides = mode + overrides
    cfg = load_train_config(args.config, overrides, args.preset)
    if args.help_config:
        return print_settings(TrainConfig, values=cfg)
    if args.dry_run:
        return _dry_run(cfg, args)
    cfg.check()
    from s3.train.trainer import train

    summary = train(cfg)  # a ConfigError (refused before any model loads) is the CLI's one-line error
    print(json.dumps({k: v for k, v in summary.items() if k != "log_history"}, indent=2))
    return 0


def _dry_run(cfg, args: argparse.Namespace) -> int:
    """Resolve the plan, print it, check it; no model, GPU or network is touched."""
    from s3.train.plan import check_plan, launch_settings, make_plan, plan_report

    plan = make_plan(cfg, launch_settings(args.accelerate_config, args.num_processes))
    print(plan_report(cfg, plan))
    missing = [name for name, value in (("model", cfg.model), ("retriever", cfg.retriever),
               ("data.train_file", cfg.data.train_file)) if not value]  # fmt: skip
    if cfg.protocol != "search-r1" and cfg.reward.kind != "acc" and cfg.reward.baseline == "rag_cache":
        missing += [] if cfg.reward.rag_cache else ["reward.rag_cache"]
    cfg.make_protocol()
    check_plan(cfg, plan)
    if missing:
        print(f"still to set before training: {', '.join(missing)}")
    print("dry run: the configuration is consistent")
    return 0
