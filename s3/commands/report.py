"""``s3 report``: the Markdown table, CSV and plots of an evaluation run (and training curves).

s3 report runs/eval                                   # table.md, table.csv, genacc.png
s3 report runs/eval --training-log runs/train/log.jsonl --title "Embedded task"
"""

from __future__ import annotations

import argparse

from s3.commands import add_command


def register(subparsers) -> None:
    p = add_command(
        subparsers, __name__, help="write the results table (Markdown, CSV) and plots of an evaluation run"
    )
    p.add_argument("run_dir", help="evaluation run folder (holds results.json)")
    p.add_argument("--output", help="where to write (default: the run folder)")
    p.add_argument(
        "--training-log", action="append", default=[], help="training JSONL log to plot (repeatable)"
    )
    p.add_argument("--title", help="heading of the Markdown table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from evaluation.report import write_report

    paths = write_report(args.run_dir, args.output, training_logs=args.training_log, title=args.title)
    print(paths["table.md"].read_text(encoding="utf-8"))
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0
