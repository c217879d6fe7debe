"""What spec.suspend means to kstatus (Flux), Argo CD and `kubectl wait`, in every state it can
catch an upgrade in; and the wide column that shows the version upgraded from."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from ccupgrade import crd
from ccupgrade.mirror.core import suspended
from tests.support.integrations import argocd_health, kstatus
from tests.support.mirror_walk import T0, Walk


def _object(status: Any, generation: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "ccupgrade.dev/v1alpha1",
        "kind": "CceClusterUpgrade",
        "metadata": {"name": "prod", "namespace": "ns", "generation": generation},
        "spec": {"suspend": True},
        "status": json.loads(json.dumps(status.model_dump(mode="json", by_alias=True, exclude_none=True))),
    }


@pytest.mark.parametrize(
    ("scenario", "second", "ready_kept"),
    [
        ("standard", 0, False),
        ("standard", 31, False),
        ("failing", 41, False),
        ("cancelled", 25, False),
        ("standard", 60, True),
    ],
)
def test_suspended_reads_current_in_kstatus_suspended_in_argocd(scenario: str, second: float, ready_kept: bool) -> None:
    walk = Walk(scenario)
    walk.observe(second)
    result = suspended(walk.status, 2, T0 + timedelta(seconds=second + 5))
    obj = _object(result.status)
    assert kstatus(obj) == "Current", "Flux must not wait for its timeout on an object at rest on purpose"
    assert argocd_health(obj)["status"] == "Suspended"
    conditions = {c.type: c for c in result.status.conditions}
    assert (conditions["Reconciling"].status, conditions["Reconciling"].reason) == ("False", "Suspended")
    assert (conditions["Stalled"].status, conditions["Stalled"].reason) == ("False", "Suspended")
    # `kubectl wait --for=condition=Ready` passes only for an upgrade that really finished.
    assert ("Ready" in conditions) is ready_kept
    if ready_kept:
        assert conditions["Ready"].status == "True"
    assert result.status.phase == walk.status.phase, "the last observation stays"


def test_resuming_sets_ready_again() -> None:
    walk = Walk("standard")
    walk.observe(31)
    walk.stored = json.loads(
        json.dumps(suspended(walk.status, 2, T0).status.model_dump(mode="json", by_alias=True, exclude_none=True))
    )
    walk.observe(32, generation=3)
    assert walk.condition("Ready").reason == "UpgradeInProgress"
    assert kstatus(_object(walk.status, 3) | {"spec": {}}) == "InProgress"


def test_wide_column_names_the_version_upgraded_from() -> None:
    columns = crd.build_crd()["spec"]["versions"][0]["additionalPrinterColumns"]
    by_path = {c["jsonPath"]: c["name"] for c in columns}
    assert by_path[".status.clusterVersion"] == "From"
    assert "Current" not in by_path.values()
