"""No import cycles in ``branchops`` (issue 16): every import counts, at module level, inside a
function or under ``TYPE_CHECKING``, because a cycle of any kind ties two modules together (one
cannot be read, tested or moved without the other). The few cycles left are named below, each
with why it stays."""

from __future__ import annotations

import ast
from collections.abc import Collection
from pathlib import Path

import branchops

#: import edges (importer -> imported) allowed to close a cycle, and why
ALLOWED = {
    # the command modules import the typer app to register on it; app imports them all (through
    # cli/commands.py) when it runs: registration by import side effect (issue 16 part 6)
    ("branchops.cli.app", "branchops.cli.commands"),
    # load_catalog installs postgres_roles' permission-error translation on a PostgreSQL catalog,
    # and `branchops init --apply-roles` (role_setup) opens the catalog through load_catalog
    ("branchops.security.postgres_roles", "branchops.catalog"),
    # type-only back edges to the VersionedCatalog ABC from the helpers its methods call lazily
    # (create_branch/reset -> readable.require_readable, load_table -> iceberg.load_table_or_raise);
    # breaking them needs a Protocol of the catalog's whole read surface
    ("branchops.readable", "branchops.catalog.base"),
    ("branchops.catalog.iceberg", "branchops.catalog.base"),
}

Graph = dict[str, dict[str, int]]  # module -> imported module -> line of the first such import


def import_graph(package: Path) -> Graph:
    """Every import between the modules of ``package`` (a folder), wherever it is written."""
    modules: dict[str, Path] = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if "sample_project" in parts:
            continue  # a dbt project's Python (none today), not branchops'
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def owner(name: str) -> str | None:  # the module an imported name lives in
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: Graph = {m: {} for m in modules}
    for module, path in modules.items():
        here = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for name in names:
                target = owner(name)
                if target is not None and target != module:
                    graph[module].setdefault(target, node.lineno)
    return graph


def cycles(graph: Graph, allowed: Collection[tuple[str, str]] = ()) -> list[list[str]]:
    """The strongly connected components of more than one module, once ``allowed`` edges are left out."""
    edges = {m: [t for t in ts if (m, t) not in allowed] for m, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                found.append(sorted([v, *component]))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def describe(graph: Graph, component: list[str]) -> str:
    return "; ".join(f"{a} -> {b} (line {graph[a][b]})" for a in component for b in graph[a] if b in component)


def test_branchops_has_no_import_cycle_but_the_named_ones() -> None:
    graph = import_graph(Path(branchops.__file__).parent)
    left = cycles(graph, ALLOWED)
    assert not left, "import cycles: " + " | ".join(describe(graph, c) for c in left)
    stale = sorted(f"{a} -> {b}" for a, b in ALLOWED if b not in graph.get(a, {}))
    assert not stale, f"no longer imported, drop from ALLOWED: {stale}"


def test_a_cycle_through_a_function_or_type_checking_import_is_found(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..c import C\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text("from pkg import a\n")  # imports into the cycle, not part of it
    graph = import_graph(pkg)
    assert cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]
    assert cycles(graph, {("pkg.c", "pkg.a")}) == []
