"""The architecture, enforced on the import graph (grimp) and the source files.

- No import cycle in ``service`` and ``workflows``: neither between modules nor between sibling packages.
- Layers, from high to low: service.main/service.cli/service.cli_audit/service.cli_dev ->
  (service.api, service.console) ->
  service.workers -> (service.webhooks, service.reports) -> service.domain -> service.persistence -> workflows. A
  module imports only from its own layer or lower ones, directly or through modules outside the layers; workflows
  imports nothing from service.
- No module of service/ or workflows/ over 400 lines (``wc -l``).
- A test imports shared helpers from a support module (tests/support/, tests/helpers.py, ...), never from another
  test module or a conftest.py.

The tree does not meet all of this yet. Each violation there is today is listed below, exactly, with why it is
there; the tests fail on any violation that is not listed, and on any listed one that no longer exists ("remove
it from the list"), so the lists only shrink.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

import pytest

try:
    import grimp
except ImportError:  # an environment built before grimp joined the test extra: each graph test fails, saying so
    grimp = None  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("service", "workflows")
MAX_LINES = 400

# High to low; the modules of one tuple are one layer (they may import each other).
LAYERS: list[tuple[str, ...]] = [
    ("service.main", "service.cli", "service.cli_audit", "service.cli_dev", "service.serving"),
    ("service.api", "service.console"),
    ("service.workers",),
    ("service.webhooks", "service.reports"),
    ("service.domain",),
    ("service.persistence",),
    ("workflows",),
]
# The parts of service outside the layers (they may import any layer; the cycle checks still hold for them).
OUTSIDE_THE_LAYERS = {
    "service.auth": "tokens to actors, used by the API and the CLI",
    "service.config": "settings, read by every layer",
    "service.clock_file": "the dev clock's file in the data directory, read by Settings.clock",
    "service.demo": "the demo data of `cdht seed-demo`",
    "service.heap": "gc.freeze of what a long-lived process loaded, for the app's lifespan and the verify's workers",
    "service.openapi_dump": "writes openapi/openapi.json",
    "service.token_cache": "the tokens service.auth verified, kept until they expire (auth's own)",
    "service.telemetry": "log context, JSON logs, metrics and tracing, used by every layer; imports only itself",
    "service.walkthrough": "well-formed example payloads for the demo and the tests",
}

# --- the violations there are today (each may only be removed) ------------------------------------------------

KNOWN_MODULE_CYCLES: dict[tuple[str, ...], str] = {}
KNOWN_PACKAGE_CYCLES: dict[tuple[str, ...], str] = {}
KNOWN_LAYER_VIOLATIONS: dict[str, str] = {}
KNOWN_LONG_MODULES: dict[str, str] = {}
KNOWN_TEST_IMPORTS: dict[str, str] = {}


# --- checking found against known -----------------------------------------------------------------------------


def problems_against(found: Mapping[str, str], known: Mapping[str, str], what: str, listed_in: str) -> list[str]:
    """A line for each violation found but not listed, and for each listed one no longer found."""
    problems = [
        f"NEW {what}: {key}\n    {detail}\n    -> fix it ({listed_in} holds the violations there were; it only shrinks)"
        for key, detail in sorted(found.items())
        if key not in known
    ]
    problems += [
        f"GONE {what}: {key} is listed in {listed_in} but no longer exists -> remove it from the list"
        for key in sorted(known)
        if key not in found
    ]
    return problems


def report(problems: list[str]) -> str:
    return f"{len(problems)} architecture problem(s):\n" + "\n".join(problems)


# --- the import graph -----------------------------------------------------------------------------------------


@cache
def import_graph() -> grimp.ImportGraph:
    if grimp is None:
        pytest.fail("grimp is not installed: run .venv/bin/pip install -e '.[test]'", pytrace=False)
    return grimp.build_graph(*PACKAGES)


def imports_between(graph: grimp.ImportGraph, modules: Iterable[str]) -> list[str]:
    """``a -> b (line n)`` for every direct import among ``modules``."""
    members = sorted(modules)
    lines = []
    for importer in members:
        for imported in members:
            if importer != imported and graph.direct_import_exists(importer=importer, imported=imported):
                details = graph.get_import_details(importer=importer, imported=imported)
                where = ", ".join(str(detail["line_number"]) for detail in details)
                lines.append(f"{importer} -> {imported} (line {where})")
    return lines


def strongly_connected(nodes: Iterable[str], edges: Mapping[str, set[str]]) -> list[tuple[str, ...]]:
    """The groups of two or more nodes that reach each other (Tarjan), each sorted."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[tuple[str, ...]] = []

    def visit(node: str) -> None:
        index[node] = lowest[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                lowest[node] = min(lowest[node], lowest[target])
            elif target in on_stack:
                lowest[node] = min(lowest[node], index[target])
        if lowest[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(tuple(sorted(group)))

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return groups


def module_cycles(graph: grimp.ImportGraph) -> dict[tuple[str, ...], str]:
    edges = {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}
    return {group: "; ".join(imports_between(graph, group)) for group in strongly_connected(graph.modules, edges)}


def package_cycles(graph: grimp.ImportGraph) -> dict[tuple[str, ...], str]:
    """Cycles among the children of one package, each child taken with everything under it. A cycle of plain
    modules only is a module cycle (reported above), so only those with a package among them count here."""
    cycles = {}
    for package in sorted(m for m in graph.modules if graph.find_children(m)):
        children = graph.find_children(package)
        edges = {
            child: {
                other
                for other in children
                if other != child and graph.direct_import_exists(importer=child, imported=other, as_packages=True)
            }
            for child in children
        }
        for group in strongly_connected(children, edges):
            if any(graph.find_children(member) for member in group):
                arrows = [f"{a} -> {b}" for a in group for b in sorted(edges[a]) if b in group]
                cycles[group] = f"under {package}: " + "; ".join(arrows)
    return cycles


def layer_violations(graph: grimp.ImportGraph) -> dict[str, str]:
    layers = [grimp.Layer(*modules, independent=False) for modules in LAYERS]
    found = {}
    for dependency in graph.find_illegal_dependencies_for_layers(layers=layers):
        for route in dependency.routes:
            for head in sorted(route.heads):
                for tail in sorted(route.tails):
                    chain = " -> ".join([head, *route.middle, tail])
                    found[chain] = f"{dependency.importer} is below {dependency.imported}"
    return found


def dotted(key: tuple[str, ...]) -> str:
    return " <-> ".join(key)


# --- the tests ------------------------------------------------------------------------------------------------


def cycle_problems(
    found: Mapping[tuple[str, ...], str], known: Mapping[tuple[str, ...], str], what: str, listed_in: str
) -> list[str]:
    """As ``problems_against``, keyed by the modules of each cycle; a new cycle that shares modules with a listed
    one says so (a module joined or left the listed cycle, or it split)."""
    details = {}
    for group, detail in found.items():
        overlapping = [dotted(listed) for listed in known if set(listed) & set(group) and listed != group]
        details[dotted(group)] = detail + "".join(f"\n    (shares modules with the listed {o})" for o in overlapping)
    return problems_against(details, {dotted(group): why for group, why in known.items()}, what, listed_in)


def test_no_import_cycle_between_modules() -> None:
    problems = cycle_problems(module_cycles(import_graph()), KNOWN_MODULE_CYCLES, "import cycle", "KNOWN_MODULE_CYCLES")
    assert not problems, report(problems)


def test_no_import_cycle_between_sibling_packages() -> None:
    problems = cycle_problems(
        package_cycles(import_graph()),
        KNOWN_PACKAGE_CYCLES,
        "import cycle between sibling packages",
        "KNOWN_PACKAGE_CYCLES",
    )
    assert not problems, report(problems)


def test_every_part_of_service_is_in_a_layer_or_named_outside_them() -> None:
    graph = import_graph()
    placed = {module for layer in LAYERS for module in layer} | set(OUTSIDE_THE_LAYERS)
    parts = graph.find_children("service")
    problems = [
        f"{module} is in no layer: put it in LAYERS, or in OUTSIDE_THE_LAYERS with a reason"
        for module in sorted(parts - placed)
    ]
    problems += [
        f"{module} is placed but does not exist: remove it" for module in sorted(placed - parts - {"workflows"})
    ]
    assert not problems, report(problems)


def test_layers_import_only_downwards() -> None:
    problems = problems_against(
        layer_violations(import_graph()),
        KNOWN_LAYER_VIOLATIONS,
        "import from a lower layer to a higher one",
        "KNOWN_LAYER_VIOLATIONS",
    )
    assert not problems, report(problems)


def test_workflows_imports_nothing_from_service() -> None:
    graph = import_graph()
    found = [
        f"{importer} -> {imported}"
        for importer in sorted(graph.find_descendants("workflows") | {"workflows"})
        for imported in sorted(graph.find_modules_directly_imported_by(importer))
        if imported == "service" or imported.startswith("service.")
    ]
    assert not found, report([f"workflows imports service: {chain}" for chain in found])


def line_counts() -> dict[str, int]:
    """Lines of every module of service/ and workflows/, counted as ``wc -l`` does (newline characters)."""
    return {
        path.relative_to(ROOT).as_posix(): path.read_bytes().count(b"\n")
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def test_no_module_over_400_lines() -> None:
    found = {path: f"{lines} lines" for path, lines in line_counts().items() if lines > MAX_LINES}
    problems = problems_against(found, KNOWN_LONG_MODULES, f"module over {MAX_LINES} lines", "KNOWN_LONG_MODULES")
    assert not problems, report(problems)


def test_tests_import_shared_helpers_from_support_modules_only() -> None:
    """``from tests.x.test_y import ...`` or ``from tests.conftest import ...`` couples one test to another's
    module (and runs its module-level code): shared helpers live in tests/support/ or another support module."""
    found = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                last = name.rsplit(".", 1)[-1]
                if name.startswith("tests.") and (last.startswith("test_") or last == "conftest"):
                    where = f"{path.relative_to(ROOT).as_posix()}:{node.lineno}"
                    found[f"{where} imports {name}"] = "move what it needs to tests/support/"
    problems = problems_against(found, KNOWN_TEST_IMPORTS, "import of a test module", "KNOWN_TEST_IMPORTS")
    assert not problems, report(problems)
