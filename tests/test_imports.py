"""The package import graph: no circles, and imports only go down the layers.

Layers (docs/architecture.md): ``model <- hw <- verif <- sim <- scripts``.
``model`` imports nothing of ours, ``hw`` imports ``model`` only, and so on;
``scripts`` may import anything.  Every module under the five packages is
parsed with ``ast``; imports at module level and inside functions (and under
``if TYPE_CHECKING``) all count, because a deferred import is still a
dependency, only a hidden one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("model", "hw", "verif", "sim", "scripts")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    """Every Python module of the five packages, by dotted name."""
    modules = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                modules[_module_name(path)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest project module that ``name`` (a dotted import) refers to."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules ``module`` imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            # ``from pkg import mod`` imports the submodule ``pkg.mod``.
            names = [f"{prefix}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name, modules)
            if target is not None and target != module:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {m: imports_of(m, p, modules) for m, p in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as ``[m0, m1, ..., m0]``, or None (iterative DFS)."""
    state = {}   # 1 on the current path, 2 done
    for root in sorted(graph):
        if state.get(root):
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append(iter(sorted(graph[child])))
    return None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    bad = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if rank[target.split(".")[0]] > rank[module.split(".")[0]]:
                bad.append(f"{module} -> {target}")
    return bad


def test_graph_sees_the_packages():
    graph = import_graph()
    assert {m.split(".")[0] for m in graph} == set(LAYERS)
    # The parser resolves relative and function-level imports: spot checks
    # of edges that exist in the tree today.
    assert "model.formats" in graph["model.gemm"]
    assert "model" in {t.split(".")[0] for t in graph["hw.pe"]}


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_imports_go_down_the_layers():
    bad = upward_imports(import_graph())
    assert not bad, "imports against the layer order model <- hw <- verif <- sim <- scripts:\n" \
        + "\n".join(bad)


@pytest.mark.parametrize("graph, expect", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"b"}, "b": set(), "c": {"b"}}, None),
    ({"a": {"a"}}, ["a", "a"]),
])
def test_find_cycle_can_fail(graph, expect):
    assert find_cycle(graph) == expect


def test_upward_import_is_reported():
    assert upward_imports({"model.x": {"hw.y"}, "hw.y": {"model.x"}}) == ["model.x -> hw.y"]
