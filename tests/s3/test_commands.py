"""The parser pieces the ``s3`` commands share (``s3/commands/__init__.py``)."""

from __future__ import annotations

import argparse
import sys
import types
from dataclasses import dataclass

import s3.cli as cli
from s3.commands import add_command, print_settings
from s3.config import field


def test_add_command_names_the_subcommand_after_its_module_and_shows_the_docstring_as_written(monkeypatch):
    module = types.ModuleType("my_pkg.commands.tiny_thing")
    module.__doc__ = (
        "``s3 tiny-thing``: build a thing.\n\n    s3 tiny-thing --size 1\n    s3 tiny-thing --size 2\n"
    )
    monkeypatch.setitem(sys.modules, module.__name__, module)
    parser = argparse.ArgumentParser(prog="s3")
    subparsers = parser.add_subparsers()

    p = add_command(subparsers, module.__name__, help="build a thing")

    assert subparsers.choices == {"tiny-thing": p}
    assert "tiny-thing  build a thing" in " ".join(parser.format_help().split("\n"))
    # the examples keep one line each (a plain formatter would join them into one paragraph)
    assert "\n    s3 tiny-thing --size 1\n    s3 tiny-thing --size 2\n" in p.format_help()


def test_every_command_is_described_by_its_module_docstring():
    subparsers = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert {"search", "train", "warmstart", "precompute", "demo", "tiny-model"} <= set(subparsers.choices)
    for name, p in subparsers.choices.items():
        module = sys.modules[p.get_default("func").__module__]
        assert module.__name__.rpartition(".")[2].replace("_", "-") == name
        assert p.description == module.__doc__ and p.description.strip(), name


@dataclass
class _Inner:
    k: int = field(3, help="documents per search")


@dataclass
class _Settings:
    name: str = field("demo", help="the run's name")
    inner: _Inner = field(default_factory=_Inner)


def test_print_settings_lists_every_key_with_its_default_or_given_value(capsys):
    assert print_settings(_Settings) == 0
    assert capsys.readouterr().out.splitlines() == [
        "name = 'demo'  # the run's name",
        "inner.k = 3  # documents per search",
    ]
    assert print_settings(_Settings, values=_Settings(name="x", inner=_Inner(k=5))) == 0
    assert capsys.readouterr().out.splitlines() == [
        "name = 'x'  # the run's name",
        "inner.k = 5  # documents per search",
    ]
