"""What Flux and kpt make of each fixture in testdata/ (objects the operator really wrote), by the
real sigs.k8s.io/cli-utils kstatus library (hack/kstatus), not by a re-implementation of its rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.support.integrations import EXPECTED, HEALTH_DIR, kstatuses

pytestmark = pytest.mark.tools


def _fixtures() -> dict[str, dict[str, Any]]:
    return {path.stem: yaml.safe_load(path.read_text()) for path in sorted((HEALTH_DIR / "testdata").glob("*.yaml"))}


def test_every_fixture_reads_as_expected_in_kstatus() -> None:
    fixtures = _fixtures()
    assert set(fixtures) == set(EXPECTED), "every fixture has its expected verdict, and only fixtures do"
    verdicts = dict(zip(fixtures, kstatuses(list(fixtures.values())), strict=True))
    assert {name: v.status for name, v in verdicts.items()} == {name: flux for name, (_, flux) in EXPECTED.items()}
    for name, verdict in verdicts.items():
        if verdict.status == "Failed":  # Flux prints this message: it is the Stalled condition's
            stalled = next(c for c in fixtures[name]["status"]["conditions"] if c["type"] == "Stalled")
            assert verdict.message == stalled["message"] != "", name


def test_an_object_being_deleted_is_terminating_whatever_its_conditions() -> None:
    fixtures = _fixtures()
    deleted = []
    for obj in fixtures.values():
        obj = copy.deepcopy(obj)
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        deleted.append(obj)
    assert {v.status for v in kstatuses(deleted)} == {"Terminating"}
