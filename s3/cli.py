"""The ``s3`` command line: one subcommand per stage of the pipeline.

    s3 index --corpus corpus.jsonl --output idx/ --kind bm25
    s3 serve-retriever --index idx/ --port 3000
    s3 search "who wrote ...?" --model ckpt/ --index idx/
    s3 serve --model ckpt/ --index idx/
    s3 precompute | s3 train | s3 evaluate | s3 demo

Each subcommand lives in ``s3/commands/<name>.py`` and exposes ``register(subparsers)``; modules
keep heavy imports inside their ``run`` function so ``s3 --help`` stays fast. An error ends the
command with one line on stderr naming the file, line or field and the fix (exit code 2;
:mod:`s3.errors`); ``s3 --debug COMMAND ...`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import NoReturn

from s3.logs import setup_logging

# Subcommand modules, in the order shown by ``s3 --help``. A module that is missing (a stage not
# built yet) is skipped, so the CLI always starts.
COMMANDS = (
    "index",
    "serve_retriever",
    "search",
    "serve",
    "datasheet",
    "precompute",
    "tiny_model",
    "warmstart",
    "train",
    "evaluate",
    "report",
    "demo",
)

log = logging.getLogger("s3")


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (and the exit code 2), like every CLI error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="s3", description="Train and use s3 search agents for RAG.")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO (default), WARNING")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"s3.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"s3.commands.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except Exception as exc:
        if args.debug:
            raise
        from s3.errors import one_line

        message, code = one_line(exc)
        sys.stderr.write(f"s3 {args.command}: error: {message}\n")
        return code
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
