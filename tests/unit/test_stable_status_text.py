"""Text stored in status is stable across identical failures: a persistent CCE error does not
rewrite the status at every poll because each answer carries its own request ID."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from ccupgrade.cce.client import ClusterTarget
from ccupgrade.cce.errors import PermissionDenied, ServerError
from ccupgrade.models import PreCheckTask, SnapshotTaskList, UpgradeTask
from ccupgrade.scheduler.poller import Scheduler, SchedulerConfig
from tests.support.scheduler_fakes import FakeApiServer, FakeCce, Secrets, scheduler_for, workflows

pytestmark = pytest.mark.looptime

_IDS = itertools.count()


def _request_id() -> str:
    return f"0b1c2d3e-{next(_IDS):04d}-4f5a-8b6c-7d8e9f0a1b2c"


class RefusingTasks:
    """CCE's task endpoints answering 403, each answer with its own request ID (as CCE's do)."""

    def __init__(self) -> None:
        self.calls = 0

    def _refuse(self) -> PermissionDenied:
        self.calls += 1
        return PermissionDenied(
            "access denied: no permission for the task API", status=403, code="CCE.01403001", request_id=_request_id()
        )

    async def get_precheck_task(self, target: ClusterTarget, task_id: str) -> PreCheckTask:
        raise self._refuse()

    async def get_upgrade_task(self, target: ClusterTarget, task_id: str) -> UpgradeTask:
        raise self._refuse()

    async def list_snapshot_tasks(self, target: ClusterTarget) -> SnapshotTaskList:
        raise self._refuse()


async def test_a_task_detail_refused_for_10_minutes_writes_status_once(running: Any) -> None:
    """403 on the task-detail endpoint for 10 minutes at 5 s: 120 reads and, without the fix,
    120 status writes (the stored message carried the per-request ID)."""
    tasks = RefusingTasks()
    cce = FakeCce({"c1": lambda _: workflows(31.0)})  # the Cluster task runs: its detail is read
    server = FakeApiServer()
    scheduler = Scheduler(
        client=cce,
        credentials=Secrets(),
        sink=server,
        config=SchedulerConfig(),
        clock=asyncio.get_running_loop().time,
        tasks=tasks,
    )
    scheduler.upsert(server.apply("a", pollInterval="5s"))
    running(scheduler)
    await asyncio.sleep(600)
    print(f"\n403 for 600 s: {tasks.calls} detail reads, {len(server.writes)} status writes")
    assert tasks.calls >= 100
    assert len(server.writes) <= 2
    status = server.objects["a"].status
    assert status is not None
    assert status.task_progress is not None
    assert "request" not in (status.task_progress.error or "")


async def test_a_list_failing_for_10_minutes_writes_status_once(running: Any) -> None:
    """The workflow list answering 503 with a new request ID each time: the Ready condition's
    message is the same text every time, so the status is written once."""
    cce = FakeCce()
    server = FakeApiServer()
    scheduler = scheduler_for(cce, server)
    scheduler.upsert(server.apply("a", pollInterval="5s"))
    running(scheduler)
    await asyncio.sleep(60)
    before = len(server.writes)

    def failing(target: ClusterTarget) -> Any:
        raise ServerError("CCE unavailable: internal error", status=503, code="CCE.01500001", request_id=_request_id())

    cce.answers["c1"] = failing
    await asyncio.sleep(600)
    print(f"\n503 for 600 s: {cce.count('c1')} reads, {len(server.writes) - before} status writes")
    assert len(server.writes) - before <= 1
    status = server.objects["a"].status
    assert status is not None
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert ready.reason == "CloudAPIUnavailable"
    assert "503" in ready.message
