"""The tolerant parser: the reference page's own example, every quirk real responses have, and
thousands of generated and mangled responses that must give valid models or one typed error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccupgrade.cce import parser
from ccupgrade.cce.errors import ParseError
from ccupgrade.cce.parser import parse_workflow_list
from ccupgrade.models.cce import UpgradeWorkflowList, parse_timestamp
from tests.support.cce_documents import json_values, mangle, responses
from tests.support.examples import examples

# Verbatim from the example response of Huawei Cloud's CCE API reference page for ListUpgradeWorkFlows
# ("获取UpgradeWorkFlows列表", GET /api/v3/projects/{project_id}/clusters/{cluster_id}/operation/upgradeworkflows).
DOCUMENTED_EXAMPLE = """
{
  "apiVersion": "v3",
  "kind": "List",
  "items": {
    "kind": "WorkFlowTask",
    "apiVersion": "v3",
    "metadata": {
      "uid": "730f5577-38ef-448c-b4a7-c6878fbefdda",
      "creationTimestamp": "2023-11-24 08:39:15.894417 +0000 UTC",
      "updateTimestamp": "2023-11-25 02:57:25.718567 +0000 UTC"
    },
    "spec": {
      "clusterID": "b4b9e60f-8aa2-11ee-af09-0255ac10004f",
      "clusterVersion": "v1.17.17-r0",
      "targetVersion": "v1.19.16-r80"
    },
    "status": {
      "phase": "Cancel",
      "pointStatuses": [
        {"taskType": "PreCheck"}, {"taskType": "Snapshot"},
        {"taskType": "Cluster"}, {"taskType": "PostCheck"}
      ],
      "lineStatuses": [
        {"startPoint": {"taskType": "PreCheck"}, "endPoint": {"taskType": "Cluster"}},
        {"startPoint": {"taskType": "Cluster"}, "endPoint": {"taskType": "PostCheck"}}
      ]
    }
  }
}
"""


def test_documented_example_parses_with_single_object_items() -> None:
    parsed = parse_workflow_list(DOCUMENTED_EXAMPLE)
    assert len(parsed.items) == 1
    workflow = parsed.items[0]
    assert workflow.metadata.uid == "730f5577-38ef-448c-b4a7-c6878fbefdda"
    # The time of day survives (the official SDK drops it).
    assert workflow.metadata.creation_timestamp == datetime(2023, 11, 24, 8, 39, 15, 894417, tzinfo=UTC)
    assert workflow.metadata.update_timestamp == datetime(2023, 11, 25, 2, 57, 25, 718567, tzinfo=UTC)
    assert workflow.spec.cluster_version == "v1.17.17-r0"
    assert workflow.spec.target_version == "v1.19.16-r80"
    assert workflow.status.phase == "Cancel"
    assert [p.task_type for p in workflow.status.point_statuses] == ["PreCheck", "Snapshot", "Cluster", "PostCheck"]
    assert all(p.status is None and p.task_id is None and p.start_time is None for p in workflow.status.point_statuses)
    assert [(line.start_point, line.end_point, line.critical) for line in workflow.status.line_statuses] == [
        ("PreCheck", "Cluster", None),
        ("Cluster", "PostCheck", None),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-11-24 08:39:15.894417 +0000 UTC", datetime(2023, 11, 24, 8, 39, 15, 894417, tzinfo=UTC)),
        ("2023-11-24 16:39:15 +0800 CST", datetime(2023, 11, 24, 8, 39, 15, tzinfo=UTC)),
        ("2023-11-24 08:39:15.894417123 +0000 UTC m=+0.000123", datetime(2023, 11, 24, 8, 39, 15, 894417, tzinfo=UTC)),
        ("2023-11-24T08:39:15Z", datetime(2023, 11, 24, 8, 39, 15, tzinfo=UTC)),
        ("2023-11-24T08:39:15.5+08:00", datetime(2023, 11, 24, 0, 39, 15, 500000, tzinfo=UTC)),
        ("2023-11-24 08:39:15", datetime(2023, 11, 24, 8, 39, 15, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (None, None),
        (12345, None),
        ("2023-13-45 99:99:99 +0000 UTC", None),
    ],
)
def test_timestamps_in_every_form(text: Any, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(
    ("items", "count"),
    [([], 0), ({}, 0), (None, 0), ([{"metadata": {"uid": "a"}}, {"metadata": {"uid": "b"}}], 2)],
)
def test_items_list_empty_null_or_many(items: Any, count: int) -> None:
    assert len(parse_workflow_list(json.dumps({"kind": "List", "items": items})).items) == count


def test_items_missing_and_unknown_fields() -> None:
    parsed = parse_workflow_list('{"kind": "List", "somethingNew": {"x": 1}}')
    assert parsed.items == []
    listed = parse_workflow_list('{"items": [{"metadata": {"uid": "u", "extra": 1}, "future": [1, 2]}]}')
    workflow = listed.items[0]
    assert workflow.metadata.uid == "u"
    assert workflow.status.phase is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("true", True), ("False", False), ("TRUE", True), ("maybe", None), (None, None)],
)
def test_critical_as_boolean_or_string(value: Any, expected: bool | None) -> None:
    body = {"items": [{"status": {"lineStatuses": [{"startPoint": {"taskType": "A"}, "critical": value}]}}]}
    assert parse_workflow_list(json.dumps(body)).items[0].status.line_statuses[0].critical is expected


def test_unknown_enum_values_are_kept_verbatim() -> None:
    body = {
        "items": [
            {
                "status": {
                    "phase": "Paused",
                    "pointStatuses": [{"taskType": "NodePoolUpgrade", "status": "Skipped", "taskID": 42}],
                }
            }
        ]
    }
    workflow = parse_workflow_list(json.dumps(body)).items[0]
    assert workflow.status.phase == "Paused"
    point = workflow.status.point_statuses[0]
    assert (point.task_type, point.status, point.task_id) == ("NodePoolUpgrade", "Skipped", "42")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not valid JSON"),
        (b"<html>maintenance</html>", "not valid JSON"),
        (b'{"items": [', "not valid JSON"),
        (b"[1, 2]", "JSON list, not an object"),
        (b'"List"', "JSON str, not an object"),
        (b'{"items": "many"}', "items"),
        (b'{"items": 42}', "items"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[" * 100000, "not valid JSON"),
    ],
)
def test_invalid_responses_raise_one_typed_error(body: bytes, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_workflow_list(body)
    assert message in str(caught.value)
    assert len(str(caught.value)) < 300


def test_parse_error_never_echoes_the_body() -> None:
    secret = "sk-THIS-MUST-NOT-LEAK"
    with pytest.raises(ParseError) as caught:
        parse_workflow_list(json.dumps({"items": secret}))
    assert secret not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def _raw_workflow(uid: str, created: str, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"uid": uid, "creationTimestamp": created, "annotations": {"team": "ops"}},
        "spec": {"clusterVersion": "v1.28", "targetVersion": "v1.29"},
        "status": {
            "phase": "Running",
            "pointStatuses": [
                {"taskType": "PreCheck", "status": "Success"},
                {"taskType": "Cluster", "status": "Running"},
            ],
            **status,
        },
    }


@pytest.mark.parametrize(
    "damage",
    [
        {"pointStatuses": [{"status": "Running"}, {"taskType": "Cluster", "status": "Running"}]},
        {"pointStatuses": [{"taskType": ""}, "junk", None, {"taskType": {"nested": 1}}, {"taskType": "Cluster"}]},
        {"lineStatuses": [5, {"startPoint": {"taskType": "A"}, "endPoint": {"taskType": "B"}}]},
        {"phase": {"nested": 1}},
    ],
)
def test_one_malformed_item_in_history_leaves_out_only_that_item(
    damage: dict[str, Any], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parser, "_REPORTED", set())  # what earlier tests logged
    old = _raw_workflow("old", "2026-01-01T00:00:00Z", **damage)
    old["metadata"]["annotations"] = {"ok": "yes", "bad": {"nested": True}, "list": [1], "number": 3}
    new = _raw_workflow("new", "2026-06-01T00:00:00Z")
    with caplog.at_level("DEBUG", "ccupgrade.cce.parser"):
        parsed = parse_workflow_list(json.dumps({"kind": "List", "items": [old, "not a workflow", new]}))
    assert [w.metadata.uid for w in parsed.items] == ["old", "new"]
    assert parsed.items[1] == parse_workflow_list(json.dumps({"items": [new]})).items[0]
    assert parsed.items[0].metadata.annotations == {"ok": "yes", "number": "3"}
    assert parsed.items[0].spec.target_version == "v1.29"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("uid old" in m for m in warnings)
    assert any("items[1]" in m for m in warnings)

    # The same damage at the next poll is not logged at WARNING again.
    caplog.clear()
    with caplog.at_level("DEBUG", "ccupgrade.cce.parser"):
        parse_workflow_list(json.dumps({"kind": "List", "items": [old, "not a workflow", new]}))
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert caplog.records, "later sightings still go to DEBUG"


def test_a_point_without_task_type_is_dropped_in_the_followed_workflow_too() -> None:
    body = _raw_workflow("w", "2026-01-01T00:00:00Z", pointStatuses=[{"status": "Running"}, {"taskType": "Cluster"}])
    workflow = parse_workflow_list(json.dumps({"items": [body]})).items[0]
    assert [p.task_type for p in workflow.status.point_statuses] == ["Cluster"]


def test_fields_of_the_wrong_kind_are_dropped_not_fatal() -> None:
    body = {
        "items": [{"metadata": "x", "spec": {"clusterVersion": {"nested": 1}, "targetVersion": "v1.29"}, "status": [1]}]
    }
    workflow = parse_workflow_list(json.dumps(body)).items[0]
    assert workflow.metadata.uid is None
    assert (workflow.spec.cluster_version, workflow.spec.target_version) == (None, "v1.29")
    assert workflow.status.point_statuses == []


# -- property-based: generated and mangled responses ---------------------------------------------


@settings(max_examples=examples(3000), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=st.one_of(responses, json_values), cut=st.one_of(st.none(), st.none(), st.integers(0, 10_000)))
def test_generated_and_mangled_responses_give_models_or_parse_errors(document: Any, cut: int | None) -> None:
    body = mangle(document, cut)
    try:
        parsed = parse_workflow_list(body)
    except ParseError as error:
        assert str(error)
        return
    assert isinstance(parsed, UpgradeWorkflowList)
    for workflow in parsed.items:
        for point in workflow.status.point_statuses:
            assert isinstance(point.task_type, str)
            assert point.task_type
            for moment in (point.start_time, point.end_time, point.expire_time):
                assert moment is None or moment.tzinfo is not None
