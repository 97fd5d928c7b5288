"""``s3 demo``: the whole s3 pipeline on the embedded default, end to end on a CPU.

    s3 demo                         # runs/demo: task, BM25, naive-RAG cache, SmolLM2-135M searcher:
                                    # warm start, GRPO, table
    s3 demo run_dir=runs/demo2 seed=1 grpo_steps=20
    s3 demo searcher=tiny           # a tiny random searcher instead (about 4 minutes)
    s3 demo --help-config           # every setting with its default

Each stage's outputs stay in the run folder and a rerun reuses them (delete a stage's folder to redo it).
"""

from __future__ import annotations

import argparse

from s3.commands import add_command, print_settings


def register(subparsers) -> None:
    p = add_command(
        subparsers,
        __name__,
        help="run the whole pipeline on the embedded default (about 14 minutes on 2 CPU cores)",
    )
    p.add_argument("--config", help="YAML file with DemoConfig fields")
    p.add_argument("--help-config", action="store_true", help="list every setting and exit")
    p.add_argument("overrides", nargs="*", help="key=value settings (e.g. grpo_steps=20)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from s3.config import load_config
    from s3.demo import DemoConfig, run_demo

    if args.help_config:
        return print_settings(DemoConfig)
    cfg = load_config(DemoConfig, yaml_path=args.config, overrides=args.overrides)
    summary = run_demo(cfg)
    print()
    print(summary["table"])
    for line in verdicts(summary["genacc"]):
        print(line)
    print(f"Plots: {', '.join(summary['plots'])}")
    print(f"Everything is in {summary['run_dir']} ({summary['seconds']:.0f} s).")
    return 0


def verdicts(scores: dict[str, float]) -> list[str]:
    """The demo's closing sentences: the trained searcher against naive RAG and against itself untrained."""
    trained = scores.get("s3 trained")
    lines = []
    for name, label in (("naive-rag", "naive RAG"), ("s3 untrained", "the untrained searcher"),
                        ("s3 warm start", "the warm-started searcher")):  # fmt: skip
        other = scores.get(name)
        if trained is None or other is None:
            continue
        verdict = "beats" if trained > other else "does NOT beat"
        lines.append(
            f"The trained searcher {verdict} {label} on the test split: GenAcc {trained:.1f} vs {other:.1f}."
        )
    return lines
