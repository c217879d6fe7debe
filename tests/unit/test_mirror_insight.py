"""mirror() with task details: the insight parts land in status (surviving the JSON round trip of a
stored status), in the Ready message and in Events, and a stalled task costs no status writes."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from ccupgrade.cce.parser import parse, parse_workflow_list
from ccupgrade.mirror import Observed, insight, mirror
from ccupgrade.mirror import conditions as cond
from ccupgrade.models.resource import UpgradeSpec, UpgradeStatus
from ccupgrade.models.task_details import PreCheckTask, UpgradeTask
from ccupgrade.simulator.scenario import ClusterScenario, ScenarioClock, load_scenario
from ccupgrade.simulator.task_endpoints import Renderer, shipped_details

SPEC = UpgradeSpec.model_validate(
    {
        "region": "ap-southeast-1",
        "projectId": "p1",
        "clusterId": "c1",
        "credentialsSecretRef": {"name": "creds"},
        "stallAfter": "5m",
    }
)


class Walk:
    def __init__(self, scenario: str) -> None:
        self.cluster = ClusterScenario("p1", "c1", load_scenario(scenario), ScenarioClock(paused=True))
        self.details = shipped_details(scenario)
        self.stored: dict[str, Any] | None = None
        self.events: list[tuple[float, str, str]] = []
        self.writes: list[float] = []
        self.known: dict[str, str | None] = {}
        self.ended: list[tuple[float, str, str | None]] = []

    @property
    def status(self) -> UpgradeStatus:
        assert self.stored is not None
        return UpgradeStatus.model_validate(self.stored)

    def at(self, second: float) -> None:
        self.cluster.clock.set(second)
        workflows = parse_workflow_list(json.dumps(self.cluster.render_list())).items
        renderer = Renderer(self.cluster, self.details)
        details = insight.Details()
        for workflow in workflows:
            for kind, task_id in insight.wanted(workflow, self.known):
                if kind == "precheck":
                    body = next(i for i in renderer.precheck_list()["items"] if i["metadata"]["uid"] == task_id)
                    details.precheck[task_id] = parse(PreCheckTask, json.dumps(body), "pre-check task")
                    self.known[task_id] = body["status"]["phase"]
                elif kind == "upgrade":
                    body = next(i for i in renderer.upgrade_list()["items"] if i["metadata"]["uid"] == task_id)
                    details.upgrade[task_id] = parse(UpgradeTask, json.dumps(body), "upgrade task")
        old = None if self.stored is None else self.status
        now = self.cluster.epoch + timedelta(seconds=second)
        result = mirror(old, Observed(workflows, details), SPEC, 1, now, resync=timedelta(hours=1))
        self.events.extend((second, e.reason, e.message) for e in result.events)
        self.ended.extend((second, t.type, t.status) for t in result.ended)
        if result.changed:
            self.writes.append(second)
            self.stored = json.loads(
                json.dumps(result.status.model_dump(mode="json", by_alias=True, exclude_none=True))
            )


def _ready(status: UpgradeStatus) -> str:
    ready = cond.find(status.conditions, cond.READY)
    assert ready is not None
    return ready.message


def test_stalled_cluster_task_in_status_message_and_one_event_without_writes() -> None:
    walk = Walk("slow")
    for second in range(0, 1500, 30):
        walk.at(second)
    status = walk.status
    assert status.progress == "2/4 · 63%"
    assert status.task_progress is not None
    assert status.task_progress.percent == 63.0
    assert status.eta is not None
    assert status.eta.basis == "history"
    assert status.slow is not None
    assert [(s, r) for s, r, _ in walk.events if r == "UpgradeSlow"] == [(660, "UpgradeSlow")]
    assert "task Cluster (Running), 2/4 done; Cluster at 63%; ETA " in _ready(status)
    assert "slow: task Cluster has stayed at 63% since" in _ready(status)
    # Stuck at 63% from 360 s: written only when it turned slow and when the workflow's estimated end
    # passed (874 s: 63% at 360 s + 37% of yesterday's 1200 s, plus PostCheck's 70 s).
    assert [s for s in walk.writes if s > 360] == [660, 900]
    assert status.eta.text.startswith("overdue since ")


def test_failed_precheck_in_status_message_and_events() -> None:
    walk = Walk("precheck-failed")
    for second in range(0, 60, 5):
        walk.at(second)
    status = walk.status
    assert status.pre_check is not None
    assert status.pre_check.phase == "Failed"
    assert [f.where for f in status.pre_check.findings or []] == [
        "cluster",
        "node node-a-1",
        "cluster",
        "add-on coredns",
        "node node-a-2",
    ]
    stalled = cond.find(status.conditions, cond.STALLED)
    assert stalled is not None
    assert stalled.status == cond.T
    assert "pre-check failed: 2 Exceptions, 3 Risks: ClusterResourceQuotaCheck (cluster, Fatal)" in stalled.message
    reasons = [r for _, r, _ in walk.events]
    assert reasons.count("PreCheckFailed") == 1
    assert reasons.index("PreCheckFailed") > reasons.index("TaskFailed")
    assert status.eta is None  # nothing runs


def test_tasks_that_end_are_reported_once_for_the_duration_metric() -> None:
    walk = Walk("standard")
    for second in (3, 12, 16, 26, 31, 46, 56, 80):
        walk.at(second)
    assert walk.ended == [
        (16, "PreCheck", "Success"),
        (26, "Snapshot", "Success"),
        (46, "Cluster", "Success"),
        (56, "PostCheck", "Success"),
    ]
    late = Walk("standard")
    late.at(80)  # first sight of a finished workflow: nothing seen ending
    assert late.ended == []
