"""``s3 warmstart``: supervised warm start of a small searcher on demonstration trajectories (TRL SFT).

    s3 warmstart model=runs/tiny retriever=runs/precompute/index train_file=runs/precompute/train.jsonl
    s3 warmstart --config warmstart.yaml epochs=5 output_dir=runs/warmstart

On the embedded task the demonstrations come from a scripted searcher that uses the task's ground
truth. Settings come from the defaults, then ``--config FILE.yaml``, then ``key=value`` overrides
(``s3 warmstart --help-config`` lists every key). The model is written to ``output_dir/final``.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "warmstart",
        help="supervised warm start on demonstrations",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("overrides", nargs="*", help="config overrides key=value (e.g. epochs=3)")
    p.add_argument("--config", help="YAML config file")
    p.add_argument("--help-config", action="store_true", help="list every config key and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from s3.config import describe, load_config
    from s3.train.warmstart import WarmstartConfig, warmstart

    if args.help_config:
        print("\n".join(describe(WarmstartConfig)))
        return 0
    from s3.config import ConfigError

    try:
        cfg = load_config(WarmstartConfig, args.config, list(args.overrides))
        cfg.check()
    except ConfigError as exc:
        print(f"s3 warmstart: {exc}", file=sys.stderr)
        return 2
    print(warmstart(cfg))
    return 0
