"""The ``s3`` command line: one subcommand per stage of the pipeline.

    s3 index --corpus corpus.jsonl --output idx/ --kind bm25
    s3 serve-retriever --index idx/ --port 3000
    s3 search "who wrote ...?" --model ckpt/ --index idx/
    s3 serve --model ckpt/ --index idx/
    s3 precompute | s3 train | s3 evaluate | s3 demo

Each subcommand lives in ``s3/commands/<name>.py`` and exposes ``register(subparsers)`` (which adds
its parser with :func:`s3.commands.add_command`); modules keep heavy imports inside their ``run``
function so ``s3 --help`` stays fast. A command that composes
s3 with a package above it (``s3 evaluate``, which runs the baselines beside the searchers) is a
module of that package, named by an entry point of the :data:`PLUGIN_GROUP` group in ``setup.py``:
the CLI finds it without ``s3`` importing the package. An error ends the
command with one line on stderr naming the file, line or field and the fix (exit code 2;
:mod:`s3.errors`); ``s3 --debug COMMAND ...`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from types import ModuleType
from typing import NoReturn

from s3.logs import setup_logging

# Subcommands, in the order shown by ``s3 --help``: modules of ``s3.commands``, else entry points of
# PLUGIN_GROUP. A command found in neither (a stage not built yet) is skipped, so the CLI always
# starts; commands other packages add beyond these come last.
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

#: entry-point group of subcommands added by packages above ``s3`` (name -> module with ``register``)
PLUGIN_GROUP = "s3.commands"

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
    plugins = _plugin_names()
    for name in [*COMMANDS, *sorted(set(plugins) - set(COMMANDS))]:
        module = _find_command(name, plugins)
        if module is not None:
            module.register(sub)
    return parser


def _plugin_names() -> list[str]:
    from importlib.metadata import entry_points

    return [ep.name for ep in entry_points(group=PLUGIN_GROUP)]


def _find_command(name: str, plugins: list[str]) -> ModuleType | None:
    try:
        return importlib.import_module(f"s3.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"s3.commands.{name}":
            raise
    if name not in plugins:
        return None
    from importlib.metadata import entry_points

    return entry_points(group=PLUGIN_GROUP)[name].load()


def command_module(name: str) -> ModuleType:
    """The module of subcommand ``name``, wherever it lives (``s3.commands`` or a :data:`PLUGIN_GROUP`
    entry point), for code that runs a command's stage in-process (``s3 demo`` runs ``s3 evaluate``'s).

    Raises:
        LookupError: no such command; for a plugin command, the package's entry points are not installed.
    """
    module = _find_command(name, _plugin_names())
    if module is None:
        raise LookupError(
            f"no s3 command {name!r}: a command added by a package above s3 is found through the "
            f"{PLUGIN_GROUP!r} entry points, so reinstall the package (pip install -e .)"
        )
    return module


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
