"""``s3 datasheet``: measure the embedded task (sizes, naive-RAG vs oracle GenAcc, recall at k).

    s3 datasheet --task-dir runs/task            # builds the task there first if missing
    s3 datasheet --task-dir runs/task --seed 0 --json runs/task/datasheet.json

Prints Markdown tables; the numbers in docs/embedded-task.md come from this command.
"""

from __future__ import annotations

import argparse

from s3.commands import add_command


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(subparsers, __name__, help="statistics of the embedded task")
    p.add_argument("--task-dir", required=True, help="task folder (corpus.jsonl, train/val/test.jsonl)")
    p.add_argument("--seed", type=int, default=0, help="seed used when the task has to be built")
    p.add_argument("--rebuild", action="store_true", help="regenerate the task even if the folder has one")
    p.add_argument("--k", type=int, default=3, help="documents given to the generator for naive RAG")
    p.add_argument("--json", help="also write the statistics as JSON here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from s3.task import build_embedded_task
    from s3.task.datasheet import format_datasheet, measure_task

    task = Path(args.task_dir)
    if args.rebuild or not (task / "corpus.jsonl").is_file():
        build_embedded_task(task, seed=args.seed)
    stats = measure_task(task, k=args.k)
    manifest = task / "task.json"
    if manifest.is_file():
        stats["task"] = json.loads(manifest.read_text(encoding="utf-8"))
    if args.json:
        Path(args.json).write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(format_datasheet(stats))
    return 0
