"""The ``s3`` subcommands, one module each (see :mod:`s3.cli`), and the parser pieces they share.

A command module has ``register(subparsers)``, which adds its parser with :func:`add_command`, and
``run(args) -> int``. A command whose settings are a config dataclass answers ``--help-config`` with
:func:`print_settings`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_command(subparsers: argparse._SubParsersAction, module: str, help: str) -> argparse.ArgumentParser:
    """Add the subcommand of the command module ``module`` and return its parser.

    The subcommand is named after the module (``s3.commands.tiny_model`` -> ``tiny-model``) and
    ``s3 NAME --help`` shows the module's docstring as written, so its example commands keep one line
    each.

    Args:
        subparsers: the ``s3`` parser's subcommands (the argument of ``register``).
        module: the command module's ``__name__``.
        help: the subcommand's one line in ``s3 --help``.

    Example::

        def register(subparsers) -> None:
            p = add_command(subparsers, __name__, help="statistics of the embedded task")
            p.add_argument("--task-dir", required=True)
            p.set_defaults(func=run)
    """
    name = module.rpartition(".")[2].replace("_", "-")
    return subparsers.add_parser(
        name,
        help=help,
        description=sys.modules[module].__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def print_settings(config_class: type, values: Any = None) -> int:
    """Answer ``--help-config``: print every setting of ``config_class`` (dotted keys, types, help) with
    its default, or with its value in ``values`` (a config a preset has filled); returns the exit code 0."""
    from s3.config import describe

    print("\n".join(describe(config_class, values=values)))
    return 0
