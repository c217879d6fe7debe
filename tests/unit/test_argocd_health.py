"""health.lua against every fixture in testdata/, as Argo CD's own resource_customizations tests do."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.support.integrations import HEALTH_DIR, HEALTH_LUA, argocd_health
from tests.support.paths import REPO

CASES = yaml.safe_load((HEALTH_DIR / "health_test.yaml").read_text())["tests"]


@pytest.mark.parametrize("case", CASES, ids=[c["inputPath"] for c in CASES])
def test_health_of_each_fixture(case: dict[str, Any]) -> None:
    obj = yaml.safe_load((HEALTH_DIR / case["inputPath"]).read_text())
    assert argocd_health(obj) == case["healthStatus"]


def test_every_fixture_has_a_case_and_all_phases_are_covered() -> None:
    files = {f"testdata/{p.name}" for p in (HEALTH_DIR / "testdata").glob("*.yaml")}
    assert files == {c["inputPath"] for c in CASES}
    statuses = {c["healthStatus"]["status"] for c in CASES}
    assert statuses == {"Healthy", "Progressing", "Degraded", "Suspended"}
    phases = {(yaml.safe_load((HEALTH_DIR / p).read_text()).get("status") or {}).get("phase") for p in files}
    assert {"Init", "Running", "Pending", "Success", "Cancel", None} <= phases


def test_argocd_cm_snippet_carries_the_same_script() -> None:
    snippet = yaml.safe_load((REPO / "manifests/argocd/argocd-cm-patch.yaml").read_text())
    assert snippet["data"]["resource.customizations.health.ccupgrade.dev_CceClusterUpgrade"] == HEALTH_LUA.read_text()


def test_the_charts_health_check_is_the_tested_one() -> None:
    """Helm reads files only from inside the chart, so the chart carries a copy of health.lua; the
    copy must be the script these fixtures test, or a Helm install would ship an untested one."""
    chart_copy = REPO / "charts" / "cce-upgrade-operator" / "files" / "health.lua"
    assert chart_copy.read_text() == HEALTH_LUA.read_text()
