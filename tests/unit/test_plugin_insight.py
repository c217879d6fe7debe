"""The plugin's Progress and Pre-check sections, rendered from status as the operator writes it."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from ccupgrade.plugin.view import UpgradeView, list_table, status_view
from tests.support.plugin_states import state

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _render(obj: dict[str, Any]) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=180, color_system=None).print(status_view(UpgradeView.from_api(obj, now=NOW)))
    return buffer.getvalue()


def test_running_upgrade_shows_percentage_eta_and_slowness() -> None:
    obj = state("running", NOW)
    obj["status"].update(
        progress="2/4 · 63%",
        taskProgress={"task": "Cluster", "taskId": "t1", "percent": 63, "since": _stamp(NOW - timedelta(minutes=16))},
        eta={
            "task": "Cluster",
            "taskEnd": _stamp(NOW + timedelta(minutes=29)),
            "basis": "history",
            "samples": 4,
            "workflowEnd": _stamp(NOW + timedelta(minutes=32)),
            "text": "08:32 UTC",
        },
        slow={
            "task": "Cluster",
            "since": _stamp(NOW - timedelta(minutes=1)),
            "message": "task Cluster has stayed at 63% since 2026-11-27 07:44:00 UTC (longer than 15m)",
        },
    )
    out = _render(obj)
    assert "Cluster task  63% (unchanged since 16m ago)" in out
    assert "Cluster ends  08:29:00 UTC" in out
    assert "ETA           08:32 UTC   from this cluster's past upgrades, 4 task runs" in out
    assert "Slow          task Cluster has stayed at 63%" in out
    assert "progress 2/4 · 63%" in out
    assert out.index("Progress") < out.index("Tasks")


def test_unknown_eta_says_there_is_no_basis() -> None:
    obj = state("running", NOW)
    obj["status"]["eta"] = {"task": "Cluster", "basis": "none", "text": "unknown"}
    lines = [line.split() for line in _render(obj).splitlines()]
    assert ["ETA", "unknown", "no", "past", "upgrade", "to", "go", "by"] in lines


def test_failed_precheck_lists_its_findings_with_the_rest_counted() -> None:
    obj = state("pending", NOW)
    obj["status"]["preCheck"] = {
        "taskId": "p1",
        "phase": "Failed",
        "expireTime": _stamp(NOW + timedelta(hours=1)),
        "findings": [
            {
                "name": "NodeDiskCheck",
                "kind": "Exception",
                "level": "Fatal",
                "where": "node node-a-1",
                "message": "/var/lib/docker is 96% full",
            },
            {"name": "AddonVersionCheck", "kind": "Risk", "level": "Warning", "where": "add-on coredns"},
        ],
        "moreFindings": 3,
        "counts": [
            {"kind": "Exception", "level": "Fatal", "count": 1},
            {"kind": "Risk", "level": "Warning", "count": 4},
        ],
    }
    out = _render(obj)
    assert "Pre-check Failed, result valid until 09:00:00 UTC" in out
    lines = [line.split() for line in out.splitlines()]
    assert ["Exception", "Fatal", "NodeDiskCheck", "node", "node-a-1", "/var/lib/docker", "is", "96%", "full"] in lines
    assert ["Risk", "Warning", "AddonVersionCheck", "add-on", "coredns"] in lines
    assert "… and 3 more" in out


def test_no_insight_no_sections() -> None:
    out = _render(state("success", NOW))
    assert "Pre-check" not in out
    assert "ETA" not in out


def test_list_has_an_eta_column() -> None:
    running = state("running", NOW)
    running["status"]["eta"] = {"task": "Cluster", "basis": "history", "text": "08:32 UTC"}
    views = [UpgradeView.from_api(obj, now=NOW) for obj in (running, state("success", NOW))]
    buffer = io.StringIO()
    Console(file=buffer, width=220, color_system=None).print(list_table(views, all_namespaces=False))
    header, first, second = buffer.getvalue().splitlines()[:3]
    assert header.split()[6:9] == ["PROGRESS", "ETA", "TASK"]  # after NAME CLUSTER FROM → TO PHASE
    assert "08:32 UTC" in first
    assert header.index("ETA") == second.index("-  ", header.index("PROGRESS") + 4)
