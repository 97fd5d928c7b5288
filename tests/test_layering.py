"""The layering of the five packages, computed from the source.

Lowest first: ``retrievers`` < ``generators`` < ``evaluation`` < ``s3`` < ``baselines``. A package
imports only from itself and the packages below it (so ``retrievers``, ``generators`` and
``evaluation`` import nothing from ``s3``, and ``s3`` never imports ``baselines``), never a private
(``_name``) module or name of another package, and no two files import each other, directly or around
a loop. Every import counts, including those inside functions;
only the bodies of ``if TYPE_CHECKING:`` blocks are left out (they never run).
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: the packages, lowest first
ORDER = ("retrievers", "generators", "evaluation", "s3", "baselines")
#: what each package may import besides itself: exactly the packages below it
ALLOWED: dict[str, frozenset[str]] = {pkg: frozenset(ORDER[:i]) for i, pkg in enumerate(ORDER)}

Graph = dict[str, dict[str, int]]  # module -> {imported module: first line}


def module_files(root: Path, packages=ORDER) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of ``packages`` under ``root``."""
    out: dict[str, Path] = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node, in functions too, except inside ``if TYPE_CHECKING:`` bodies."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _imports(node)


def import_graph(root: Path = ROOT, packages=ORDER) -> Graph:
    """The file-level import graph among ``packages`` (imports of anything else are ignored)."""
    files = module_files(root, packages)

    def known(name: str) -> str | None:  # the module a dotted name lives in
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: Graph = {}
    for module, path in files.items():
        edges: dict[str, int] = {}
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str | None] = []
            if isinstance(node, ast.Import):
                targets = [known(alias.name) for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    up = package[: len(package) - (node.level - 1)]
                    base = ".".join([*up, *([node.module] if node.module else [])])
                for alias in node.names:  # ``from pkg import submodule`` imports the submodule
                    full = f"{base}.{alias.name}"
                    targets.append(full if full in files else known(base))
            for target in targets:
                if target and target != module:
                    edges.setdefault(target, node.lineno)
        graph[module] = edges
    return graph


def package_violations(graph: Graph, allowed=ALLOWED) -> list[str]:
    """One message per import that crosses the package order upwards (or into an unknown package)."""
    out = []
    for source, edges in sorted(graph.items()):
        src_pkg = source.split(".")[0]
        for target, line in sorted(edges.items()):
            dst_pkg = target.split(".")[0]
            if dst_pkg != src_pkg and dst_pkg not in allowed.get(src_pkg, ()):
                below = ", ".join(sorted(allowed.get(src_pkg, ()))) or "nothing"
                out.append(
                    f"{source} (line {line}) imports {target}: package {src_pkg} may import only from "
                    f"itself and {below}"
                )
    return out


def private_reaches(root: Path = ROOT, packages=ORDER) -> list[str]:
    """One message per import of another package's private (``_name``) module or name."""
    out = []
    for module, path in module_files(root, packages).items():
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif node.module and not node.level:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue  # a relative import stays inside its package
            for name in names:
                parts = name.split(".")
                private = any(p.startswith("_") and not p.startswith("__") for p in parts[1:])
                if parts[0] in packages and parts[0] != module.split(".")[0] and private:
                    out.append(f"{module} (line {node.lineno}) imports {name}, private to package {parts[0]}")
    return out


def file_cycles(graph: Graph) -> list[list[str]]:
    """Each import cycle among files, as a path that returns to its start (one per strongly connected
    component, found with Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:  # recursion depth is bounded by the number of files
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_path(graph, comp) for comp in sorted(components)]


def _cycle_path(graph: Graph, component: list[str]) -> list[str]:
    """A shortest import path from the component's first file back to itself."""
    members, start = set(component), component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph.get(v, {})):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if w in members and w not in previous:
                    previous[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")  # a component of size > 1 always has one


def cycle_messages(graph: Graph) -> list[str]:
    return [
        "import cycle: "
        + " -> ".join(
            f"{a} (line {graph[a][b]})" if i < len(path) - 1 else a
            for i, (a, b) in enumerate(zip(path, [*path[1:], path[0]]))
        )
        for path in file_cycles(graph)
    ]


# ---------------------------------------------------------------- the rules, held on the source


def test_allowed_order_is_the_design():
    assert ORDER == ("retrievers", "generators", "evaluation", "s3", "baselines")
    for low in ("retrievers", "generators", "evaluation"):
        assert "s3" not in ALLOWED[low] and "baselines" not in ALLOWED[low]
    assert "baselines" not in ALLOWED["s3"]
    assert ALLOWED["baselines"] == {"retrievers", "generators", "evaluation", "s3"}


def test_no_package_imports_upwards():
    graph = import_graph()
    assert len(graph) > 100 and graph["s3.searcher"]  # the graph was computed from the real source
    assert package_violations(graph) == []


def test_no_file_import_cycles():
    assert cycle_messages(import_graph()) == []


def test_no_package_reaches_into_another_s_private_names():
    assert private_reaches() == []


# ---------------------------------------------------------------- the checker catches what it must

#: the edges this layering removed: each one, put back into today's graph, must fail the checks
FORBIDDEN_EDGES = [
    ("s3.commands.train", "baselines.registry"),  # the core importing its comparisons
    ("s3.searcher", "baselines.search_r1"),
    ("evaluation.run", "s3.config"),  # evaluation reaching up into s3
    ("retrievers.factory", "s3.config"),
    ("generators.factory", "s3.config"),
    ("retrievers.doc", "generators.base"),  # any upward edge, not only those named in the design
]
CYCLE_EDGES = [  # (edge put back, a file the cycle must name)
    (("s3.reward_r1", "s3.train.heldout"), "s3.reward_r1"),  # a reward reaching the trainer
    (("s3.episode", "s3.protocol"), "s3.episode"),
    (("s3.protocol", "s3.protocol_r1"), "s3.protocol_r1"),
    (("evaluation.metrics", "evaluation.judge"), "evaluation.metrics"),
    (("retrievers.fusion", "retrievers.factory"), "retrievers.fusion"),
    (("retrievers.rerank", "retrievers.factory"), "retrievers.rerank"),
    (("s3.precompute_ray", "s3.precompute"), "s3.precompute_ray"),
    (("generators.prompts", "generators.base"), "generators.prompts"),
    (("s3.train.gold", "s3.train.warmstart"), "s3.train.gold"),
]


@pytest.fixture(scope="module")
def graph() -> Graph:
    return import_graph()


@pytest.mark.parametrize(("source", "target"), FORBIDDEN_EDGES)
def test_an_upward_import_fails_naming_the_edge(graph, source, target):
    assert source in graph and target in graph
    bad = {**graph, source: {**graph[source], target: 7}}
    messages = package_violations(bad)
    assert len(messages) == 1
    assert messages[0].startswith(f"{source} (line 7) imports {target}: package {source.split('.')[0]}")


@pytest.mark.parametrize(("edge", "member"), CYCLE_EDGES)
def test_a_file_cycle_fails_naming_its_path(graph, edge, member):
    source, target = edge
    assert source in graph and target in graph and target not in graph[source]
    bad = {**graph, source: {**graph[source], target: 3}}
    messages = cycle_messages(bad)
    assert len(messages) == 1
    assert f"{source} (line 3) -> {target}" in messages[0] and member in messages[0]
    path = file_cycles(bad)[0]
    assert path[0] == path[-1] and all(b in bad[a] for a, b in zip(path, path[1:]))


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_the_graph_counts_imports_in_functions_but_not_type_checking_blocks(tmp_path):
    _write(
        tmp_path,
        {
            "low/__init__.py": "",
            "low/a.py": """\
                from typing import TYPE_CHECKING

                import json
                from . import b

                if TYPE_CHECKING:
                    from high.x import X
                else:
                    from low import c

                def f():
                    from high import y
                """,
            "low/b.py": "from .c import g\n",
            "low/c.py": "def g():\n    import low.a\n",
            "high/__init__.py": "from high.x import X\n",
            "high/x.py": "import low.b as lb\nX = 1\n",
            "high/y.py": "",
            "high/z.py": "from low.b import _hidden\nfrom high.x import _mine\n",
        },
    )
    graph = import_graph(tmp_path, ("low", "high"))
    assert graph["low.a"] == {"low.b": 4, "low.c": 9, "high.y": 12}  # not json, not high.x
    assert graph["low.b"] == {"low.c": 1} and graph["low.c"] == {"low.a": 2}
    assert graph["high"] == {"high.x": 1} and graph["high.x"] == {"low.b": 1}

    assert package_violations(graph, {"low": frozenset(), "high": frozenset({"low"})}) == [
        "low.a (line 12) imports high.y: package low may import only from itself and nothing"
    ]
    assert private_reaches(tmp_path, ("low", "high")) == [
        "high.z (line 1) imports low.b._hidden, private to package low"
    ]
    # one cycle (low.a, low.b, low.c import each other), shown by its shortest loop
    assert cycle_messages(graph) == ["import cycle: low.a (line 9) -> low.c (line 2) -> low.a"]
