"""``s3 precompute``: naive RAG for every question (cached, resumable) and the trainer's files.

    s3 precompute --task-dir runs/task --output runs/precompute
    s3 precompute --data train=data/nq/train.jsonl --data test=data/nq/test.jsonl --index idx/ --output runs/pre \\
        generator.kind=openai generator.model=Qwen/Qwen2.5-14B-Instruct k=3
    s3 precompute --task-dir runs/task --output runs/pre --backend ray

Settings come from the defaults, then ``--config FILE.yaml``, then the flags, then ``key=value``
overrides (``s3 precompute --help-config`` lists every key). ``--task-dir`` builds the embedded task
there first if the folder holds none. Name each file's split (``--data train=FILE``, or ``--split``);
a split guessed from a file name is warned about. A killed run resumes when started again with the
same settings.
"""

from __future__ import annotations

import argparse
import json
import logging

from s3.commands import add_command, print_settings

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(subparsers, __name__, help="naive-RAG cache and training/eval files")
    p.add_argument("overrides", nargs="*", help="config overrides key=value (e.g. k=3 generator.kind=openai)")
    p.add_argument("--config", help="YAML config file")
    p.add_argument("--task-dir", help="embedded-task folder (built there with --seed if missing)")
    p.add_argument("--seed", type=int, default=0, help="seed when --task-dir has to be built (default 0)")
    p.add_argument(
        "--data",
        action="append",
        metavar="[SPLIT=]QA_FILE",
        help="a QA set (.jsonl, .parquet, hf:NAME/CONFIG:SPLIT), e.g. --data train=q_train.jsonl "
        "--data test=q_test.jsonl; repeat for several",
    )
    p.add_argument("--split", help="split of every --data that names none (train, val, test, ...)")
    p.add_argument("--corpus", help="corpus JSONL (BM25 is built from it)")
    p.add_argument(
        "--index", "--retriever", dest="index", help="index folder (BM25, dense, Lucene) or /retrieve URL"
    )
    p.add_argument("--output", help="output folder")
    p.add_argument("--backend", choices=["local", "ray"], help="local threads (default) or Ray Data")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--help-config", action="store_true", help="list every config key and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from s3.config import load_config
    from s3.precompute import PrecomputeConfig, run_precompute

    if args.help_config:
        return print_settings(PrecomputeConfig)
    flags = {
        "task_dir": args.task_dir,
        "data": args.data,
        "split": args.split,
        "corpus": args.corpus,
        "index": args.index,
        "output_dir": args.output,
        "backend": args.backend,
        "progress": False if args.no_progress else None,
    }
    overrides = [f"{k}={json.dumps(v)}" for k, v in flags.items() if v is not None] + list(args.overrides)
    cfg = load_config(PrecomputeConfig, args.config, overrides)
    if cfg.task_dir and not (Path(cfg.task_dir) / "corpus.jsonl").is_file():
        from s3.task import build_embedded_task

        log.info("no task in %s: building the embedded task (seed %d)", cfg.task_dir, args.seed)
        build_embedded_task(cfg.task_dir, seed=args.seed)
    summary = run_precompute(cfg)
    print(json.dumps({k: v for k, v in summary.items() if k != "seconds"}, indent=2, sort_keys=True))
    return 0
