"""The package's structure, drawn from its imports: layers point one way, nothing is circular.

Every import of an ``nsbi`` module is read with :mod:`ast` (at module level and inside
functions; those under ``if TYPE_CHECKING:`` only name types and are skipped). Each
sub-package (or top-level module) has a layer; a module may import its own package and lower
layers only, and two packages of one layer know nothing of each other (the spec and the
learning, above all). Across modules, the import graph has no cycle.

Run it alone with ``python -m pytest tests/structure/test_layers.py``; it prints each
violation as ``module -> imported``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "nsbi"

#: the layers, lowest first: a package imports only its own package and lower layers
LAYERS: list[set[str]] = [
    {"_version", "exceptions", "progress", "random"},
    {"io"},
    {"workspace", "ratios"},  # the spec and the learning, apart
    {"model"},  # on both
    {"simulators", "sets"},
    {"infer"},
    {"workflows", "plot"},  # whole-workspace operations; figures
    {"cli"},
    {"__init__", "__main__"},  # the package's front doors (import nsbi, python -m nsbi)
]
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}


def _module_name(path: Path) -> str:
    if not path.is_relative_to(ROOT.parent):
        return path.stem
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for child in node.body for n in ast.walk(child)}
    return skipped


def imports_of(path: Path) -> set[str]:
    """The ``nsbi`` modules ``path`` imports (``from nsbi.x import name`` counts ``nsbi.x``
    and, when ``name`` is a module, ``nsbi.x.name``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    module = _module_name(path)
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "nsbi"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (path.name == "__init__.py")]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "nsbi":
                continue
            found.add(target)
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                if (ROOT.parent / Path(*candidate.split("."))).with_suffix(".py").exists():
                    found.add(candidate)
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    return {_module_name(p): imports_of(p) for p in sorted(ROOT.rglob("*.py"))}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in graph.items():
        own = _package(module)
        for target in sorted(targets):
            other = _package(target)
            if other == own or (other == "__init__" and target != "nsbi"):
                continue
            if other == "__init__" or RANK[other] >= RANK[own]:
                bad.append(f"{module} -> {target} (layer {RANK[own]} -> {RANK[other]})")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _package_graph(graph):
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        own = _package(module)
        packages.setdefault(own, set()).update(
            _package(t) for t in targets if _package(t) != own and t != "nsbi"
        )
    return packages


def test_every_package_has_a_layer():
    packages = {_package(m) for m in import_graph()}
    assert packages <= set(RANK), f"packages without a layer: {packages - set(RANK)}"


def test_no_import_runs_up_a_layer():
    bad = upward_imports(import_graph())
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_no_import_cycle_between_modules():
    found = cycles(import_graph())
    assert not found, f"import cycles between modules: {found}"


def test_no_import_cycle_between_packages():
    found = cycles(_package_graph(import_graph()))
    assert not found, f"import cycles between packages: {found}"


def test_the_check_catches_what_it_should(tmp_path):
    graph = {
        "nsbi.workspace.a": {"nsbi.ratios.b"},  # a peer of the same layer
        "nsbi.ratios.b": {"nsbi.model.c"},  # up a layer
        "nsbi.model.c": {"nsbi.io.d"},
        "nsbi.io.d": set(),
        "nsbi.sets.x": {"nsbi.sets.y"},
        "nsbi.sets.y": {"nsbi.sets.x"},  # a circle inside a package
    }
    assert sorted(upward_imports(graph)) == [
        "nsbi.ratios.b -> nsbi.model.c (layer 2 -> 3)",
        "nsbi.workspace.a -> nsbi.ratios.b (layer 2 -> 2)",
    ]
    assert cycles(graph) == [["nsbi.sets.x", "nsbi.sets.y"]]
    lazy = tmp_path / "lazy.py"
    lazy.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import nsbi.cli\n"
        "def f():\n    from nsbi.model import Model\n"
    )
    assert imports_of(lazy) == {"nsbi.model"}


def _command_bodies():
    """``(module, function, lines)`` of every function under an ``@click.command`` in
    ``nsbi/cli``: the lines of its body after the docstring."""
    for path in sorted((ROOT / "cli").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            decorators = [ast.unparse(d) for d in node.decorator_list]
            if not any(".command(" in d or ".group(" in d for d in decorators):
                continue
            body = node.body[1:] if ast.get_docstring(node) else node.body
            yield path.name, node.name, body[-1].end_lineno - body[0].lineno + 1


def test_every_cli_command_is_a_thin_layer():
    bodies = list(_command_bodies())
    assert len(bodies) >= 10
    long = [f"{m}:{f} ({n} lines)" for m, f, n in bodies if n > 30]
    assert not long, f"command bodies over 30 lines (move the work into the library): {long}"


def test_each_shared_option_is_defined_once():
    """``--quiet``, ``--measurement``, ``--output``, ``--plot``, ``--seed``, ``--toys``,
    ``--scheduler``, ``--workers``, ``--interpolation``, ``--allow-stale`` are spelled out in
    :mod:`nsbi.cli.options` only."""
    shared = ["--quiet", "--measurement", "--output", "--plot", "--seed", "--toys",
              "--scheduler", "--workers", "--interpolation", "--allow-stale"]  # fmt: skip
    spelled = {}
    for path in sorted((ROOT / "cli").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        for option in shared:
            if re.search(rf'click\.option\(\s*"{option}"', text):
                spelled.setdefault(option, []).append(path.name)
    assert all(places == ["options.py"] for places in spelled.values()), spelled
    assert set(spelled) == set(shared)
