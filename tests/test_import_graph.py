"""The library's import graph: no cycle between the packages and top-level modules under recsys/
(every run-time import counted, also those inside functions; imports under `if TYPE_CHECKING:` serve
annotations only), and the packages that once formed a cycle (recsys.service and
recsys.experiments) each import first in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "recsys"
PARTS = {  # each package under recsys/ -> its files, and each top-level module -> itself
    **{p.name: sorted(p.rglob("*.py")) for p in LIBRARY.iterdir() if (p / "__init__.py").is_file()},
    **{p.stem: [p] for p in LIBRARY.glob("*.py") if p.name != "__init__.py"},
}


def part_of(module: str) -> str | None:
    """The package under recsys/ a dotted module name belongs to (None: outside them)."""
    parts = module.split(".")
    if parts[0] != "recsys" or len(parts) < 2 or parts[1] not in PARTS:
        return None
    return parts[1]


def imported(path: Path) -> set[str]:
    """Every module `path` imports, absolute names (relative imports resolved)."""
    here = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    names: set[str] = set()
    for node in run_time_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*here.split(".")[: -node.level], *filter(None, [base])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def run_time_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of `tree` except those under `if TYPE_CHECKING:` (annotation-only imports)."""
    found, todo = [], [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return found


def import_graph() -> dict[str, set[str]]:
    """Which packages of the library each package imports."""
    graph: dict[str, set[str]] = {name: set() for name in PARTS}
    for name, paths in PARTS.items():
        for path in paths:
            for module in imported(path):
                target = part_of(module)
                if target is not None and target != name:
                    graph[name].add(target)
    return graph


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path (first node repeated at the end), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for after in sorted(graph[node]):
            if state.get(after) == "open":
                return [*stack[stack.index(after) :], after]
            if after not in state and (found := visit(after)) is not None:
                return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert cycle_in({"a": {"b"}, "b": set()}) is None


def test_no_cycle_between_library_packages() -> None:
    graph = import_graph()
    assert "service" in graph["experiments"]  # routing ranks through the service
    assert cycle_in(graph) is None, " -> ".join(cycle_in(graph) or [])


@pytest.mark.parametrize("package", ["service", "experiments"])
def test_each_package_imports_first_in_a_fresh_interpreter(package: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import recsys.{package}"], cwd=ROOT, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
