"""Argo CD and Flux are unaffected between upgrades: a new version on offer (status.available) or a
failed console pre-check (status.latestPreCheck) changes neither the health nor the kstatus of any
state the object can be in."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from tests.support.integrations import argocd_health, kstatus
from tests.support.plugin_states import STATES, state

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
BETWEEN = {
    "available": {
        "currentVersion": "v1.28.15-r20",
        "targetVersions": ["v1.29.13-r0"],
        "newestVersion": "v1.31",
        "stepsToNewest": 2,
        "minorVersionsBehind": 3,
    },
    "latestPreCheck": {
        "taskId": "console-1",
        "phase": "Failed",
        "counts": [{"kind": "Exception", "level": "Fatal", "count": 1}],
        "findings": [{"name": "NodeDiskCheck", "kind": "Exception", "level": "Fatal", "where": "node n1"}],
    },
}


@pytest.mark.parametrize("name", STATES)
def test_an_available_upgrade_reads_the_same_to_argocd_and_kstatus(name: str) -> None:
    before = state(name, NOW)
    after = copy.deepcopy(before)
    after.setdefault("status", {}).update(copy.deepcopy(BETWEEN))
    assert argocd_health(after) == argocd_health(before)
    assert kstatus(after) == kstatus(before)
