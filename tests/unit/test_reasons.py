"""Reasons come from one enum, and the documentation lists exactly that enum.

The values are a stable API (alert rules, Argo CD and kstatus checks, event routers match on
them): the enum is the one place they are spelt; the conditions-and-Events page and the
troubleshooting page list the same set.
"""

from __future__ import annotations

import ast
import re

from ccupgrade.models import Reason
from tests.support.paths import DOCS, REPO

CONDITIONS_PAGE = (DOCS / "reference" / "conditions-and-events.md").read_text()
TROUBLESHOOTING_PAGE = (DOCS / "troubleshooting.md").read_text()
SOURCES = REPO / "operator" / "ccupgrade"
_TICKED = re.compile(r"`([A-Z][A-Za-z]+)`")

# The groups the pages document: the phase table, the troubleshooting table, the Events list.
PHASE_REASONS = frozenset(
    {
        Reason.UPGRADE_INITIALIZING,
        Reason.UPGRADE_IN_PROGRESS,
        Reason.UPGRADE_TASK_FAILED,
        Reason.UPGRADE_SUCCEEDED,
        Reason.UPGRADE_CANCELLED,
        Reason.UNRECOGNIZED_PHASE,
        Reason.NO_WORKFLOW,
        Reason.CLOUD_API_UNAVAILABLE,
        Reason.SUSPENDED,
    }
)

# The reasons of a failed read the user must fix: Stalled, with a Warning Event of the same reason.
CONFIGURATION_REASONS = frozenset(
    {
        Reason.SECRET_NOT_FOUND,
        Reason.INVALID_CREDENTIALS,
        Reason.ENDPOINT_NOT_ALLOWED,
        Reason.INVALID_SPEC,
        Reason.AUTHENTICATION_FAILED,
        Reason.PERMISSION_DENIED,
        Reason.CLUSTER_NOT_FOUND,
        Reason.REQUEST_REJECTED,
        Reason.CONFIGURATION_ERROR,
        Reason.STATUS_REJECTED,
    }
)

# The Events of real changes (the configuration problems' Warnings come on top).
EVENT_REASONS = frozenset(
    {
        Reason.WORKFLOW_DETECTED,
        Reason.UPGRADE_STARTED,
        Reason.UPGRADE_RESUMED,
        Reason.TASK_QUEUED,
        Reason.TASK_STARTED,
        Reason.TASK_SUCCEEDED,
        Reason.TASK_FAILED,
        Reason.UPGRADE_BLOCKED,
        Reason.UPGRADE_SUCCEEDED,
        Reason.UPGRADE_CANCELLED,
        Reason.PHASE_CHANGED,
        Reason.TASK_STATUS_CHANGED,
        Reason.PRE_CHECK_FAILED,
        Reason.PRE_CHECK_EXPIRED,
        Reason.UPGRADE_SLOW,
        Reason.CLOUD_API_ERROR,
        Reason.CLOUD_API_RECOVERED,
        Reason.UPGRADE_AVAILABLE,
    }
)


def _table_after(page: str, heading: str) -> str:
    """The first Markdown table after a line starting with `heading`."""
    rest = page[page.index(heading) :]
    lines = rest.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "\n".join(lines[start:end])


def test_the_groups_split_the_enum() -> None:
    assert set(Reason) == PHASE_REASONS | CONFIGURATION_REASONS | EVENT_REASONS
    assert not PHASE_REASONS & CONFIGURATION_REASONS
    assert not CONFIGURATION_REASONS & EVENT_REASONS


def test_the_condition_tables_list_the_condition_reasons() -> None:
    phases = set(_TICKED.findall(_table_after(CONDITIONS_PAGE, "| CCE phase |")))
    troubleshooting = _table_after(TROUBLESHOOTING_PAGE, "# Troubleshooting by reason")
    first_column = {m for row in troubleshooting.splitlines() for m in _TICKED.findall(row.split("|")[1])}
    assert phases | first_column == {r.value for r in PHASE_REASONS | CONFIGURATION_REASONS}
    assert {r.value for r in CONFIGURATION_REASONS} <= first_column


def test_the_event_list_is_the_event_reasons() -> None:
    paragraph = CONDITIONS_PAGE[CONDITIONS_PAGE.index("**Events**") :].split("\n\n", 1)[0]
    assert set(_TICKED.findall(paragraph)) == {r.value for r in EVENT_REASONS}


def test_the_conditions_page_names_the_enum_as_the_source() -> None:
    assert "`ccupgrade.models.Reason`" in CONDITIONS_PAGE
    assert "operator/ccupgrade/models/reasons.py" in CONDITIONS_PAGE


def test_no_reason_is_spelt_outside_the_enum() -> None:
    """A reason written as a string literal elsewhere would drift from the enum unnoticed."""
    values = {r.value for r in Reason}
    found = []
    for path in sorted(SOURCES.rglob("*.py")):
        relative = path.relative_to(SOURCES).as_posix()
        if relative == "models/reasons.py" or relative.startswith(("simulator/", "testbed/")):
            continue
        tree = ast.parse(path.read_text(), str(path))
        exported = {  # `__all__` names classes (an error class may share a reason's name), not reasons
            id(item)
            for node in tree.body
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets)
            for item in ast.walk(node.value)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in values and id(node) not in exported:
                found.append(f"{relative}:{node.lineno}: {node.value!r}")
    assert found == []
