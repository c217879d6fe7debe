"""The alert rules as shipped, and their promtool unit tests."""

from __future__ import annotations

from typing import Any

import yaml

from tests.support.paths import REPO

RULES = REPO / "charts/cce-upgrade-operator/files/alerts.rules.yaml"
RULES_TEST = REPO / "tests/promtool/alerts_test.yaml"
PROMETHEUS_RULE = REPO / "manifests/monitoring/prometheusrule.yaml"


def alerts() -> list[dict[str, Any]]:
    """The rules of the one group, in order."""
    return yaml.safe_load(RULES.read_text())["groups"][0]["rules"]  # type: ignore[no-any-return]
