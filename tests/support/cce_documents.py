"""Hypothesis strategies for CCE's workflow-list answers: well-formed, mistyped at any field, and cut
short. The parser must turn every one into models or one typed error."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(
        [
            "Init",
            "Running",
            "Pending",
            "Success",
            "Cancel",
            "Failed",
            "2023-11-24 08:39:15 +0000 UTC",
            "2023-11-24T08:39:15Z",
            "true",
            "false",
        ]
    ),
)
json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, json_values)


_point = st.fixed_dictionaries(
    {"taskType": _maybe(st.sampled_from(["PreCheck", "Snapshot", "Cluster", "PostCheck", "Rollback", "New"]))},
    optional={
        "taskID": _maybe(st.uuids().map(str)),
        "status": _maybe(st.sampled_from(["Init", "Queuing", "Running", "Success", "Failed", "Weird"])),
        "startTimeStamp": _maybe(st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S.%f +0000 UTC"))),
        "endTimeStamp": _maybe(st.datetimes().map(lambda d: d.isoformat() + "Z")),
        "expireTimeStamp": json_values,
    },
)
_line = st.fixed_dictionaries(
    {},
    optional={
        "startPoint": _maybe(st.fixed_dictionaries({"taskType": st.text(max_size=10)})),
        "endPoint": _maybe(st.fixed_dictionaries({"taskType": st.text(max_size=10)})),
        "critical": _maybe(st.sampled_from([True, False, "true", "false"])),
    },
)
_workflow = st.fixed_dictionaries(
    {},
    optional={
        "kind": _maybe(st.just("WorkFlowTask")),
        "metadata": _maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "uid": _maybe(st.uuids().map(str)),
                    "creationTimestamp": _scalars,
                    "annotations": json_values,
                },
            )
        ),
        "spec": _maybe(st.fixed_dictionaries({}, optional={"clusterVersion": _scalars, "targetVersion": _scalars})),
        "status": _maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "phase": _scalars,
                    "pointStatuses": _maybe(st.lists(_point, max_size=5)),
                    "lineStatuses": _maybe(st.lists(_line, max_size=4)),
                },
            )
        ),
    },
)
_items = _maybe(st.one_of(_workflow, st.lists(_workflow, max_size=4)))
responses = st.fixed_dictionaries({}, optional={"kind": _scalars, "apiVersion": _scalars, "items": _items})


def mangle(document: Any, cut: int | None) -> bytes:
    """The document as JSON, cut after `cut` bytes (modulo its length) when given."""
    text = json.dumps(document).encode()
    return text if cut is None else text[: cut % (len(text) + 1)]
