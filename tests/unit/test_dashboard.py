"""The Grafana dashboard only queries metrics the operator exports."""

from __future__ import annotations

import json
import re

from prometheus_client import generate_latest

from ccupgrade.app.metrics import Metrics
from tests.support.paths import REPO


def test_dashboard_queries_exported_metrics() -> None:
    dashboard = json.loads((REPO / "manifests/grafana/dashboard.json").read_text())
    metrics = Metrics()
    metrics.cce_response("host", "200", 0.1)
    metrics.status_written("success")
    metrics.event_posted("TaskFailed", "Warning")
    exported = generate_latest(metrics.registry).decode()
    names = set(re.findall(r"^# TYPE (\w+)", exported, re.MULTILINE))
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b(ccupgrade_\w+?)(?:_bucket|_total|_count|_sum)?\b", target["expr"])
    }
    assert used
    assert used <= names | {n.removesuffix("_total") for n in names}, used - names
