"""The pure insight parts: which pre-check findings status shows, the progress text, the ETA from
recorded histories (own, then peers, else unknown) and stall detection."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ccupgrade.cce.parser import parse, parse_workflow_list
from ccupgrade.mirror import findings, timing
from ccupgrade.mirror.status import tasks_of
from ccupgrade.models.cce import UpgradeWorkflow
from ccupgrade.models.insight_status import Eta, PreCheckView, TaskProgress
from ccupgrade.models.resource import TaskView
from ccupgrade.models.task_details import PreCheckTask
from ccupgrade.simulator.scenario import ClusterScenario, ScenarioClock, load_scenario
from ccupgrade.simulator.task_endpoints import Renderer, shipped_details

RECORDED = Path(__file__).parent / "data" / "recorded_history.json"
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def _recorded() -> list[UpgradeWorkflow]:
    return parse_workflow_list(RECORDED.read_bytes()).items


def _scenario(name: str, second: float) -> ClusterScenario:
    cluster = ClusterScenario("p1", "c1", load_scenario(name), ScenarioClock(paused=True))
    cluster.clock.set(second)
    return cluster


def _workflows(cluster: ClusterScenario) -> list[UpgradeWorkflow]:
    return parse_workflow_list(json.dumps(cluster.render_list())).items


# -- pre-check findings -------------------------------------------------------------------------------


def _failed_precheck() -> PreCheckTask:
    cluster = _scenario("precheck-failed", 20)
    body = Renderer(cluster, shipped_details("precheck-failed")).precheck_list()
    return parse(PreCheckTask, json.dumps(body["items"][0]), "pre-check task")


def test_failed_precheck_lists_what_matters_most_severe_first() -> None:
    view = findings.precheck_view(_failed_precheck())
    assert view.phase == "Failed"
    assert [(f.name, f.kind, f.level, f.where) for f in view.findings or []] == [
        ("ClusterResourceQuotaCheck", "Exception", "Fatal", "cluster"),
        ("NodeDiskCheck", "Exception", "Fatal", "node node-a-1"),
        ("DeprecatedAPICheck", "Risk", "Warning", "cluster"),
        ("AddonVersionCheck", "Risk", "Warning", "add-on coredns"),
        ("NodeKernelCheck", "Risk", "Info", "node node-a-2"),  # every Risk, even at Info level
    ]  # the passed MasterNodeCheck and NodeStatusCheck are not findings
    assert view.more_findings is None
    assert {(c.kind, c.level): c.count for c in view.counts or []} == {
        ("Exception", "Fatal"): 2,
        ("Risk", "Warning"): 2,
        ("Risk", "Info"): 1,
    }
    assert findings.summary(view) == (
        "2 Exceptions, 3 Risks: ClusterResourceQuotaCheck (cluster, Fatal); NodeDiskCheck (node node-a-1, Fatal); "
        "DeprecatedAPICheck (cluster, Warning); and 2 more"
    )


def _item(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "phase": "Failed", **fields}


def test_findings_are_capped_with_a_count_of_the_rest() -> None:
    items = [_item(f"Check{i}", kind="Risk", level="Warning") for i in range(25)]
    task = PreCheckTask.model_validate({"status": {"clusterCheckStatus": {"itemsStatus": items}}})
    view = findings.precheck_view(task, cap=10)
    assert len(view.findings) == 10
    assert view.more_findings == 15
    assert view.counts is not None
    assert view.counts[0].count == 25
    assert findings.summary(view).endswith("and 22 more")


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({"kind": "Exception", "level": "Info"}, True),
        ({"kind": "Risk", "level": "Info"}, True),
        ({"level": "Warning"}, True),
        ({"level": "Fatal"}, True),
        ({"level": "Info"}, False),
        ({}, False),
        ({"kind": "Hazard"}, True),  # unknown kind: shown verbatim rather than swallowed
        ({"level": "Critical"}, True),  # unknown level likewise
        ({"kind": "Exception", "level": "Fatal", "phase": "Success"}, False),  # passed
    ],
)
def test_which_items_matter(fields: dict[str, Any], shown: bool) -> None:
    task = PreCheckTask.model_validate({"status": {"clusterCheckStatus": {"itemsStatus": [_item("X", **fields)]}}})
    assert bool(findings.precheck_view(task).findings) is shown


def test_an_expired_check_is_called_out_only_before_the_upgrade_ran() -> None:
    view = PreCheckView(phase="Success", expire_time=NOW - timedelta(minutes=1))
    assert findings.is_expired(view, upgrade_started=False, now=NOW)
    assert not findings.is_expired(view, upgrade_started=True, now=NOW)
    assert not findings.is_expired(view.model_copy(update={"expire_time": NOW + timedelta(minutes=1)}), False, NOW)
    assert not findings.is_expired(view.model_copy(update={"phase": "Failed"}), False, NOW)


# -- progress --------------------------------------------------------------------------------------------


def test_progress_text() -> None:
    tasks = [
        TaskView(type="PreCheck", status="Success"),
        TaskView(type="Snapshot", status="Success"),
        TaskView(type="Cluster", status="Running"),
        TaskView(type="PostCheck", status="Init"),
    ]
    assert timing.progress_text(tasks, None) == "2/4"
    assert timing.progress_text(tasks, TaskProgress(task="Cluster", percent=62.6)) == "2/4 · 63%"
    assert timing.progress_text(tasks, TaskProgress(task="Cluster", percent=None)) == "2/4"
    assert timing.progress_text([], None) is None


def test_progress_since_moves_only_when_the_percentage_does() -> None:
    task = TaskView(type="Cluster", id="t1", status="Running")
    first = timing.track_progress(None, task, "t1", 10.0, NOW)
    same = timing.track_progress(first, task, "t1", 10.0, NOW + timedelta(minutes=5))
    moved = timing.track_progress(same, task, "t1", 11.0, NOW + timedelta(minutes=6))
    other = timing.track_progress(moved, TaskView(type="Cluster", id="t2"), "t2", 11.0, NOW + timedelta(minutes=7))
    assert (first.since, same.since, moved.since, other.since) == (
        NOW,
        NOW,
        NOW + timedelta(minutes=6),
        NOW + timedelta(minutes=7),
    )


# -- ETA against recorded histories -----------------------------------------------------------------------


def test_samples_from_a_recorded_history() -> None:
    samples = timing.samples_of(_recorded())
    cluster = sorted(s.run for s in samples if s.task == "Cluster")
    assert cluster == [timedelta(minutes=38), timedelta(minutes=42), timedelta(minutes=51)]
    snapshot_steps = sorted(s.step for s in samples if s.task == "Snapshot" and s.step is not None)
    assert snapshot_steps == [timedelta(seconds=s) for s in (320, 348, 385)]  # queue time included


def _running(start: datetime) -> list[TaskView]:
    return [
        TaskView(
            type="PreCheck",
            status="Success",
            start_time=start - timedelta(minutes=8),
            end_time=start - timedelta(minutes=6),
        ),
        TaskView(
            type="Snapshot",
            status="Success",
            start_time=start - timedelta(minutes=6),
            end_time=start - timedelta(minutes=1),
        ),
        TaskView(type="Cluster", status="Running", start_time=start),
        TaskView(type="PostCheck", status="Init"),
    ]


def test_eta_from_own_history_is_start_plus_median_then_remaining_steps() -> None:
    start = NOW - timedelta(minutes=10)
    basis = timing.Basis(own=timing.samples_of(_recorded()), peers=[])
    eta = timing.estimate(_running(start), "v1.30.10-r0", "v1.31.6-r0", basis, NOW)
    assert eta.basis == "history"
    assert eta.task == "Cluster"
    assert eta.task_end == start + timedelta(minutes=42)  # median of 38, 42, 51
    post_steps = [timedelta(seconds=135), timedelta(seconds=160), timedelta(seconds=160)]  # queue + run
    assert eta.workflow_end == eta.task_end + sorted(post_steps)[1]
    assert eta.samples == 6
    assert eta.text == (eta.workflow_end or NOW).strftime("%H:%M UTC")


def test_an_overdue_estimate_says_so_and_does_not_move_with_the_clock() -> None:
    start = NOW - timedelta(hours=2)
    basis = timing.Basis(own=timing.samples_of(_recorded()), peers=[])
    eta = timing.estimate(_running(start), None, None, basis, NOW)
    assert eta.task_end == start + timedelta(minutes=42)
    assert eta.workflow_end == eta.task_end + timedelta(seconds=160)
    assert eta.text == "overdue since 07:44 UTC"
    assert timing.estimate(_running(start), None, None, basis, NOW + timedelta(minutes=7)) == eta


def test_peers_between_the_same_versions_only_when_there_is_no_own_history() -> None:
    peers = timing.samples_of(_recorded())
    start = NOW - timedelta(minutes=5)
    same = timing.estimate(_running(start), "v1.28.15-r20", "v1.29.13-r0", timing.Basis([], peers), NOW)
    assert same.basis == "peers"
    assert same.task_end == start + timedelta(minutes=42)  # the one peer run between these versions
    other = timing.estimate(_running(start), "v1.25.1-r0", "v1.27.16-r10", timing.Basis([], peers), NOW)
    assert other == Eta(task="Cluster", basis="none", text="unknown")  # no basis: unknown, never invented


def test_no_history_at_all_is_unknown() -> None:
    eta = timing.estimate(_running(NOW), "a", "b", timing.Basis([], []), NOW)
    assert (eta.task_end, eta.workflow_end, eta.text, eta.basis) == (None, None, "unknown", "none")


def test_finished_workflow_has_no_eta() -> None:
    tasks = [TaskView(type=t, status="Success") for t in ("PreCheck", "Cluster")]
    eta = timing.estimate(tasks, None, None, timing.Basis(timing.samples_of(_recorded()), []), NOW)
    assert eta.workflow_end is None
    assert eta.text == "unknown"


def test_eta_of_the_simulators_history_scenario_comes_from_its_past_upgrade() -> None:
    cluster = _scenario("history", 35)  # the current upgrade's Cluster task started at 30
    workflows = _workflows(cluster)
    current = workflows[-1]
    own = timing.samples_of(workflows, exclude_uid=current.metadata.uid)
    eta = timing.estimate(tasks_of(current), "v1.28.15-r20", "v1.29.13-r0", timing.Basis(own, []), cluster.epoch)
    assert eta.basis == "history"
    assert eta.task_end == cluster.epoch + timedelta(seconds=30 + 15)  # the 2024 upgrade's Cluster task: 15 s
    assert eta.workflow_end == eta.task_end + timedelta(seconds=10)  # its PostCheck step: 5 s queue + 5 s run


# -- stall detection ----------------------------------------------------------------------------------------


def test_progress_that_stops_moving_is_slow_once_past_the_threshold() -> None:
    running = TaskView(type="Cluster", id="t1", status="Running", start_time=NOW - timedelta(minutes=30))
    progress = TaskProgress(task="Cluster", task_id="t1", percent=63.0, since=NOW - timedelta(minutes=14))
    assert timing.slowness(None, running, progress, None, timedelta(minutes=15), NOW) is None
    later = NOW + timedelta(minutes=1)
    slow = timing.slowness(None, running, progress, None, timedelta(minutes=15), later)
    assert slow is not None
    assert slow.since == later
    assert "stayed at 63%" in slow.message
    again = timing.slowness(slow, running, progress, None, timedelta(minutes=15), later + timedelta(minutes=5))
    assert again == slow  # same since, same message: no new write, no second Event
    moved = progress.model_copy(update={"percent": 64.0, "since": later + timedelta(minutes=6)})
    assert timing.slowness(slow, running, moved, None, timedelta(minutes=15), later + timedelta(minutes=6)) is None


def test_a_task_far_past_its_eta_is_slow() -> None:
    start = NOW - timedelta(minutes=100)
    running = TaskView(type="Cluster", id="t1", status="Running", start_time=start)
    eta = Eta(task="Cluster", task_end=start + timedelta(minutes=42), basis="history", text="x")
    slow = timing.slowness(None, running, None, eta, timedelta(minutes=15), NOW)
    assert slow is not None
    assert "more than 2x the 42m" in slow.message
    assert timing.slowness(None, running, None, eta, timedelta(minutes=15), start + timedelta(minutes=80)) is None
    unknown = Eta(task="Cluster")
    assert timing.slowness(None, running, None, unknown, timedelta(minutes=15), NOW) is None  # no basis, no claim


def test_the_slow_scenario_stalls_at_63_percent() -> None:
    details = shipped_details("slow")
    percents = []
    for second in (30, 150, 360, 600, 3600):
        cluster = _scenario("slow", second)
        body = Renderer(cluster, details).upgrade_list()
        percents.append([i["status"]["progress"] for i in body["items"]])
    assert percents == [["100", "0"], ["100", "25"], ["100", "63"], ["100", "63"], ["100", "63"]]


def test_the_running_tasks_percentage_moves_its_eta() -> None:
    start = NOW - timedelta(minutes=10)
    basis = timing.Basis(own=timing.samples_of(_recorded()), peers=[])
    at = timing.estimate(
        _running(start), None, None, basis, NOW, TaskProgress(task="Cluster", percent=0.0, since=start)
    )
    assert at.task_end == start + timedelta(minutes=42)  # 0% at its start: the usual run time
    slow = TaskProgress(task="Cluster", percent=50.0, since=NOW - timedelta(minutes=1))
    later = timing.estimate(_running(start), None, None, basis, NOW, slow)
    assert later.task_end == NOW - timedelta(minutes=1) + timedelta(minutes=21)  # half of 42 m left from then
    quick = TaskProgress(task="Cluster", percent=75.0, since=NOW - timedelta(minutes=2))
    earlier = timing.estimate(_running(start), None, None, basis, NOW, quick)
    assert earlier.task_end == NOW - timedelta(minutes=2) + timedelta(minutes=10.5)
    other = TaskProgress(task="Snapshot", percent=50.0, since=NOW)
    assert timing.estimate(_running(start), None, None, basis, NOW, other).task_end == at.task_end
    assert timing.estimate(_running(start), "a", "b", timing.Basis([], []), NOW, slow).text == "unknown"


def test_a_percentage_seen_before_the_start_time_counts_from_the_start() -> None:
    """CCE's clock ahead of the operator's: the rest of the run counts from the task's own start."""
    start = NOW + timedelta(minutes=3)
    basis = timing.Basis(own=timing.samples_of(_recorded()), peers=[])
    seen = TaskProgress(task="Cluster", percent=50.0, since=NOW)
    assert timing.estimate(_running(start), None, None, basis, NOW, seen).task_end == start + timedelta(minutes=21)


def test_clip_removes_escape_sequences_whole_and_cuts_in_bytes() -> None:
    """findings.clip, used for API paths, user agents, versions and task IDs: one line, no escape
    sequence or its visible rest, at most `limit` bytes on a character boundary."""
    clip = findings.clip
    assert clip("\x1b]8;;https://evil.example\x1b\\/apis/x\x1b]8;;\x1b\\\x1b[2J") == "/apis/x"
    assert clip("kubectl\n/v1.25\tx") == "kubectl /v1.25 x"
    cut = clip("路" * 100, 64)
    assert len(cut.encode()) <= 64
    assert cut.endswith("…")
