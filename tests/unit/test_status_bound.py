"""The status is bounded (MAX_STATUS_BYTES): every CCE-sourced string and list in it is, and a
status the API server refuses for good still gets its Events and a condition saying why."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from ccupgrade.cce.parser import parse, parse_workflow_list
from ccupgrade.kube.api import KubeApiError, api_error
from ccupgrade.kube.io import KubeIO
from ccupgrade.mirror import Details, EventIntent, Mirrored, Observed, mirror
from ccupgrade.models import (
    MAX_ANNOUNCED,
    MAX_RECORDED_EVENTS,
    MAX_STATUS_BYTES,
    MAX_TARGETS,
    AvailableUpgrades,
    Condition,
    Finding,
    FindingCount,
    HistoryEntry,
    LineView,
    PreCheckTask,
    PreCheckView,
    RecordedEvent,
    TaskView,
    UpgradeStatus,
)
from ccupgrade.models.insight_status import Eta, Slowness, TaskProgress
from ccupgrade.models.limits import CCE_NAME_BYTES, CCE_TEXT_BYTES
from ccupgrade.models.watched import Watched
from ccupgrade.scheduler.ports import NoObserver, StatusRefused, WriteFailed
from ccupgrade.scheduler.supervisor import Supervisor
from ccupgrade.scheduler.writes import Ticket, Writer
from ccupgrade.simulator.scenario import ClusterScenario, ScenarioClock, load_scenario
from ccupgrade.simulator.task_endpoints import Renderer, shipped_details
from tests.support.mirror_walk import SPEC, T0
from tests.support.scheduler_fakes import FakeApiServer


def _size(status: UpgradeStatus) -> int:
    document = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    return len(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode())


def _hostile_precheck() -> tuple[list[Any], PreCheckTask, int]:
    """The precheck-failed scenario, its pre-check answer inflated to ~2.3 MB (under the client's
    4 MiB cap): 10,000-character Chinese messages, many findings, many (kind, level) pairs, and a
    workflow whose strings and lists are as long as CCE could send."""
    cluster = ClusterScenario("p1", "c1", load_scenario("precheck-failed"), ScenarioClock(paused=True))
    cluster.clock.set(20)
    body = Renderer(cluster, shipped_details("precheck-failed")).precheck_list()["items"][0]
    items = body["status"]["clusterCheckStatus"]["itemsStatus"]
    template = items[0]
    body["status"]["clusterCheckStatus"]["itemsStatus"] = [
        {**template, "name": f"Check{i}" + "检" * 300, "level": f"Level{i}", "message": "集群检查失败" * 1700}
        for i in range(75)
    ]
    body["status"]["message"] = "预检查失败" * 2000
    raw = json.dumps(body, ensure_ascii=False).encode()
    listed = cluster.render_list()
    workflow = listed["items"][0]
    workflow["spec"]["clusterVersion"] = "v" + "1" * 5000
    points = workflow["status"]["pointStatuses"]
    workflow["status"]["pointStatuses"] = points + [
        {**points[-1], "taskType": f"Extra{i}" + "任" * 2000, "taskID": f"x{i}", "status": "Init"} for i in range(300)
    ]
    workflows = parse_workflow_list(json.dumps(listed)).items
    return workflows, parse(PreCheckTask, raw, "pre-check task"), len(raw)


def test_a_hostile_precheck_answer_makes_a_status_within_the_bound() -> None:
    """Without the bounds a 2.3 MB pre-check answer made a 1.89 MiB status (etcd refuses 1.5 MiB)."""
    workflows, task, answer = _hostile_precheck()
    assert answer > 2_000_000
    details = Details(precheck={task.metadata.uid or "": task})
    result = mirror(None, Observed(workflows, details), SPEC, 1, T0)
    status = result.status
    print(f"\n{answer:,}-byte pre-check answer: a {_size(status):,}-byte status")
    assert status.pre_check is not None
    assert status.pre_check.findings  # still says what is wrong
    assert _size(status) <= MAX_STATUS_BYTES
    for event in result.events:
        assert len(event.message.encode()) < 2_000_000  # bounded when recorded (test_byte_limits)


def test_a_status_with_every_field_at_its_bound_fits() -> None:
    """The arithmetic behind MAX_STATUS_BYTES, made: every string at its byte bound (4-byte
    characters), every list at its cap, 50 history entries, 3 conditions, a full journal."""
    wide = "𠮷" * 20_000
    now = datetime(2026, 1, 1, tzinfo=UTC)
    finding = Finding(name=wide, kind=wide, level=wide, where=wide, message=wide)
    widest_pre_check: dict[str, Any] = {
        "task_id": wide,
        "phase": wide,
        "expire_time": now,
        "expired": True,
        "message": wide,
        "findings": [finding] * 10,
        "more_findings": 10**6,
        "counts": [FindingCount(kind=wide, level=wide, count=1)] * 500,
        "error": wide,
    }
    status = UpgradeStatus(
        observed_generation=1,
        phase=wide,
        cluster_version=wide,
        target_version=wide,
        progress=wide,
        current_task=wide,
        tasks=[
            TaskView(type=wide, id=wide, status=wide, start_time=now, end_time=now, expire_time=now) for _ in range(500)
        ],
        lines=[LineView.model_validate({"from": wide, "to": wide, "critical": True}) for _ in range(500)],
        history=[
            HistoryEntry(uid=wide, phase=wide, cluster_version=wide, target_version=wide, created=now, updated=now)
            for _ in range(50)
        ],
        pre_check=PreCheckView(**widest_pre_check),
        available=AvailableUpgrades(
            cluster_id=wide,
            current_version=wide,
            suggested_patch=wide,
            target_versions=[wide] * MAX_TARGETS,
            newest_version=wide,
            steps_to_newest=10**6,
            minor_versions_behind=10**6,
            checked_time=now,
            announced=[wide] * MAX_ANNOUNCED,
            error=wide,
        ),
        latest_pre_check=PreCheckView(**widest_pre_check, target_version=wide, created=now),
        task_progress=TaskProgress(task=wide, task_id=wide, percent=50, since=now, error=wide),
        eta=Eta(task=wide, task_end=now, workflow_end=now, basis="history", samples=9, text=wide),
        slow=Slowness(task=wide, task_id=wide, since=now, message=wide),
        last_sync_time=now,
        conditions=[
            Condition.model_validate(
                {"type": kind, "status": "True", "lastTransitionTime": now, "reason": "R", "message": wide * 2}
            )
            for kind in ("Ready", "Reconciling", "Stalled")
        ],
        event_journal=[RecordedEvent(name="n" * 253, type="Warning", reason="R" * 128, message=wide, event_time=now)]
        * MAX_RECORDED_EVENTS,
    )
    assert status.available is not None
    assert status.latest_pre_check is not None
    assert len((status.available.error or "").encode()) <= CCE_TEXT_BYTES
    assert all(len(v.encode()) <= CCE_NAME_BYTES for v in status.available.announced or [])
    size = _size(status)
    print(f"\nevery field at its bound: {size:,} bytes (bound {MAX_STATUS_BYTES:,})")
    assert size <= MAX_STATUS_BYTES


# -- a status the API server refuses for good ------------------------------------------------------


@dataclass
class RefusingApiServer(FakeApiServer):
    """Refuses for good every status with a pre-check (as the API server does a status it cannot
    store: 422, 413, etcd's size limit)."""

    refused: int = 0

    async def publish(self, watched: Watched, result: Mirrored) -> Watched | None:
        if result.changed and result.status.pre_check is not None:
            self.refused += 1
            await asyncio.sleep(0.01)
            raise StatusRefused("HTTP 422: status.preCheck: Invalid value")
        return await super().publish(watched, result)


def _blocked(n: int) -> Callable[[Watched], Mirrored]:
    def derive(watched: Watched) -> Mirrored:
        events = [EventIntent("Warning", "PreCheckFailed", f"pre-check failed {n}", f"precheck/{n}")]
        status = (watched.status or UpgradeStatus()).model_copy(
            update={"phase": "Pending", "pre_check": PreCheckView(phase="Failed")}
        )
        return Mirrored(status, events, changed=True)

    return derive


@pytest.mark.looptime
async def test_a_status_refused_for_good_still_gets_its_events_and_a_condition() -> None:
    server = RefusingApiServer()
    supervisor = Supervisor()
    writer = Writer(server, NoObserver(), supervisor, max_concurrent=2)
    watched = server.apply("a")
    writer.store(watched)
    try:
        await writer.write(watched.ref, Ticket.of(watched), _blocked(1), fresh=True)
        for _ in range(300):
            if len(server.events) >= 2:
                break
            await asyncio.sleep(0.1)
        attempts = server.attempts
        current = writer.objects.get(watched.ref)
        assert current is not None
        for _ in range(5):  # the same result at later polls: not sent again
            await writer.write(current.ref, Ticket.of(current), _blocked(1), fresh=True)
        await asyncio.sleep(120)
    finally:
        await supervisor.close()
    assert server.refused == 1
    assert server.attempts == attempts
    assert server.events[0][1].message == "pre-check failed 1"
    assert [e.reason for _, e in server.events] == ["PreCheckFailed", "StatusRejected"]
    stored = server.objects["a"].status
    assert stored is not None
    assert stored.pre_check is None  # the last good status, kept
    stalled = next(c for c in stored.conditions if c.type == "Stalled")
    assert (stalled.status, stalled.reason) == ("True", "StatusRejected")
    assert "HTTP 422" in stalled.message
    assert stored.event_journal is not None
    assert [e.reason for e in stored.event_journal] == ["PreCheckFailed", "StatusRejected"]


# -- KubeIO: what counts as refused for good ---------------------------------------------------------


class _AnsweringApi:
    """Stands in for KubeApi: answers each status PATCH with the next error, and counts them."""

    def __init__(self, errors: list[KubeApiError]) -> None:
        self.errors = errors
        self.patches = 0

    async def merge_patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.patches += 1
        raise self.errors.pop(0)


def _watched() -> Watched:
    return FakeApiServer().apply("a")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (422, '{"kind":"Status","message":"CceClusterUpgrade.ccupgrade.dev \\"a\\" is invalid"}'),
        (413, "Request entity too large: limit is 3145728"),
        (500, '{"kind":"Status","message":"etcdserver: request is too large"}'),
    ],
)
async def test_a_refusal_for_good_is_told_apart_from_a_failure_to_retry(status: int, body: str) -> None:
    api = _AnsweringApi([api_error(status, body)])
    io = KubeIO(api)
    result = Mirrored(UpgradeStatus(phase="Running"), changed=True)
    with pytest.raises(StatusRefused, match=f"HTTP {status}"):
        await io.publish(_watched(), result)


async def test_a_status_over_the_bound_is_not_sent() -> None:
    api = _AnsweringApi([])
    io = KubeIO(api)
    huge = UpgradeStatus(history=[HistoryEntry(uid="x" * 250, phase="p" * 250) for _ in range(2000)])
    with pytest.raises(StatusRefused, match="over the bound"):
        await io.publish(_watched(), Mirrored(huge, changed=True))
    assert api.patches == 0


@pytest.mark.parametrize("status", [401, 403, 429, 503, 0])
async def test_a_refusal_of_the_operator_not_of_the_status_is_retried(status: int) -> None:
    """401/403 (credentials, RBAC: may be fixed), throttling, 5xx, no answer: retried later."""
    api = _AnsweringApi([api_error(status, '{"kind":"Status","message":"forbidden"}')])
    io = KubeIO(api)
    with pytest.raises(WriteFailed):
        await io.publish(_watched(), Mirrored(UpgradeStatus(phase="Running"), changed=True))
