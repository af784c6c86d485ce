"""No import cycles in ``jaxpool/`` or ``experiments/``, function-level imports included.

An ast-based checker, independent of the import system: every ``import`` / ``from ... import`` statement
anywhere in a module (top level, inside functions, under ``if TYPE_CHECKING``) is an edge to the project
module it names (``from pkg import name`` names the submodule ``pkg.name`` when that file exists, else the
package ``pkg``). A cycle in that graph fails the test with the modules on it. Importing a submodule also
runs its parent package's ``__init__``; that implicit edge is not counted (it would make every package a
cycle), only what the code writes.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("jaxpool", "experiments")


def module_files(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under ``root/<package>`` (``pkg/__init__.py`` is
    ``pkg``)."""
    out = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a (possibly relative) ``from`` import starts from."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_edges(module: str, source: str, known: set[str], is_package: bool = False) -> set[str]:
    """The project modules that ``source`` (the text of ``module``) imports, anywhere in the file.

    Args:
      module: the dotted name of the importing module.
      source: its Python source.
      known: every dotted module name of the project.
      is_package: whether ``module`` is a package ``__init__`` (for relative imports).

    Returns:
      The imported names among ``known`` (the module itself excluded).
    """
    targets: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            start = _resolve(module, is_package, node)
            names = [f"{start}.{alias.name}" if f"{start}.{alias.name}" in known else start for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # ``import a.b.c`` of a name inside a module: its module
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
    return targets


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (or a self-loop), each sorted.

    Tarjan's algorithm, iterative. Returns the components sorted by their first name; empty when the graph
    has no cycle.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    cycles.append(sorted(component))
    return sorted(cycles)


def project_graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the project modules it imports, for every module of ``packages``."""
    files = module_files(root, packages)
    known = set(files)
    return {
        name: import_edges(name, path.read_text(encoding="utf-8"), known, path.name == "__init__.py")
        for name, path in files.items()
    }


def test_the_checker_finds_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    """A two-module cycle whose back edge is a function-level relative import, and a clean third module."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""pkg."""\n')
    (pkg / "a.py").write_text("from pkg import b\nimport numpy\n")
    (pkg / "b.py").write_text("def f():\n    from . import a\n    return a\n")
    (pkg / "c.py").write_text("import pkg.a\nfrom pkg.b import f\n")
    graph = project_graph(tmp_path, ("pkg",))
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}, "pkg.c": {"pkg.a", "pkg.b"}}
    assert find_cycles(graph) == [["pkg.a", "pkg.b"]]
    assert find_cycles({"x": {"x"}, "y": set()}) == [["x"]]
    assert find_cycles({"x": {"y"}, "y": {"z"}, "z": set()}) == []


def test_no_import_cycles_in_jaxpool_or_experiments() -> None:
    graph = project_graph()
    assert {"jaxpool", "jaxpool.linen", "experiments.common.trainer"} <= set(graph)
    assert "jaxpool._max" in graph["jaxpool"]  # the checker sees real edges
    assert find_cycles(graph) == []


def test_common_imports_no_study_and_jaxpool_imports_no_experiments() -> None:
    graph = project_graph()
    studies = {"experiments.downsampling", "experiments.allcnn_cifar10", "experiments.benchmarks"}
    bad = {
        (src, dst)
        for src, dsts in graph.items()
        for dst in dsts
        if (src.startswith("experiments.common") and any(dst.startswith(s) for s in studies))
        or (src.startswith("jaxpool") and dst.startswith("experiments"))
    }
    assert bad == set()
