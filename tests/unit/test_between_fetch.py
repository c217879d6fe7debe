"""The between-upgrades reads and their cost: info and pre-check list at most once per resync per
cluster (shared by every group that names it), the paths at most once an hour per endpoint, none
while an upgrade is active; a failing call fails alone; forgotten with the cluster."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest

from ccupgrade.cce.client import ClusterTarget
from ccupgrade.cce.credentials import TokenCredentials
from ccupgrade.cce.endpoints import Endpoint
from ccupgrade.cce.errors import ServerError
from ccupgrade.cce.parser import parse, parse_workflow_list
from ccupgrade.mirror import DetailFailed
from ccupgrade.models import PreCheckTaskList, UpgradeInfo, UpgradePathList, UpgradeWorkflow
from ccupgrade.scheduler.between_reads import BetweenFetcher
from ccupgrade.scheduler.poller import Scheduler
from tests.support.scheduler_fakes import NO_WORKFLOWS, FakeApiServer, FakeCce, Secrets, now

RESYNC = 600.0
ENDPOINT = "cce.example"
C1 = (ENDPOINT, "p", "c1")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeReader:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.failing: set[str] = set()

    def _answer(self, what: str) -> None:
        self.calls[what] += 1
        if what in self.failing:
            raise ServerError(f"{what}: 503 from CCE")

    async def show_upgrade_info(self, target: ClusterTarget) -> UpgradeInfo:
        self._answer("info")
        return parse(UpgradeInfo, json.dumps({"spec": {"versionInfo": {"release": "v1.28.15"}}}), "info")

    async def list_precheck_tasks(self, target: ClusterTarget) -> PreCheckTaskList:
        self._answer("prechecks")
        return parse(PreCheckTaskList, b'{"items": []}', "prechecks")

    async def list_upgrade_paths(self, target: ClusterTarget) -> UpgradePathList:
        self._answer("paths")
        return parse(UpgradePathList, b'{"upgradePaths": [{"version": "v1.28"}]}', "paths")


def _target(cluster: str) -> ClusterTarget:
    return ClusterTarget(Endpoint("https://cce.example", "https://iam.example"), "p", cluster, TokenCredentials("t"))


def _workflows(phase: str) -> list[UpgradeWorkflow]:
    body: dict[str, Any] = {"items": [{"metadata": {"uid": "w"}, "status": {"phase": phase, "pointStatuses": []}}]}
    return parse_workflow_list(json.dumps(body)).items


async def test_at_most_once_per_resync_per_cluster_and_once_an_hour_for_the_paths() -> None:
    reader, clock = FakeReader(), Clock()
    fetcher = BetweenFetcher(reader, RESYNC, clock=clock)
    for minute in range(0, 121):  # two hours of a poll every minute, two groups on c1, one on c2
        clock.now = 1000.0 + minute * 60
        for cluster in ("c1", "c1", "c2"):
            data = await fetcher.fetch((ENDPOINT, "p", cluster), _target(cluster), [])
            assert isinstance(data.info, UpgradeInfo)
            assert isinstance(data.paths, UpgradePathList)
    assert reader.calls == Counter({"info": 2 * 13, "prechecks": 2 * 13, "paths": 3})


async def test_nothing_is_read_while_an_upgrade_is_active() -> None:
    reader, clock = FakeReader(), Clock()
    fetcher = BetweenFetcher(reader, RESYNC, clock=clock)
    for phase in ("Init", "Running", "Pending"):
        data = await fetcher.fetch(C1, _target("c1"), _workflows(phase))
        assert (data.info, data.prechecks, data.paths) == (None, None, None)
    assert reader.calls == Counter()
    await fetcher.fetch(C1, _target("c1"), _workflows("Success"))
    assert reader.calls == Counter({"info": 1, "prechecks": 1, "paths": 1})


async def test_a_failing_call_fails_alone_and_waits_for_its_next_turn() -> None:
    reader, clock = FakeReader(), Clock()
    reader.failing = {"info"}
    fetcher = BetweenFetcher(reader, RESYNC, clock=clock)
    data = await fetcher.fetch(C1, _target("c1"), [])
    assert isinstance(data.info, DetailFailed)
    assert "503" in data.info.message
    assert isinstance(data.prechecks, PreCheckTaskList)
    clock.now += 60
    await fetcher.fetch(C1, _target("c1"), [])
    assert reader.calls["info"] == 1


async def test_forgotten_with_the_last_object_naming_the_cluster() -> None:
    reader, clock = FakeReader(), Clock()
    fetcher = BetweenFetcher(reader, RESYNC, clock=clock)
    await fetcher.fetch(C1, _target("c1"), [])
    assert len(fetcher) == 1
    fetcher.forget(C1)
    fetcher.forget_paths(ENDPOINT)
    assert len(fetcher) == 0
    data = await fetcher.fetch(C1, _target("c1"), [])
    assert reader.calls == Counter({"info": 2, "prechecks": 2, "paths": 2})
    assert data.info is not None


def _scheduler(cce: FakeCce, server: FakeApiServer, fetcher: BetweenFetcher) -> Scheduler:
    secrets = Secrets({"s": "t", "s2": "t"})
    return Scheduler(client=cce, credentials=secrets, sink=server, between=fetcher, clock=now)


@pytest.mark.looptime
async def test_the_scheduler_forgets_a_cluster_when_its_last_object_goes() -> None:
    cce, server = FakeCce({"c1": lambda _: NO_WORKFLOWS}), FakeApiServer()
    reader = FakeReader()
    fetcher = BetweenFetcher(reader, RESYNC, clock=now)
    scheduler = _scheduler(cce, server, fetcher)
    a, b = server.apply("a"), server.apply("b", credentialsSecretRef={"name": "s2"})
    scheduler.upsert(a)
    scheduler.upsert(b)
    run = asyncio.create_task(scheduler.run())
    await asyncio.sleep(1.2)  # fake time: both groups' first polls
    assert cce.count("c1") == 2
    assert reader.calls == Counter({"info": 1, "prechecks": 1, "paths": 1})  # two groups, one cluster
    assert len(fetcher) == 1
    scheduler.remove(a.ref)
    assert len(fetcher) == 1  # b still names the cluster
    scheduler.remove(b.ref)
    run.cancel()
    await asyncio.gather(run, return_exceptions=True)
    assert len(fetcher) == 0
    assert not fetcher._paths


@pytest.mark.looptime
async def test_an_object_deleted_while_its_poll_waits_on_cce_leaves_nothing_behind() -> None:
    """The poll that outlives its object stores the cluster's answers after the removal: they go
    when that poll lets go of the cluster, not at the removal."""
    cce, server = FakeCce({"c1": lambda _: NO_WORKFLOWS}), FakeApiServer()
    gate = cce.held["c1"] = asyncio.Event()
    reader = FakeReader()
    fetcher = BetweenFetcher(reader, RESYNC, clock=now)
    scheduler = _scheduler(cce, server, fetcher)
    watched = server.apply("a")
    scheduler.upsert(watched)
    run = asyncio.create_task(scheduler.run())
    await cce.started.wait()
    scheduler.remove(watched.ref)
    polls = list(scheduler._tasks._tasks)  # the poll under way
    gate.set()
    await asyncio.gather(*polls)
    run.cancel()
    await asyncio.gather(run, return_exceptions=True)
    assert reader.calls == Counter({"info": 1, "prechecks": 1, "paths": 1})  # the poll did read
    assert (len(fetcher), len(fetcher._paths)) == (0, 0)


async def test_a_failed_call_keeps_the_same_text_for_the_same_failure() -> None:
    """The error status keeps has no request ID (new per answer): the same failure twice is the
    same text, so the status is not rewritten at every read."""
    reader, clock = FakeReader(), Clock()
    messages = []
    for request in ("r1", "r2"):

        async def refuse(target: ClusterTarget, request: str = request) -> UpgradeInfo:
            raise ServerError("CCE is down", status=503, code="CCE.01", request_id=request)

        reader.show_upgrade_info = refuse  # type: ignore[method-assign]
        clock.now += RESYNC
        data = await BetweenFetcher(reader, RESYNC, clock=clock).fetch(C1, _target("c1"), [])
        assert isinstance(data.info, DetailFailed)
        messages.append(data.info.message)
    assert messages[0] == messages[1] == "CCE is down (HTTP 503, code CCE.01)"


async def test_only_the_newest_precheck_is_kept() -> None:
    """CCE lists every pre-check of the cluster (tens, each with its findings); the mirror shows
    the newest one, so the cache keeps that one alone until the next read."""
    created = ["2026-03-01T10:00:00Z", "2026-03-03T10:00:00Z", "2026-03-02T10:00:00Z"]
    listed = {"items": [{"metadata": {"uid": f"t{i}", "creationTimestamp": at}} for i, at in enumerate(created)]}
    reader = FakeReader()

    async def many(target: ClusterTarget) -> PreCheckTaskList:
        return parse(PreCheckTaskList, json.dumps(listed), "prechecks")

    reader.list_precheck_tasks = many  # type: ignore[method-assign]
    fetcher = BetweenFetcher(reader, RESYNC, clock=Clock())
    data = await fetcher.fetch(C1, _target("c1"), [])
    again = await fetcher.fetch(C1, _target("c1"), [])  # from the cache
    for answer in (data, again):
        assert isinstance(answer.prechecks, PreCheckTaskList)
        assert [task.metadata.uid for task in answer.prechecks.items] == ["t1"]
