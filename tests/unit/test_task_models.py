"""The task detail models read CCE's answers tolerantly: unknown values verbatim, one bad item
dropped (and logged) instead of the whole body, timestamps with their time of day."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from ccupgrade.cce.errors import ParseError
from ccupgrade.cce.parser import parse
from ccupgrade.models.task_details import PreCheckTask, SnapshotTaskList, UpgradeTask, parse_percent

PRECHECK = {
    "apiVersion": "v3",
    "kind": "PreCheckTask",
    "metadata": {"uid": "t-1", "creationTimestamp": "2026-11-27 08:01:02.5 +0000 UTC", "newField": 1},
    "spec": {"clusterID": "c1", "clusterVersion": "v1.28.15-r20", "targetVersion": "v1.29.13-r0"},
    "status": {
        "phase": "Failed",
        "expireTimeStamp": "2026-11-27T09:01:02Z",
        "message": "pre-check failed",
        "clusterCheckStatus": {
            "phase": "Failed",
            "itemsStatus": [
                {"name": "QuotaCheck", "kind": "Exception", "level": "Fatal", "phase": "Failed", "message": "low"},
                {"name": "FutureCheck", "kind": "Hazard", "level": "Severe", "phase": "Failed", "extra": [1]},
                {"kind": "Risk", "message": "an item without a name is dropped"},
                "not even an object",
            ],
        },
        "addonCheckStatus": {
            "phase": "Success",
            "itemsStatus": {
                "name": "AddonCheck",
                "kind": "Risk",
                "level": "Warning",
                "riskSource": {"addonRisks": [{"addonTemplateName": "coredns", "alias": "coredns"}, 7]},
            },
        },
        "nodeCheckStatus": {
            "phase": "Failed",
            "nodeStageStatus": [
                {"nodeInfo": {"name": "n1", "uid": "u1"}, "itemsStatus": [{"name": "DiskCheck", "kind": "Exception"}]},
                {"nodeInfo": None, "itemsStatus": None},
            ],
        },
    },
}


def test_precheck_task_keeps_unknown_values_and_drops_only_bad_items(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ccupgrade.cce"):
        task = parse(PreCheckTask, json.dumps(PRECHECK), "pre-check task")
    cluster = task.status.cluster.items
    assert [(i.name, i.kind, i.level) for i in cluster] == [
        ("QuotaCheck", "Exception", "Fatal"),
        ("FutureCheck", "Hazard", "Severe"),  # verbatim, not rejected
    ]
    assert [i.name for i in task.status.addons.items] == ["AddonCheck"]  # a single object is a list of one
    assert task.status.addons.items[0].risk_source.addon_risks[0].addon_template_name == "coredns"
    assert task.status.nodes.stages[0].node.name == "n1"
    assert task.status.nodes.stages[1].items == []
    assert task.metadata.creation_timestamp == datetime(2026, 11, 27, 8, 1, 2, 500000, tzinfo=UTC)
    assert task.status.expire_time == datetime(2026, 11, 27, 9, 1, 2, tzinfo=UTC)  # the time of day survives
    dropped = [r.getMessage() for r in caplog.records if "dropping" in r.getMessage()]
    assert len(dropped) == 3, dropped  # the nameless item, the string, the addon risk 7
    assert any("itemsStatus[2]" in m and "name" in m for m in dropped)


def test_list_with_one_broken_task_keeps_the_others() -> None:
    body = {"kind": "List", "items": [{"metadata": {"uid": "s-1"}}, {"metadata": "broken", "status": 5}]}
    result = parse(SnapshotTaskList, json.dumps(body), "snapshot task list")
    assert [t.metadata.uid for t in result.items] == ["s-1"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("63", 63.0),
        ("63%", 63.0),
        (" 7.5 % ", 7.5),
        (40, 40.0),
        (12.5, 12.5),
        ("3/4", 75.0),
        ("150", 100.0),
        ("", None),
        ("abc", None),
        (None, None),
        (True, None),
        ("-3", None),
        ("0/0", None),
        ([1], None),
    ],
)
def test_progress_is_read_in_every_plausible_form(raw: object, expected: float | None) -> None:
    assert parse_percent(raw) == expected


def test_upgrade_task() -> None:
    item = {
        "metadata": {"uid": "u-9", "creationTimestamp": "2026-11-27 08:00:00 +0000 UTC"},
        "spec": {"version": "v1.28.15-r20", "targetVersion": "v1.29.13-r0", "items": {"opaque": [1, 2]}},
        "status": {"phase": "Running", "progress": 42, "completionTime": ""},
    }
    one = parse(UpgradeTask, json.dumps(item), "upgrade task")
    assert one.status.percent == 42.0
    assert one.status.progress_raw == "42"
    assert one.status.completion_time is None
    assert one.spec.items == {"opaque": [1, 2]}  # opaque detail kept as sent


def test_finished_upgrade_task_keeps_its_completion_time_of_day() -> None:
    item = {"status": {"phase": "Success", "progress": "100", "completionTime": "2026-11-01 10:11:12.13 +0000 UTC"}}
    one = parse(UpgradeTask, json.dumps(item), "upgrade task")
    assert one.status.completion_time == datetime(2026, 11, 1, 10, 11, 12, 130000, tzinfo=UTC)


def test_snapshot_list() -> None:
    snapshots = parse(
        SnapshotTaskList,
        json.dumps(
            {
                "items": [
                    {
                        "metadata": {"uid": "s1"},
                        "spec": {"items": [{"type": "master-backup", "status": "Running"}, None]},
                        "status": {"phase": "Running", "progress": "30"},
                    }
                ],
                "status": {"latestBackupTime": "2026-11-27 07:00:00 +0000 UTC"},
            }
        ),
        "snapshot task list",
    )
    assert snapshots.items[0].spec.items[0].type == "master-backup"
    assert len(snapshots.items[0].spec.items) == 1
    assert snapshots.status.latest_backup_time == datetime(2026, 11, 27, 7, tzinfo=UTC)


@pytest.mark.parametrize("body", [b"{", b"[]", b'{"status": 5}', b'{"metadata": []}'])
def test_unusable_bodies_are_one_short_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError) as caught:
        parse(PreCheckTask, body, "pre-check task")
    assert "pre-check task" in str(caught.value)
    assert len(str(caught.value)) < 200
