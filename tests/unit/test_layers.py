"""The package's layers, enforced: a lower layer never imports a higher one.

Every `import`/`from ... import` in every module counts, function-level and TYPE_CHECKING ones
included, since a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What each top-level part of the package may import of ours (besides itself).
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "rules": {"config"},
    "ledger": {"rules", "config"},
    "engine": {"rules", "config", "stacks", "stacks.spec"},
    "remote": {"rules", "config"},
    "capacity": {"rules", "config"},
    "pricing": {"ledger", "rules", "config"},
    "ops": {"pricing", "ledger", "engine", "remote", "capacity", "rules", "config", "stacks.spec"},
    # The edges, lowest first: the REST API, the dashboard over its handlers, the composition
    # root that joins them into the ASGI app, and the CLI over everything.
    "api": {"ops", "pricing", "ledger", "engine", "remote", "capacity", "rules", "config"},
    "web": {"api", "ops", "pricing", "ledger", "engine", "remote", "capacity", "rules", "config"},
    "asgi": {"web", "api", "ops", "pricing", "ledger", "engine", "remote", "capacity", "rules"}
    | {"config"},
    "cli": {"*"},
    "__init__": set(),
}
EDGES = {"api", "web", "asgi", "cli"}


def part_of(path: Path) -> str:
    rel = path.relative_to(ROOT / "provisioner")
    return rel.parts[0].removesuffix(".py")


def imported_parts(path: Path) -> set[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "provisioner":
                names = [f"provisioner.{alias.name}" for alias in node.names]
        for name in names:
            head, _, rest = name.partition(".")
            if head == "stacks":
                # stacks.spec is the programs' input contract (pure data); the programs are not.
                contract = rest.split(".")[0] == "spec" or (
                    isinstance(node, ast.ImportFrom)
                    and node.module == "stacks"
                    and all(alias.name == "spec" for alias in node.names)
                )
                found.add(("stacks.spec" if contract else "stacks", node.lineno))
            elif head == "provisioner" and rest:
                found.add((rest.split(".")[0], node.lineno))
    return found


def violations() -> list[str]:
    found = []
    for path in sorted((ROOT / "provisioner").rglob("*.py")):
        part = part_of(path)
        allowed = ALLOWED.get(part)
        assert allowed is not None, f"{path}: new top-level part {part!r}: give it a layer here"
        for imported, line in imported_parts(path):
            if imported == part or "*" in allowed:
                continue
            if imported not in allowed:
                found.append(f"{path.relative_to(ROOT)}:{line} ({part}) imports {imported}")
    for path in sorted((ROOT / "stacks").rglob("*.py")):
        for imported, line in imported_parts(path):
            if imported not in ("stacks", "stacks.spec"):
                found.append(
                    f"{path.relative_to(ROOT)}:{line} (stacks) imports provisioner.{imported}"
                )
    return found


def test_no_layer_imports_a_higher_one() -> None:
    assert violations() == []


@pytest.mark.parametrize("part", sorted(set(ALLOWED) - EDGES - {"__init__"}))
def test_nothing_below_the_edges_imports_them(part: str) -> None:
    assert not (ALLOWED[part] & EDGES)


def module_graph() -> dict[str, set[str]]:
    """provisioner module -> the provisioner modules it imports (packages' __init__ excluded)."""
    modules = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts): p
        for p in (ROOT / "provisioner").rglob("*.py")
        if p.name != "__init__.py"
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                candidates = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            targets |= {c for c in candidates if c in modules and c != name}
        graph[name] = targets
    return graph


def test_no_two_modules_import_each_other() -> None:
    graph = module_graph()
    circles = {
        tuple(sorted((a, b))) for a, targets in graph.items() for b in targets if a in graph[b]
    }
    assert circles == set()
