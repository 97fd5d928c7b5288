"""Every install advice in the code and docs names an extra that setup.py declares."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: ``pip install 's3-search-agent[a,b]'``, ``pip install -e ".[a]"``, "the ``a`` extra", "(extra 'a')"
_PATTERNS = (
    re.compile(r"(?:s3-search-agent|[\s\"']\.)\[([A-Za-z0-9_,\s-]+)\]"),
    re.compile(r"\bthe [`'\"]{1,2}([A-Za-z0-9_-]+)[`'\"]{1,2} extra\b"),
    re.compile(r"\(extra [`'\"]{1,2}([A-Za-z0-9_-]+)[`'\"]{1,2}\)"),
)


def declared_extras() -> set[str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.keyword)
            and node.arg == "extras_require"
            and isinstance(node.value, ast.Dict)
        ):
            return {key.value for key in node.value.keys if isinstance(key, ast.Constant)}
    raise AssertionError("setup.py has no extras_require dict")


def named_extras(text: str) -> set[str]:
    names = set()
    for pattern in _PATTERNS:
        for match in pattern.finditer(text):
            names.update(name.strip() for name in match.group(1).split(",") if name.strip())
    return names


def test_the_patterns_find_extras_in_install_advice():
    assert named_extras("numba is optional (the ``fast`` extra)") == {"fast"}
    assert named_extras("pip install 's3-search-agent[dense]' or pip install -e \".[dev,pyserini]\"") == {
        "dense", "dev", "pyserini",
    }  # fmt: skip
    assert named_extras("pyserini (extra 'pyserini') is not installed") == {"pyserini"}
    assert named_extras("x = values[0]; y = self.data[key]; extra ``TextEncoder`` arguments") == set()


def test_every_extra_named_in_the_repository_exists():
    extras = declared_extras()
    files = subprocess.run(
        ["git", "ls-files", "*.py", "*.md", "*.toml", "*.cfg", "*.yaml", "*.yml", "*.txt"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    unknown = []
    for name in files:
        if name == "tests/test_install_extras.py":
            continue
        path = ROOT / name
        if path.is_file():
            for extra in sorted(named_extras(path.read_text(encoding="utf-8", errors="replace")) - extras):
                unknown.append(f"{name}: extra {extra!r}")
    assert not unknown, f"extras not in setup.py's extras_require {sorted(extras)}: {unknown}"


def test_the_missing_module_advice_names_declared_extras():
    from s3.errors import EXTRAS

    assert set(EXTRAS.values()) <= declared_extras()
