"""Which Events first sight of a workflow posts, and that the Events of a poll come in causal order
with names that sort the same way (listings keep the server's name order among one-second ties)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from ccupgrade.kube.io import KubeIO
from ccupgrade.mirror import PollFailed
from ccupgrade.models.watched import Watched
from ccupgrade.scheduler.ports import NoObserver
from ccupgrade.scheduler.supervisor import Supervisor
from ccupgrade.scheduler.writes import Ticket, Writer
from tests.support.mirror_walk import Walk


def _kinds(result_events: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    return [(kind, reason) for kind, reason, _ in result_events]


@pytest.mark.parametrize(
    ("scenario", "second", "expected"),
    [
        ("standard", 0, [("Normal", "WorkflowDetected")]),
        ("standard", 31, [("Normal", "WorkflowDetected"), ("Normal", "UpgradeStarted")]),
        ("failing", 41, [("Normal", "WorkflowDetected"), ("Warning", "TaskFailed"), ("Warning", "UpgradeBlocked")]),
        ("cancelled", 21, [("Normal", "WorkflowDetected"), ("Warning", "UpgradeCancelled")]),
        ("standard", 60, [("Normal", "WorkflowDetected")]),
    ],
)
def test_first_sight_posts_what_the_state_needs(scenario: str, second: float, expected: list[tuple[str, str]]) -> None:
    walk = Walk(scenario)
    walk.observe(second)
    assert _kinds(walk.events) == expected
    if scenario == "failing":
        assert "Task Cluster failed" in walk.events[1][2]
        assert "task Cluster failed" in walk.events[2][2]
    # Nothing more at the next poll of the same state, and no second Warning later.
    walk.observe(second + 1)
    assert len(walk.events) == len(expected)


def test_a_new_workflow_already_running_when_first_seen_posts_upgrade_started() -> None:
    walk = Walk("retry")
    walk.observe(25)  # attempt-1 cancelled
    before = len(walk.events)
    walk.observe(61)  # attempt-2, created at 30, is Running by now
    assert _kinds(walk.events[before:]) == [("Normal", "WorkflowDetected"), ("Normal", "UpgradeStarted")]
    assert "moved to history" in walk.events[before][2]


def _sorted_like_listed(walk: Walk, names: list[str]) -> None:
    assert names == sorted(names), "names sort in the order the Events were posted"
    assert len(set(names)) == len(names)


class _NamedWalk(Walk):
    def __init__(self, scenario: str) -> None:
        super().__init__(scenario)
        self.ordered_names: list[str] = []
        self.per_poll: list[list[str]] = []

    def apply(self, outcome, second, generation=1):  # type: ignore[no-untyped-def]
        result = super().apply(outcome, second, generation)
        names = [e.name_for("prod", "uid-1") for e in result.events]
        self.ordered_names += names
        self.per_poll.append([e.reason for e in result.events])
        return result


def test_events_of_one_poll_are_causal_and_names_sort_that_way() -> None:
    walk = _NamedWalk("standard")
    for second in (0, 10, 20, 40, 60):  # polls that each see several transitions at once
        walk.observe(second)
    polls = [p for p in walk.per_poll if p]
    # Init -> Running with PreCheck running: the upgrade starts before its task does.
    assert polls[1][0] == "UpgradeStarted"
    assert polls[1][1:] == ["TaskStarted"]
    # The last poll: the tasks finish, then the upgrade succeeds.
    assert polls[-1][-1] == "UpgradeSucceeded"
    assert polls[-1][:-1]
    assert all(r.startswith("Task") for r in polls[-1][:-1])
    _sorted_like_listed(walk, walk.ordered_names)


def test_outage_warning_and_recovery_sort_in_order() -> None:
    walk = _NamedWalk("standard")
    walk.observe(0)
    walk.observe(10)
    walk.apply(PollFailed(True, "CloudAPIUnavailable", "CCE unavailable: HTTP 503"), 15)
    walk.apply(PollFailed(True, "CloudAPIUnavailable", "CCE unavailable: HTTP 503"), 75)  # lasted: announced
    walk.observe(30, now=80)
    reasons = walk.reasons()
    assert reasons.count("CloudAPIError") == 1
    assert reasons.index("CloudAPIError") < reasons.index("CloudAPIRecovered")
    assert reasons[reasons.index("CloudAPIRecovered") + 1 :][0] in {"TaskSucceeded", "TaskQueued", "TaskStarted"}
    _sorted_like_listed(walk, walk.ordered_names)


def test_recomputing_a_poll_names_the_same_events() -> None:
    first, second = Walk("standard"), Walk("standard")
    for walk in (first, second):
        walk.observe(0)
    a = first.observe(40)
    b = second.observe(40)
    assert [e.name_for("prod", "u") for e in a.events] == [e.name_for("prod", "u") for e in b.events]


class _RecordingApi:
    """Stands in for KubeApi: records Event bodies in the order they are posted, and status patches."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.bodies: list[dict[str, Any]] = []
        self.journal: list[str] = []

    async def create(self, path: str, body: dict[str, Any]) -> None:
        await asyncio.sleep(0.001 * (3 - len(self.bodies) % 3))  # out-of-order completion if posted at once
        self.bodies.append(body)
        self.journal.append("event")

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        self.journal.append("status")
        self.body = {
            **self.body,
            "metadata": {**self.body["metadata"], "resourceVersion": str(len(self.journal))},
            "status": patch["status"],
        }
        return self.body


async def test_status_first_then_events_one_after_another_with_microsecond_event_time() -> None:
    walk = Walk("standard")
    walk.observe(0)
    result = walk.observe(60)  # several transitions at once
    assert len(result.events) >= 3
    body = {
        "metadata": {"name": "prod", "namespace": "ns", "uid": "uid-1", "generation": 1, "resourceVersion": "1"},
        "spec": {"region": "ap-southeast-1", "projectId": "p", "clusterId": "c", "credentialsSecretRef": {"name": "s"}},
    }
    api = _RecordingApi(body)
    io = KubeIO(api)
    tasks = Supervisor()
    writer = Writer(io, NoObserver(), tasks, max_concurrent=4)
    watched = Watched.from_body(body)
    writer.store(watched)
    await writer.write(watched.ref, Ticket.of(watched), lambda current: result, fresh=True)
    for _ in range(1000):  # a bound, not a figure
        if len(api.bodies) == len(result.events):
            break
        await asyncio.sleep(0.01)
    await tasks.close()
    assert api.journal == ["status"] + ["event"] * len(result.events)
    recorded = api.body["status"]["eventJournal"]  # what a restarted operator would post again
    assert [r["name"] for r in recorded] == [b["metadata"]["name"] for b in api.bodies]
    assert [r["eventTime"][:26] for r in recorded] == [b["eventTime"][:26] for b in api.bodies]
    assert [b["reason"] for b in api.bodies] == [e.reason for e in result.events]
    times = [b["eventTime"] for b in api.bodies]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", t) for t in times)
    assert times == sorted(times)
    assert len(set(times)) == len(times)
    names = [b["metadata"]["name"] for b in api.bodies]
    assert names == sorted(names)
    for posted in api.bodies:
        # core/v1 validation: an eventTime requires reportingComponent, reportingInstance and action.
        assert posted["reportingComponent"]
        assert posted["reportingInstance"]
        assert posted["action"]
        assert posted["lastTimestamp"] == posted["eventTime"][:19] + "Z"
