"""The import rules of the house (CONTRIBUTING.md), read from the code's own import statements.

- ``protocol`` and ``dbc`` never import ``ecusim``: the UDS framework knows nothing of cars.
- The portal never imports the car side, and the scan tool never reaches the ECUs, not even
  through another module (a real scan tool has only the bus between it and the car).
- The bus observers (``ecusim.wire``, the passive decoder, and ``ecusim.monitor``, its views)
  never reach the car side: they know the car only from what it sends.
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
BUS_OBSERVERS = ("ecusim.wire", "ecusim.monitor")
"""Modules that read the bus only: the passive decoder and the monitor's views."""


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


def _is_type_checking(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` or ``typing.TYPE_CHECKING`` (not ``not TYPE_CHECKING``)."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                for inner in ast.walk(child):
                    if hasattr(inner, "lineno"):
                        lines.add(inner.lineno)
    return lines


def _lazy_names(tree: ast.Module) -> dict[str, str]:
    """A package's names imported on first use (PEP 562): its ``_LAZY = {"Name": "module"}``."""
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in node.targets)
            and isinstance(node.value, ast.Dict)
        ):
            return {
                key.value: value.value
                for key, value in zip(node.value.keys, node.value.values, strict=True)
                if isinstance(key, ast.Constant)
                and isinstance(key.value, str)
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
            }
    return {}


def _resolve(name: str, modules: Iterable[str], lazy: Mapping[str, dict[str, str]]) -> str | None:
    """The module of ours that ``name`` (a module, or a name in one) refers to, if any; a lazy
    name of a package (``from ecusim import Vehicle``) refers to the module it is loaded from."""
    known = set(modules)
    package, _, attribute = name.rpartition(".")
    if attribute in lazy.get(package, {}):
        return _resolve(lazy[package][attribute], known, lazy)
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module of a (possibly relative) ``from … import``."""
    if node.level == 0:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _with_parents(target: str, source: str, known: Iterable[str]) -> list[str]:
    """``target`` and the packages whose ``__init__`` importing it runs (not ``source``'s)."""
    known = set(known)
    found = [target]
    parent = target.rpartition(".")[0]
    while parent:
        if parent in known and parent != source and not source.startswith(parent + "."):
            found.append(parent)
        parent = parent.rpartition(".")[0]
    return found


def import_graph(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, list[Edge]]:
    """Every import statement between our modules (at any depth: functions, ``TYPE_CHECKING``)."""
    paths = {
        module_name(root, path): path
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
    }
    trees = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in paths.items()}
    lazy = {name: _lazy_names(tree) for name, tree in trees.items()}
    graph: dict[str, list[Edge]] = {name: [] for name in paths}
    for name, tree in trees.items():
        typing_lines = _type_checking_lines(tree)
        is_package = paths[name].name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = _absolute(name, is_package, node)
                targets = [f"{module}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                resolved = _resolve(target, paths, lazy)
                if resolved is None or resolved == name:
                    continue
                for reached in _with_parents(resolved, name, paths):
                    edge = Edge(name, reached, node.lineno in typing_lines, node.lineno)
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
    assert reach_violations(graph, ["ecusim.portal"], PORTAL_MAY_NOT_IMPORT) == []


def test_scan_tool_never_reaches_the_ecus(graph: Graph) -> None:
    assert reach_violations(graph, ["ecusim.tool"], TOOL_MAY_NOT_REACH) == []


def test_bus_observers_never_reach_the_car_side(graph: Graph) -> None:
    assert reach_violations(graph, BUS_OBSERVERS, CAR_SIDE) == []
    assert "ecusim.wire.decoder" in graph  # the rule looks at real modules


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
        "protocol.server:1 imports ecusim.car.vehicle",
        "protocol.server:1 imports ecusim.car",  # their __init__ run too
        "protocol.server:1 imports ecusim",
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


def test_a_lazy_name_and_a_relative_import_are_followed(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "ecusim/__init__.py": '_LAZY = {"Vehicle": "ecusim.car.vehicle"}\n',
            "ecusim/car/__init__.py": "",
            "ecusim/car/vehicle.py": "Vehicle = object\n",
            "ecusim/tool/__init__.py": "",
            "ecusim/tool/identify.py": "from ecusim import Vehicle\n",
            "ecusim/tool/reset.py": "from .identify import Vehicle\n",
        },
    )
    graph = import_graph(root, ["ecusim"])
    assert reach_violations(graph, ["ecusim.tool.identify"], ["ecusim.car"]) == [
        "ecusim.tool.identify -> ecusim.car.vehicle"
    ]
    assert {edge.target for edge in graph["ecusim.tool.reset"]} == {"ecusim.tool.identify"}


def test_not_type_checking_is_a_run_time_import(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "ecusim/__init__.py": "",
            "ecusim/a.py": (
                "from typing import TYPE_CHECKING\nif not TYPE_CHECKING:\n    import ecusim.b\n"
            ),
            "ecusim/b.py": "import ecusim.a\n",
        },
    )
    graph = import_graph(root, ["ecusim"])
    assert cycles(graph, include_typing=False) == ["ecusim.a, ecusim.b"]
