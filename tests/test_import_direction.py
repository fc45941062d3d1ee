"""The import rules of the house (CONTRIBUTING.md), read from the code's own import statements.

- ``protocol`` and ``dbc`` never import ``ecusim``: the UDS framework knows nothing of cars.
- The portal never imports the car side, and the scan tool never reaches the ECUs, not even
  through another module (a real scan tool has only the bus between it and the car).
- No import cycles: none at run time anywhere, and in ``ecusim`` none even behind
  ``TYPE_CHECKING`` (an ECU and its own diagnostics builder must not need each other).
  ``protocol``'s service handlers name ``UdsServer`` in annotations only (``TYPE_CHECKING``), as
  iso14229 and udsoncan handlers receive their server; that one back-reference is allowed.

Each rule is checked by a function of its own, and each function is also run on a small made-up
tree with a violation, so a rule that could never fail is caught too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("protocol", "dbc", "ecusim")

CAR_SIDE = ("ecusim.car", "ecusim.ecus", "ecusim.systems", "ecusim.vehicle")
"""Modules that simulate the car (the vehicle, its ECUs and how they are composed)."""
PORTAL_MAY_NOT_IMPORT = (*CAR_SIDE, "ecusim.tool", "ecusim.cli", "ecusim.demo", "ecusim.testing")
TOOL_MAY_NOT_REACH = ("ecusim.ecus", "ecusim.systems", "ecusim.car.vehicle", "ecusim.vehicle")


@dataclass(frozen=True)
class Edge:
    """``source`` imports ``target``; ``typing_only`` if only under ``if TYPE_CHECKING:``."""

    source: str
    target: str
    typing_only: bool
    line: int


Graph = Mapping[str, list[Edge]]


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for inner in ast.walk(child):
                    if hasattr(inner, "lineno"):
                        lines.add(inner.lineno)
    return lines


def _resolve(name: str, modules: Iterable[str]) -> str | None:
    """The module of ours that ``name`` (a module or a name in one) refers to, if any."""
    known = set(modules)
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, list[Edge]]:
    """Every import statement between our modules (at any depth: functions, ``TYPE_CHECKING``)."""
    paths = {
        module_name(root, path): path
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
    }
    graph: dict[str, list[Edge]] = {name: [] for name in paths}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_lines = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                resolved = _resolve(target, paths)
                if resolved is not None and resolved != name:
                    edge = Edge(name, resolved, node.lineno in typing_lines, node.lineno)
                    graph[name].append(edge)
    return graph


def _within(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def direct_violations(graph: Graph, sources: Iterable[str], forbidden: Iterable[str]) -> list[str]:
    """Imports from a module under ``sources`` of a module under ``forbidden``."""
    sources, forbidden = tuple(sources), tuple(forbidden)
    return [
        f"{edge.source}:{edge.line} imports {edge.target}"
        for edges in graph.values()
        for edge in edges
        if _within(edge.source, sources) and _within(edge.target, forbidden)
    ]


def reach_violations(graph: Graph, sources: Iterable[str], forbidden: Iterable[str]) -> list[str]:
    """Modules under ``sources`` that reach a module under ``forbidden`` through run-time
    imports (the path is in the message)."""
    sources, forbidden = tuple(sources), tuple(forbidden)
    found: list[str] = []
    for start in sorted(name for name in graph if _within(name, sources)):
        parent: dict[str, str] = {start: ""}
        queue = [start]
        while queue:
            current = queue.pop(0)
            if _within(current, forbidden):
                path = [current]
                while parent[path[-1]]:
                    path.append(parent[path[-1]])
                found.append(" -> ".join(reversed(path)))
                break
            for edge in graph[current]:
                if not edge.typing_only and edge.target not in parent:
                    parent[edge.target] = current
                    queue.append(edge.target)
    return found


def cycles(graph: Graph, *, include_typing: bool, within: Iterable[str] = PACKAGES) -> list[str]:
    """The strongly connected components of more than one module (Tarjan), as sorted names."""
    scope = tuple(within)
    nodes = [name for name in graph if _within(name, scope)]
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[str] = []

    def successors(name: str) -> list[str]:
        return [
            edge.target
            for edge in graph[name]
            if (include_typing or not edge.typing_only) and _within(edge.target, scope)
        ]

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for target in successors(name):
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in on_stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == name:
                    break
            if len(component) > 1:
                found.append(", ".join(sorted(component)))

    for name in nodes:
        if name not in index:
            visit(name)
    return sorted(found)


@pytest.fixture(scope="module")
def graph() -> dict[str, list[Edge]]:
    return import_graph(ROOT)


# -- the rules, on this repository -------------------------------------------------------------


@pytest.mark.parametrize("package", ["protocol", "dbc"])
def test_package_never_imports_ecusim(graph: Graph, package: str) -> None:
    assert direct_violations(graph, [package], ["ecusim"]) == []


def test_portal_never_imports_the_car_side(graph: Graph) -> None:
    assert direct_violations(graph, ["ecusim.portal"], PORTAL_MAY_NOT_IMPORT) == []


def test_scan_tool_never_reaches_the_ecus(graph: Graph) -> None:
    assert reach_violations(graph, ["ecusim.tool"], TOOL_MAY_NOT_REACH) == []


def test_no_import_cycle_at_run_time(graph: Graph) -> None:
    assert cycles(graph, include_typing=False) == []


def test_no_import_cycle_in_ecusim_even_for_type_checking(graph: Graph) -> None:
    assert cycles(graph, include_typing=True, within=["ecusim"]) == []


def test_the_graph_sees_the_known_imports(graph: Graph) -> None:
    """A scanner that read nothing would pass every rule: it must see real edges."""
    targets = {edge.target for edge in graph["ecusim.car.vehicle"]}
    assert "ecusim.systems.registry" in targets
    assert any(edge.typing_only for edge in graph["protocol.uds.services.base"])


# -- the rules can fail ------------------------------------------------------------------------


def _tree(tmp_path: Path, files: Mapping[str, str]) -> Path:
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def test_a_forbidden_direct_import_is_reported(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "protocol/__init__.py": "",
            "protocol/server.py": "from ecusim.car.vehicle import Vehicle\n",
            "ecusim/__init__.py": "",
            "ecusim/car/__init__.py": "",
            "ecusim/car/vehicle.py": "Vehicle = object\n",
        },
    )
    graph = import_graph(root, ["protocol", "ecusim"])
    assert direct_violations(graph, ["protocol"], ["ecusim"]) == [
        "protocol.server:1 imports ecusim.car.vehicle"
    ]


def test_a_forbidden_module_reached_through_another_is_reported(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "ecusim/__init__.py": "",
            "ecusim/tool/__init__.py": "",
            "ecusim/tool/show.py": "from ecusim.helper import x\n",
            "ecusim/helper.py": "import ecusim.ecus.engine\nx = 1\n",
            "ecusim/ecus/__init__.py": "",
            "ecusim/ecus/engine.py": "",
        },
    )
    graph = import_graph(root, ["ecusim"])
    assert direct_violations(graph, ["ecusim.tool"], TOOL_MAY_NOT_REACH) == []
    assert reach_violations(graph, ["ecusim.tool"], TOOL_MAY_NOT_REACH) == [
        "ecusim.tool.show -> ecusim.helper -> ecusim.ecus.engine"
    ]


def test_a_cycle_behind_type_checking_is_reported(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "ecusim/__init__.py": "",
            "ecusim/ecu.py": "from ecusim.diagnostics import build_server\n",
            "ecusim/diagnostics.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from ecusim.ecu import Ecu\n"
                "def build_server() -> None: ...\n"
            ),
        },
    )
    graph = import_graph(root, ["ecusim"])
    assert cycles(graph, include_typing=False) == []
    assert cycles(graph, include_typing=True) == ["ecusim.diagnostics, ecusim.ecu"]
