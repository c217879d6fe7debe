"""An API server whose CRD is older than the operator (Helm never upgrades crds/) prunes the status
fields it does not know from what it stores. A PATCH it applied is our write all the same: one
write per change, no re-derive-and-write loop, and a warning saying the CRD is old."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest

from ccupgrade.kube.io import KubeIO
from ccupgrade.mirror import Mirrored, Observed, mirror
from ccupgrade.mirror.between import BetweenData
from ccupgrade.models.watched import Watched
from ccupgrade.scheduler.ports import NoObserver
from ccupgrade.scheduler.supervisor import Supervisor
from ccupgrade.scheduler.writes import Ticket, Writer
from tests.support.scheduler_fakes import FakeApiServer
from tests.unit.test_mirror_between import NOW, info, paths, prechecks
from tests.unit.test_status_patch import _PatchingApi

PRUNED = ("available", "latestPreCheck", "cloudOutage")  # fields an older CRD schema does not have


def _between(minutes: int) -> Any:
    data = BetweenData(info(targets=["v1.29.13-r0"]), paths(), prechecks(), NOW)
    return lambda current: mirror(
        current.status, Observed([], between=data), current.spec, current.generation, NOW + timedelta(minutes=minutes)
    )


class _PruningApi(_PatchingApi):
    """Applies the merge patch, then stores (and answers) the status without the pruned fields."""

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        body = await super().merge_patch(path, patch)
        self.body = {**body, "status": {k: v for k, v in body["status"].items() if k not in PRUNED}}
        return self.body


def _object() -> dict[str, Any]:
    return {
        "metadata": {"name": "prod", "namespace": "ns", "uid": "uid-1", "generation": 1, "resourceVersion": "1"},
        "spec": {"region": "ap-southeast-1", "projectId": "p", "clusterId": "c", "credentialsSecretRef": {"name": "s"}},
    }


async def _polls(api: _PatchingApi, polls: int = 3) -> Writer:
    """`polls` polls seeing the same CCE data, written through KubeIO to `api`."""
    io = KubeIO(api)
    tasks = Supervisor()
    writer = Writer(io, NoObserver(), tasks, max_concurrent=4)
    watched = Watched.from_body(api.body)
    writer.store(watched)
    for minute in range(polls):
        await writer.write(watched.ref, Ticket.of(watched), _between(minute), fresh=True)
    await asyncio.sleep(0.2)  # room for background retries, which must not happen
    await tasks.close()
    return writer


async def test_kube_io_takes_a_patch_whose_answer_lacks_a_field_as_written(caplog: pytest.LogCaptureFixture) -> None:
    plain = _PatchingApi(_object())
    await _polls(plain)
    api = _PruningApi(_object())
    caplog.set_level(logging.WARNING, "ccupgrade")

    writer = await _polls(api)

    # one write per change, as with a current CRD (2: the versions, then their announcement);
    # it was 3 per poll, then retried for ever
    assert len(plain.patches) == 2
    assert len(api.patches) == len(plain.patches)
    assert "available" in api.patches[0]["status"]
    assert "available" not in api.body["status"]  # pruned indeed
    record = writer.objects.get(Watched.from_body(api.body).ref)
    assert record is not None
    assert record.status is not None
    assert record.status.available is not None
    assert record.resource_version == api.body["metadata"]["resourceVersion"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings  # once per object, not per write
    assert "dropped status fields available" in warnings[0]
    assert "CRD is older than the operator" in warnings[0]


async def test_the_writer_writes_once_per_change_when_the_api_server_prunes() -> None:
    server = FakeApiServer(prune=frozenset({"available"}))
    watched = server.apply("a")
    tasks = Supervisor()
    writer = Writer(server, NoObserver(), tasks, max_concurrent=4)
    writer.store(watched)

    for minute in range(3):
        await writer.write(watched.ref, Ticket.of(watched), _between(minute), fresh=True)
    await asyncio.sleep(0.2)
    await tasks.close()

    assert len(server.writes) == 2  # the versions, then their announcement: one write per change
    assert server.attempts == 2
    stored = server.objects["a"].status
    assert stored is not None
    assert stored.available is None  # what the server keeps is pruned
    result: Mirrored = server.writes[0].result
    assert result.status.available is not None
