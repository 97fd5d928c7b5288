"""Commands from packages above ``s3`` (``s3 evaluate`` lives in ``baselines``) reach the ``s3`` command
line through the ``s3.commands`` entry points, so ``s3`` never imports them."""

from __future__ import annotations

import ast
import sys
import types
from importlib.metadata import EntryPoint, EntryPoints
from pathlib import Path

import pytest

import s3.cli as cli

REPO = Path(__file__).resolve().parents[2]


def declared_plugins() -> dict[str, str]:
    """The ``s3.commands`` entry points ``setup.py`` declares: name -> module."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "entry_points":
            groups = ast.literal_eval(node.value)
            return dict(entry.replace(" ", "").split("=", 1) for entry in groups.get(cli.PLUGIN_GROUP, []))
    raise AssertionError("setup.py declares no entry_points")


def use_entry_points(monkeypatch, plugins: dict[str, str]) -> None:
    """Make the installed entry points of PLUGIN_GROUP exactly ``plugins`` (independent of the install)."""
    import importlib.metadata

    eps = EntryPoints(EntryPoint(name, value, cli.PLUGIN_GROUP) for name, value in plugins.items())
    monkeypatch.setattr(
        importlib.metadata, "entry_points", lambda group=None: eps if group == cli.PLUGIN_GROUP else ()
    )


def test_evaluate_is_declared_from_baselines_and_loads(monkeypatch):
    plugins = declared_plugins()
    assert plugins == {"evaluate": "baselines.evaluate"}
    use_entry_points(monkeypatch, plugins)
    module = cli.command_module("evaluate")
    assert module.__name__ == "baselines.evaluate"
    assert callable(module.register) and callable(module.run_evaluation) and module.EvalConfig
    listed = cli.build_parser().format_help()
    assert listed.index("\n    train ") < listed.index("\n    evaluate ") < listed.index("\n    report ")


def test_a_plugin_command_from_any_package_is_registered(monkeypatch):
    plugin = types.ModuleType("my_pkg_commands")

    def register(subparsers):
        p = subparsers.add_parser("hello", help="say hello")
        p.set_defaults(func=lambda args: 7)

    plugin.register = register
    monkeypatch.setitem(sys.modules, "my_pkg_commands", plugin)
    use_entry_points(monkeypatch, {"hello": "my_pkg_commands"})
    assert cli.command_module("hello") is plugin
    assert cli.main(["hello"]) == 7


def test_a_missing_plugin_says_to_reinstall(monkeypatch):
    use_entry_points(monkeypatch, {})
    with pytest.raises(LookupError, match=r"'s3.commands' entry points.*pip install -e \."):
        cli.command_module("evaluate")
    assert cli.command_module("index").__name__ == "s3.commands.index"  # built-in commands need none
