"""The task detail endpoints: the client's reader against the simulator over real HTTP, each endpoint
with both auth modes, task IDs joined from the workflow list, and the faults the workflow calls see."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ccupgrade.cce.client import CceClient
from ccupgrade.cce.credentials import AccessKeyCredentials, TokenCredentials
from ccupgrade.cce.errors import AuthenticationError, NotFound, ParseError, ServerError, Throttled
from ccupgrade.cce.task_reader import TaskReader
from ccupgrade.simulator.faults import Fault, FaultList
from ccupgrade.simulator.task_endpoints import set_details
from tests.cce.conftest import AK, CLUSTER, PROJECT, SK, STATIC_TOKEN, Sim

TOKEN = TokenCredentials(STATIC_TOKEN)
AKSK = AccessKeyCredentials(AK, SK)


def scenario_epoch(sim: Sim) -> datetime:
    return sim.state.clusters[(PROJECT, CLUSTER)].epoch - timedelta(days=3650)


def _load(sim: Sim, scenario: str, second: float) -> None:
    loaded = sim.state.load(PROJECT, CLUSTER, scenario, paused=True)
    loaded.clock.set(second)


async def _task_id(client: CceClient, sim: Sim, task: str) -> str:
    workflows = await client.list_upgrade_workflows(sim.target(TOKEN))
    newest = max(workflows.items, key=lambda w: w.metadata.creation_timestamp or scenario_epoch(sim))
    point = next(p for p in newest.status.point_statuses if p.task_type == task)
    assert point.task_id
    return point.task_id


@pytest.mark.parametrize("credentials", [TOKEN, AKSK], ids=["token", "aksk"])
async def test_failed_precheck_by_the_workflow_points_task_id(
    sim: Sim, client: CceClient, credentials: TokenCredentials | AccessKeyCredentials
) -> None:
    _load(sim, "precheck-failed", 20)
    task_id = await _task_id(client, sim, "PreCheck")
    auth = "token" if isinstance(credentials, TokenCredentials) else "aksk"
    before = sim.state.counters[(PROJECT, CLUSTER)].by_auth[auth]
    task = await TaskReader(client).get_precheck_task(sim.target(credentials), task_id)
    assert task.metadata.uid == task_id
    assert task.status.phase == "Failed"
    assert task.spec.target_version == "v1.29.13-r0"
    names = {i.name: (i.kind, i.level) for i in task.status.cluster.items}
    assert names["ClusterResourceQuotaCheck"] == ("Exception", "Fatal")
    assert task.status.addons.items[0].risk_source.addon_risks[0].addon_template_name == "coredns"
    assert [s.node.name for s in task.status.nodes.stages] == ["node-a-1", "node-a-2"]
    assert sim.state.counters[(PROJECT, CLUSTER)].by_auth[auth] == before + 1


async def test_passed_precheck_has_its_expiry_with_the_time_of_day(sim: Sim, client: CceClient) -> None:
    _load(sim, "standard", 1000)
    task_id = await _task_id(client, sim, "PreCheck")
    task = await TaskReader(client).get_precheck_task(sim.target(TOKEN), task_id)
    assert task.status.phase == "Success"
    scenario = sim.state.clusters[(PROJECT, CLUSTER)]
    assert task.status.expire_time is not None
    assert task.status.expire_time - scenario.epoch in {timedelta(seconds=s) for s in range(3600, 3700)}
    assert task.status.cluster.items == []


async def test_running_cluster_task_reports_progress_that_then_stops(sim: Sim, client: CceClient) -> None:
    _load(sim, "slow", 150)
    reader = TaskReader(client)
    task_id = await _task_id(client, sim, "Cluster")
    seen = []
    for second in (150, 360, 900):
        sim.state.clusters[(PROJECT, CLUSTER)].clock.set(second)
        task = await reader.get_upgrade_task(sim.target(AKSK), task_id)
        seen.append((task.status.phase, task.status.percent, task.status.completion_time))
    assert seen == [("Running", 25.0, None), ("Running", 63.0, None), ("Running", 63.0, None)]


async def test_snapshot_tasks_are_read_from_api_v3_1(sim: Sim, client: CceClient) -> None:
    _load(sim, "history", 22)  # the current upgrade's Snapshot task runs from 20 to 25
    snapshots = await TaskReader(client).list_snapshot_tasks(sim.target(AKSK))
    assert [(s.status.phase, s.status.percent) for s in snapshots.items] == [("Success", 100.0), ("Running", 40.0)]
    assert snapshots.items[1].spec.items[0].type == "master-backup"
    assert snapshots.status.latest_backup_time is not None
    assert any("/api/v3.1/" in e["path"] for e in sim.state.request_log)


async def test_details_can_be_set_through_the_control_route(sim: Sim, client: CceClient) -> None:
    _load(sim, "failing", 45)
    set_details(sim.state, PROJECT, CLUSTER, {"progress": {"upgrade-1": {"Cluster": [[30, 0], [40, 55]]}}})
    task_id = await _task_id(client, sim, "Cluster")
    task = await TaskReader(client).get_upgrade_task(sim.target(TOKEN), task_id)
    assert (task.status.phase, task.status.percent) == ("Failed", 55.0)
    assert task.status.completion_time is not None


async def test_unknown_task_id_is_not_found(sim: Sim, client: CceClient) -> None:
    _load(sim, "standard", 1000)
    with pytest.raises(NotFound):
        await TaskReader(client).get_upgrade_task(sim.target(TOKEN), "no-such-task")


def _fault(sim: Sim, **kwargs: object) -> None:
    sim.state.faults.setdefault((PROJECT, CLUSTER), FaultList()).replace([Fault.model_validate(kwargs)])


async def test_faults_reach_the_task_endpoints_as_they_reach_the_workflow_list(sim: Sim, client: CceClient) -> None:
    _load(sim, "slow", 400)
    reader = TaskReader(client)
    task_id = await _task_id(client, sim, "Cluster")
    precheck_id = await _task_id(client, sim, "PreCheck")
    _fault(sim, kind="status", status=503, times=2)  # healed by the client's retries
    task = await reader.get_upgrade_task(sim.target(TOKEN), task_id)
    assert task.status.percent == 63.0
    _fault(sim, kind="status", status=500)
    with pytest.raises(ServerError):
        await reader.get_upgrade_task(sim.target(TOKEN), task_id)
    _fault(sim, kind="malformed")
    with pytest.raises(ParseError, match="pre-check task"):
        await reader.get_precheck_task(sim.target(TOKEN), precheck_id)
    _fault(sim, kind="throttle", retryAfter=3600)
    with pytest.raises(Throttled):
        await reader.list_snapshot_tasks(sim.target(TOKEN))


async def test_wrong_key_is_refused_on_a_task_endpoint(sim: Sim, client: CceClient) -> None:
    _load(sim, "slow", 400)
    before = sim.requests_to()
    with pytest.raises(AuthenticationError):
        await TaskReader(client).list_snapshot_tasks(sim.target(AccessKeyCredentials(AK, "wrong-secret")))
    assert sim.requests_to() == before + 1  # refused once, not retried


@pytest.mark.parametrize(
    "task_id",
    [
        f"../../../../clusters/{CLUSTER}/operation/upgradeworkflows",
        "..",
        "a/b",
        "x?limit=1",
        "x#y",
        "%2e%2e",
        "a b",
        "line\nbreak",
        "",
        "é" * 10,
        "a" * 65,
    ],
)
async def test_a_task_id_that_is_not_an_id_is_never_put_into_a_path(sim: Sim, client: CceClient, task_id: str) -> None:
    """Task IDs come from CCE's answers: one that would add path segments or a query (or that a URL
    library normalises, like `..`) is refused before any request, for both task endpoints."""
    reader = TaskReader(client)
    before = len(sim.state.request_log)
    with pytest.raises(ParseError, match="not an ID"):
        await reader.get_precheck_task(sim.target(TOKEN), task_id)
    with pytest.raises(ParseError, match="not an ID"):
        await reader.get_upgrade_task(sim.target(TOKEN), task_id)
    assert len(sim.state.request_log) == before
