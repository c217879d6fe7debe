"""Every public class, function and method of the operator has a docstring saying why it exists.

Public: a module-level class or function, or a method of a public class, whose name does not
start with an underscore. The simulator and the test bed are not the operator and are left out.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SOURCES = Path(__file__).resolve().parents[2] / "operator" / "ccupgrade"
NOT_THE_OPERATOR = ("simulator/", "testbed/")


Definition = ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef


def _public(node: Definition) -> bool:
    return not node.name.startswith("_")


def public_definitions(tree: ast.Module) -> Iterator[Definition]:
    """Module-level public classes and functions, and the public methods of public classes."""
    for node in tree.body:
        if isinstance(node, Definition) and _public(node):
            yield node
            if isinstance(node, ast.ClassDef):
                methods = (m for m in node.body if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef))
                yield from (m for m in methods if _public(m))


def undocumented(exclude: tuple[str, ...] = NOT_THE_OPERATOR) -> tuple[list[str], int]:
    """(`path:line name` of each public definition without a docstring, how many there are in all)."""
    missing, total = [], 0
    for path in sorted(SOURCES.rglob("*.py")):
        relative = path.relative_to(SOURCES).as_posix()
        if relative.startswith(exclude):
            continue
        for node in public_definitions(ast.parse(path.read_text(), str(path))):
            total += 1
            if not ast.get_docstring(node):
                missing.append(f"{relative}:{node.lineno} {node.name}")
    return missing, total


def test_every_public_definition_has_a_docstring() -> None:
    missing, total = undocumented()
    assert total > 100  # the walk found the sources
    assert missing == []


# Of the simulator and the test bed, the parts users drive in their own demos and tests.
DRIVEN_BY_USERS = (
    "simulator/faults.py",
    "simulator/gatekeeper.py",
    "simulator/scenario.py",
    "simulator/control.py",
    "simulator/bench.py",
    "testbed/",
)


def test_the_simulator_and_test_bed_parts_users_drive_are_documented_too() -> None:
    missing = []
    for path in sorted(SOURCES.rglob("*.py")):
        relative = path.relative_to(SOURCES).as_posix()
        if relative.startswith(DRIVEN_BY_USERS):
            nodes = public_definitions(ast.parse(path.read_text(), str(path)))
            missing += [f"{relative}:{node.lineno} {node.name}" for node in nodes if not ast.get_docstring(node)]
    assert missing == []


if __name__ == "__main__":  # counts for the whole operator
    everything, count = undocumented()
    print(f"{count - len(everything)} of {count} public definitions have a docstring")
    print("\n".join(everything))
