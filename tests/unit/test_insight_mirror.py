"""mirror.insight driven by the simulator's scenarios second by second, as the poller would drive it:
which detail calls are made, the status parts they produce, their Events (each once), degradation."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from ccupgrade.cce.parser import parse, parse_workflow_list
from ccupgrade.mirror import insight, timing
from ccupgrade.mirror.select import select_workflow
from ccupgrade.mirror.status import tasks_of
from ccupgrade.models.insight_status import PreCheckView
from ccupgrade.models.task_details import PreCheckTask, SnapshotTask, UpgradeTask
from ccupgrade.simulator.app import Simulator
from ccupgrade.simulator.scenario import ClusterScenario, ScenarioClock, load_scenario
from ccupgrade.simulator.task_endpoints import Renderer, details_for


class Walk:
    """One object following a scenario: fetches what `wanted` asks for, keeps the insight between polls."""

    def __init__(self, scenario: str | dict[str, Any], settings: insight.Settings | None = None) -> None:
        self.sim = Simulator()
        self.cluster = ClusterScenario("p1", "c1", load_scenario(scenario), ScenarioClock(paused=True))
        self.settings = settings or insight.Settings()
        self.state = insight.Insight()
        self.known: dict[str, str | None] = {}
        self.calls: list[tuple[float, str]] = []
        self.events: list[tuple[float, str, str]] = []
        self.fail: set[str] = set()

    def _fetch(self, renderer: Renderer, kind: str, task_id: str) -> Any:
        if kind in self.fail:
            return insight.DetailFailed("CCE unavailable: HTTP 503")
        if kind == "precheck":
            body = next(i for i in renderer.precheck_list()["items"] if i["metadata"]["uid"] == task_id)
            return parse(PreCheckTask, json.dumps(body), "pre-check task")
        if kind == "upgrade":
            body = next(i for i in renderer.upgrade_list()["items"] if i["metadata"]["uid"] == task_id)
            return parse(UpgradeTask, json.dumps(body), "upgrade task")
        body = next(i for i in renderer.snapshot_list()["items"] if i["metadata"]["uid"] == task_id)
        return parse(SnapshotTask, json.dumps(body), "snapshot task")

    def at(self, second: float) -> insight.Insight:
        self.cluster.clock.set(second)
        workflows = parse_workflow_list(json.dumps(self.cluster.render_list())).items
        chosen, others = select_workflow(workflows, None)
        assert chosen is not None
        renderer = Renderer(self.cluster, details_for(self.sim, "p1", "c1", self.cluster))
        details = insight.Details()
        for kind, task_id in insight.wanted(chosen, self.known):
            self.calls.append((second, kind))
            fetched = self._fetch(renderer, kind, task_id)
            getattr(details, kind)[task_id] = fetched
            if isinstance(fetched, PreCheckTask):
                self.known[task_id] = fetched.status.phase
        basis = timing.Basis(own=timing.samples_of(others), peers=[])
        now = self.cluster.epoch + timedelta(seconds=second)
        versions = (chosen.spec.cluster_version, chosen.spec.target_version)
        self.state, events = insight.derive(
            self.state, tasks_of(chosen), chosen.metadata.uid, versions, details, basis, self.settings, now
        )
        self.events.extend((second, e.reason, e.message) for e in events)
        return self.state


def test_failed_precheck_fetches_its_result_once_and_warns_once() -> None:
    walk = Walk("precheck-failed")
    for second in range(0, 120, 5):
        walk.at(second)
    assert walk.calls == [(10, "precheck"), (15, "precheck")]  # while running, then the final result once
    pre = walk.state.pre_check
    assert pre is not None
    assert pre.phase == "Failed"
    assert [f.name for f in pre.findings or []][:2] == ["ClusterResourceQuotaCheck", "NodeDiskCheck"]
    assert [(s, r) for s, r, _ in walk.events] == [(15, "PreCheckFailed")]
    message = walk.events[0][2]
    assert "v1.28.15-r20 to v1.29.13-r0 failed: 2 Exceptions, 3 Risks: ClusterResourceQuotaCheck (cluster" in message
    note = insight.ready_note(walk.state, "Pending")
    assert note.startswith("pre-check failed: 2 Exceptions, 3 Risks")


def test_slow_cluster_task_progress_eta_and_one_upgrade_slow() -> None:
    walk = Walk("slow", insight.Settings(stall_after=timedelta(minutes=5)))
    seen = []
    for second in range(0, 1500, 30):
        state = walk.at(second)
        if state.task_progress is not None:
            seen.append((second, state.task_progress.percent))
    assert seen[:3] == [(30, 0.0), (60, 6.0), (90, 12.0)]
    assert (360, 63.0) in seen
    assert seen[-1] == (1470, 63.0)
    assert {kind for _, kind in walk.calls} == {"precheck", "upgrade"}  # Snapshot ran between two polls
    assert sum(1 for s, k in walk.calls if k == "upgrade") == len(seen)  # one detail call per poll while it runs
    epoch = walk.cluster.epoch
    eta = walk.state.eta
    assert eta is not None
    assert eta.basis == "history"
    # Yesterday's Cluster task took 20 minutes; 63% first seen at 360 s leaves 37% of that: 444 s.
    assert eta.task_end == epoch + timedelta(seconds=360 + 444)
    assert eta.workflow_end == eta.task_end + timedelta(seconds=70)  # its PostCheck step: 10 s queue + 60 s run
    assert eta.text.startswith("overdue since ")  # at 1470 s, past 1300 s
    slow_events = [(s, r) for s, r, _ in walk.events if r == "UpgradeSlow"]
    assert slow_events == [(660, "UpgradeSlow")]  # 63% since 360, threshold 5 minutes: once
    assert walk.state.slow is not None
    assert "stayed at 63%" in walk.state.slow.message
    assert "slow: task Cluster has stayed at 63%" in insight.ready_note(walk.state, "Running")


def test_standard_upgrade_shows_progress_without_warnings() -> None:
    walk = Walk("standard")
    percents = {}
    for second in range(0, 60):
        state = walk.at(second)
        if state.task_progress is not None:
            percents[second] = state.task_progress.percent
    assert percents[30] == 0.0
    assert percents[37] == 46.0
    assert 45 not in percents  # done: no progress record, no more calls
    assert walk.events == []
    assert walk.state.eta is None  # no history at all: no ETA...
    walk2 = Walk("standard")
    state = walk2.at(35)
    assert state.eta is not None
    assert state.eta.text == "unknown"  # ...and while running, `unknown`, never an invented figure
    assert all(s < 55 for s, _ in walk.calls)


def test_a_failing_detail_call_degrades_only_its_part() -> None:
    walk = Walk("slow")
    walk.at(300)
    before = walk.state.task_progress
    assert before is not None
    assert before.percent == 52.0
    walk.fail.add("upgrade")
    state = walk.at(330)
    assert state.task_progress is not None
    assert state.task_progress.percent == 52.0  # the last good value stays
    assert state.task_progress.error == "task detail unavailable: CCE unavailable: HTTP 503"
    assert state.eta is not None
    assert state.eta.basis == "history"  # the rest is unaffected
    walk.fail.clear()
    state = walk.at(360)
    assert state.task_progress is not None
    assert (state.task_progress.percent, state.task_progress.error) == (63.0, None)


def test_failed_precheck_detail_keeps_the_workflow_view_and_says_why() -> None:
    walk = Walk("precheck-failed")
    walk.fail.add("precheck")
    state = walk.at(20)
    assert state.pre_check is not None
    assert state.pre_check.phase == "Failed"
    assert state.pre_check.error == "pre-check detail unavailable: CCE unavailable: HTTP 503"
    assert walk.events == []  # no findings known: no PreCheckFailed listing nothing
    walk.fail.clear()
    walk.at(25)  # not known yet: asked again, then announced
    assert [r for _, r, _ in walk.events] == ["PreCheckFailed"]


EXPIRING = {
    "name": "expiring",
    "workflows": [
        {
            "uid": "w",
            "clusterVersion": "v1.28.15-r20",
            "targetVersion": "v1.29.13-r0",
            "tasks": ["PreCheck", "Snapshot", "Cluster", "PostCheck"],
            "steps": [
                {"at": 0, "phase": "Running"},
                {"at": 1, "task": "PreCheck", "status": "Running"},
                {"at": 15, "task": "PreCheck", "status": "Success"},
            ],
        }
    ],
}


def test_a_passed_check_that_expires_before_the_upgrade_runs_is_called_out_once() -> None:
    walk = Walk(EXPIRING)
    for second in (10, 20, 3614, 3616, 3700, 7200):
        walk.at(second)
    assert [(s, r) for s, r, _ in walk.events] == [(3616, "PreCheckExpired")]
    assert walk.state.pre_check is not None
    assert walk.state.pre_check.expired is True
    assert "expired" in insight.ready_note(walk.state, "Running")
    assert [k for _, k in walk.calls] == ["precheck", "precheck"]


def test_nothing_is_fetched_for_a_finished_workflow() -> None:
    walk = Walk("history")
    walk.at(100)
    assert walk.calls == []
    assert insight.wanted(parse_workflow_list(json.dumps(walk.cluster.render_list())).items[0], {}) == []


def test_precheck_view_passes_through_unchanged_between_polls() -> None:
    old = insight.Insight(pre_check=PreCheckView(task_id="t", phase="Failed"))
    walk = Walk("precheck-failed")
    walk.state = old
    walk.known = {}
    # A different task id in the workflow: the old view is not reused for it.
    state = walk.at(20)
    assert state.pre_check is not None
    assert state.pre_check.task_id != "t"
