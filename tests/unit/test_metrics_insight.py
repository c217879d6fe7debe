"""The insight metrics: task durations by type (each task once), progress per object, pre-check
findings by kind and level; series leave with their object or when their part of status goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import generate_latest

from ccupgrade.app.metrics import Metrics
from ccupgrade.mirror import Mirrored
from ccupgrade.models.insight_status import FindingCount, PreCheckView, Slowness, TaskProgress
from ccupgrade.models.resource import TaskView, UpgradeStatus
from ccupgrade.models.watched import Watched

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def _watched(name: str) -> Watched:
    return Watched.from_body({"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"}, "spec": {}})


def _lines(metrics: Metrics, prefix: str) -> list[str]:
    text = generate_latest(metrics.registry).decode()
    return sorted(line for line in text.splitlines() if line.startswith(prefix))


def _mirrored(metrics: Metrics, name: str, result: Mirrored) -> None:
    metrics.object_mirrored(_watched(name), result, True)


def test_task_durations_are_counted_once_per_task() -> None:
    metrics = Metrics()
    cluster = TaskView(type="Cluster", id="t1", status="Success", start_time=T0, end_time=T0 + timedelta(minutes=40))
    _mirrored(metrics, "a", Mirrored(UpgradeStatus(phase="Running"), ended=[cluster]))
    _mirrored(metrics, "b", Mirrored(UpgradeStatus(phase="Running"), ended=[cluster]))  # same cluster, other object
    failed = TaskView(type="PreCheck", id="t2", status="Failed", start_time=T0, end_time=T0 + timedelta(seconds=50))
    _mirrored(metrics, "c", Mirrored(UpgradeStatus(phase="Pending"), ended=[failed]))
    assert _lines(metrics, "ccupgrade_task_duration_seconds_count") == [
        'ccupgrade_task_duration_seconds_count{result="Failed",task="PreCheck"} 1.0',
        'ccupgrade_task_duration_seconds_count{result="Success",task="Cluster"} 1.0',
    ]
    assert 'ccupgrade_task_duration_seconds_sum{result="Success",task="Cluster"} 2400.0' in _lines(
        metrics, "ccupgrade_task_duration_seconds_sum"
    )
    assert 'ccupgrade_task_duration_seconds_bucket{le="2700.0",result="Success",task="Cluster"} 1.0' in _lines(
        metrics, "ccupgrade_task_duration_seconds_bucket"
    )


def test_progress_and_findings_series_follow_the_status() -> None:
    metrics = Metrics()
    running = UpgradeStatus(phase="Running", task_progress=TaskProgress(task="Cluster", percent=63.0))
    blocked = UpgradeStatus(
        phase="Pending",
        pre_check=PreCheckView(
            phase="Failed",
            counts=[
                FindingCount(kind="Exception", level="Fatal", count=2),
                FindingCount(kind="Risk", level="Warning", count=3),
            ],
        ),
    )
    _mirrored(metrics, "a", Mirrored(running))
    _mirrored(metrics, "b", Mirrored(blocked))
    assert _lines(metrics, "ccupgrade_task_progress_percent{") == [
        'ccupgrade_task_progress_percent{name="a",namespace="ns",task="Cluster"} 63.0'
    ]
    assert _lines(metrics, "ccupgrade_precheck_findings{") == [
        'ccupgrade_precheck_findings{kind="Exception",level="Fatal",name="b",namespace="ns"} 2.0',
        'ccupgrade_precheck_findings{kind="Risk",level="Warning",name="b",namespace="ns"} 3.0',
    ]
    _mirrored(metrics, "a", Mirrored(UpgradeStatus(phase="Success")))
    assert _lines(metrics, "ccupgrade_task_progress_percent{") == []
    metrics.object_removed(_watched("b").ref)
    assert _lines(metrics, "ccupgrade_precheck_findings{") == []


def test_failed_precheck_and_slow_task_series_follow_the_status() -> None:
    """The series the PreCheckFailed and Slow alerts page on: set while status says so, gone after."""
    metrics = Metrics()
    passed = PreCheckView(phase="Success", counts=[FindingCount(kind="Risk", level="Warning", count=1)])
    failed = PreCheckView(phase="Failed", counts=[FindingCount(kind="Exception", level="Fatal", count=1)])
    slow = Slowness(task="Cluster", since=T0, message="no progress for 20m")
    _mirrored(metrics, "a", Mirrored(UpgradeStatus(phase="Running", pre_check=passed, slow=slow)))
    _mirrored(metrics, "b", Mirrored(UpgradeStatus(phase="Pending", pre_check=failed)))
    assert _lines(metrics, "ccupgrade_precheck_failed{") == ['ccupgrade_precheck_failed{name="b",namespace="ns"} 1.0']
    assert _lines(metrics, "ccupgrade_upgrade_slow{") == [
        'ccupgrade_upgrade_slow{name="a",namespace="ns",task="Cluster"} 1.0'
    ]
    _mirrored(metrics, "a", Mirrored(UpgradeStatus(phase="Running", pre_check=passed)))
    metrics.object_removed(_watched("b").ref)
    assert _lines(metrics, "ccupgrade_precheck_failed{") == []
    assert _lines(metrics, "ccupgrade_upgrade_slow{") == []
