"""The simulator's task detail endpoints read by both official SDKs, as CCE's answers are: the Python
SDK's CceClient (huaweicloudsdkcce) and the Go SDK (hack/gosdk, `-call`), signed with AK/SK."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkcce.v3 import (
    ListClusterMasterSnapshotTasksRequest,
    ListPreCheckTasksRequest,
    ListUpgradeClusterTasksRequest,
    ListUpgradeWorkFlowsRequest,
    ShowClusterUpgradeInfoRequest,
    ShowPreCheckRequest,
    ShowUpgradeClusterTaskRequest,
)
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

from tests.cce.conftest import AK, CLUSTER, PROJECT, SK, Sim
from tests.support.gosdk import run_call
from tests.support.python_sdk import sdk_client

pytestmark = [
    pytest.mark.usefixtures("no_proxy_env"),
    pytest.mark.filterwarnings("ignore:Unable to convert string to date"),  # the SDK's own date parsing
]


def _at(sim: Sim, scenario: str, second: float) -> None:
    sim.state.load(PROJECT, CLUSTER, scenario, paused=True).clock.set(second)


async def _point_id(client: Any, task: str) -> str:
    listed = await asyncio.to_thread(client.list_upgrade_work_flows, ListUpgradeWorkFlowsRequest(cluster_id=CLUSTER))
    newest = listed.items[-1]
    found: str = next(p.task_id for p in newest.status.point_statuses if p.task_type == task)
    return found


async def test_python_sdk_reads_a_failed_precheck(sim: Sim) -> None:
    _at(sim, "precheck-failed", 20)
    client = sdk_client(sim.url, PROJECT, AK, SK)
    task_id = await _point_id(client, "PreCheck")
    shown = await asyncio.to_thread(client.show_pre_check, ShowPreCheckRequest(cluster_id=CLUSTER, task_id=task_id))
    assert shown.status_code == 200
    assert (shown.kind, shown.metadata.uid, shown.status.phase) == ("PreCheckTask", task_id, "Failed")
    cluster_items = shown.status.cluster_check_status.items_status
    first = cluster_items[0]
    assert (first.name, first.kind, first.level, first.group) == (
        "ClusterResourceQuotaCheck",
        "Exception",
        "Fatal",
        "LimitCheck",
    )
    addon = shown.status.addon_check_status.items_status[0]
    assert addon.risk_source.addon_risks[0].addon_template_name == "coredns"
    nodes = shown.status.node_check_status.node_stage_status
    assert [n.node_info.name for n in nodes] == ["node-a-1", "node-a-2"]
    listed = await asyncio.to_thread(client.list_pre_check_tasks, ListPreCheckTasksRequest(cluster_id=CLUSTER))
    assert [t.metadata.uid for t in listed.items] == [task_id]


async def test_python_sdk_reads_upgrade_tasks_info_and_snapshots(sim: Sim) -> None:
    _at(sim, "slow", 360)
    client = sdk_client(sim.url, PROJECT, AK, SK)
    task_id = await _point_id(client, "Cluster")
    request = ShowUpgradeClusterTaskRequest(cluster_id=CLUSTER, task_id=task_id)
    shown = await asyncio.to_thread(client.show_upgrade_cluster_task, request)
    assert (shown.status.phase, shown.status.progress) == ("Running", "63")
    assert shown.spec.target_version == "v1.29.13-r0"
    listed = await asyncio.to_thread(
        client.list_upgrade_cluster_tasks, ListUpgradeClusterTasksRequest(cluster_id=CLUSTER)
    )
    assert [(t.status.phase, t.status.progress) for t in listed.items] == [("Success", "100"), ("Running", "63")]
    info = await asyncio.to_thread(client.show_cluster_upgrade_info, ShowClusterUpgradeInfoRequest(cluster_id=CLUSTER))
    assert info.spec.version_info.release == "v1.28.15"  # the earlier upgrade to it succeeded
    assert info.spec.version_info.target_versions == ["v1.29.13-r0"]
    assert (info.status.phase, info.status.progress) == ("Running", "63")
    snaps = await asyncio.to_thread(
        client.list_cluster_master_snapshot_tasks, ListClusterMasterSnapshotTasksRequest(cluster_id=CLUSTER)
    )
    assert [(s.status.phase, s.spec.items[0].type) for s in snaps.items] == [
        ("Success", "master-backup"),
        ("Success", "master-backup"),
    ]
    assert snaps.status.latest_backup_time


async def test_python_sdk_unknown_task_is_a_404_in_ccees_shape(sim: Sim) -> None:
    _at(sim, "slow", 360)
    client = sdk_client(sim.url, PROJECT, AK, SK)
    with pytest.raises(ClientRequestException) as caught:
        await asyncio.to_thread(client.show_pre_check, ShowPreCheckRequest(cluster_id=CLUSTER, task_id="nope"))
    assert caught.value.status_code == 404
    assert caught.value.error_code == "CCE.01404010"


@pytest.mark.timeout(900)  # a cold build downloads the SDK module first
async def test_go_sdk_reads_every_task_endpoint(sim: Sim, go_sdk: Path) -> None:
    _at(sim, "precheck-failed", 20)
    code, workflows = await run_call(go_sdk, sim.url, "workflows")
    assert code == 0, workflows
    points = workflows["response"]["items"][0]["status"]["pointStatuses"]
    precheck_id = next(p["taskID"] for p in points if p["taskType"] == "PreCheck")
    code, shown = await run_call(go_sdk, sim.url, "precheck", precheck_id)
    assert code == 0, shown
    status = shown["response"]["status"]
    assert status["phase"] == "Failed"
    assert status["clusterCheckStatus"]["itemsStatus"][0]["kind"] == "Exception"
    assert status["nodeCheckStatus"]["nodeStageStatus"][0]["nodeInfo"]["name"] == "node-a-1"
    code, listed = await run_call(go_sdk, sim.url, "prechecks")
    assert code == 0, listed
    assert [t["metadata"]["uid"] for t in listed["response"]["items"]] == [precheck_id]

    _at(sim, "slow", 360)
    code, workflows = await run_call(go_sdk, sim.url, "workflows")
    points = workflows["response"]["items"][-1]["status"]["pointStatuses"]
    cluster_id = next(p["taskID"] for p in points if p["taskType"] == "Cluster")
    code, upgrade = await run_call(go_sdk, sim.url, "upgrade", cluster_id)
    assert code == 0, upgrade
    assert upgrade["response"]["status"] == {"phase": "Running", "progress": "63"}
    code, upgrades = await run_call(go_sdk, sim.url, "upgrades")
    assert [t["status"]["progress"] for t in upgrades["response"]["items"]] == ["100", "63"]
    code, info = await run_call(go_sdk, sim.url, "upgradeinfo")
    assert code == 0, info
    assert info["response"]["spec"]["versionInfo"]["release"] == "v1.28.15"
    code, snapshots = await run_call(go_sdk, sim.url, "snapshots")
    assert code == 0, snapshots
    assert len(snapshots["response"]["items"]) == 2
    code, missing = await run_call(go_sdk, sim.url, "upgrade", "nope")
    assert code == 1
    assert (missing["error"]["status"], missing["error"]["code"]) == (404, "CCE.01404010")
