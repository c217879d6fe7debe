"""Per-object metric series follow the objects: one phase series each, gone with the object."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import generate_latest

from ccupgrade.app.metrics import Metrics
from ccupgrade.mirror import Mirrored
from ccupgrade.models.resource import UpgradeStatus
from ccupgrade.models.watched import Watched


def _watched(name: str) -> Watched:
    return Watched.from_body({"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"}, "spec": {}})


def _lines(metrics: Metrics, prefix: str) -> list[str]:
    text = generate_latest(metrics.registry).decode()
    return sorted(line for line in text.splitlines() if line.startswith(prefix))


def test_phase_series_move_with_the_object_and_leave_with_it() -> None:
    metrics = Metrics()
    synced = datetime(2026, 1, 1, tzinfo=UTC)
    metrics.object_mirrored(_watched("a"), Mirrored(UpgradeStatus(phase="Running", last_sync_time=synced)), True)
    metrics.object_mirrored(_watched("b"), Mirrored(UpgradeStatus(phase="Init")), False)
    metrics.object_mirrored(_watched("a"), Mirrored(UpgradeStatus(phase="Success", last_sync_time=synced)), True)

    assert _lines(metrics, "ccupgrade_upgrade_phase{") == [
        'ccupgrade_upgrade_phase{name="a",namespace="ns",phase="Success"} 1.0',
        'ccupgrade_upgrade_phase{name="b",namespace="ns",phase="Init"} 1.0',
    ]
    success = _lines(metrics, "ccupgrade_last_successful_poll_timestamp_seconds{")
    assert [line.split("}")[0] for line in success] == [
        'ccupgrade_last_successful_poll_timestamp_seconds{name="a",namespace="ns"'  # b never synced
    ]
    assert _lines(metrics, "ccupgrade_watched_objects ") == ["ccupgrade_watched_objects 2.0"]

    metrics.object_removed(_watched("a").ref)
    assert _lines(metrics, "ccupgrade_upgrade_phase{") == [
        'ccupgrade_upgrade_phase{name="b",namespace="ns",phase="Init"} 1.0'
    ]
    assert _lines(metrics, "ccupgrade_last_successful_poll_timestamp_seconds{") == []
    assert _lines(metrics, "ccupgrade_watched_objects ") == ["ccupgrade_watched_objects 1.0"]
    assert "# TYPE ccupgrade_upgrade_phase gauge" in generate_latest(metrics.registry).decode()
