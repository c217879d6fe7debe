"""The simulator's between-upgrades endpoints read by both official SDKs, as CCE's answers are:
ShowClusterUpgradeInfo, ListPreCheckTasks (a pre-check run without a workflow, with deprecated-API
risks) and ListClusterUpgradePaths (per endpoint), signed with AK/SK."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkcce.v3 import (
    ListClusterUpgradePathsRequest,
    ListPreCheckTasksRequest,
    ShowClusterUpgradeInfoRequest,
    ShowPreCheckRequest,
)
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

from ccupgrade.simulator.task_endpoints import set_details
from ccupgrade.simulator.version_endpoints import set_paths
from tests.cce.conftest import AK, CLUSTER, PROJECT, SK, Sim
from tests.support.gosdk import run_call
from tests.support.python_sdk import sdk_client

pytestmark = [
    pytest.mark.usefixtures("no_proxy_env"),
    pytest.mark.filterwarnings("ignore:Unable to convert string to date"),
]

DETAILS: dict[str, Any] = {
    "versions": {
        "release": "v1.28.15",
        "patch": "r20",
        "suggestPatch": "r30",
        "targetVersions": ["v1.29.13-r0", "v1.30.10-r0"],
    },
    "prechecks": [
        {
            "uid": "console-check-1",
            "at": 0,
            "phase": "Failed",
            "targetVersion": "v1.29.13-r0",
            "check": {
                "cluster": [
                    {
                        "name": "DeprecatedAPICheck",
                        "kind": "Risk",
                        "level": "Warning",
                        "deprecatedApis": [
                            {"url": "/apis/policy/v1beta1/podsecuritypolicies", "userAgent": "helm/v3.8.0"},
                            {"url": "/apis/batch/v1beta1/cronjobs", "userAgent": "kubectl/v1.20.4"},
                        ],
                    }
                ]
            },
        }
    ],
}
PATHS = {"upgradePaths": [{"version": "v1.28", "platformVersion": "cce.3.0", "targetVersions": ["v1.29", "v1.30"]}]}


def _idle(sim: Sim) -> None:
    sim.state.load(PROJECT, CLUSTER, "idle", paused=True)
    set_details(sim.state, PROJECT, CLUSTER, DETAILS)
    set_paths(sim.state, PATHS)


async def test_python_sdk_reads_upgrade_info_paths_and_a_console_precheck(sim: Sim) -> None:
    _idle(sim)
    client = sdk_client(sim.url, PROJECT, AK, SK)
    info = await asyncio.to_thread(client.show_cluster_upgrade_info, ShowClusterUpgradeInfoRequest(cluster_id=CLUSTER))
    version = info.spec.version_info
    assert (version.release, version.patch, version.suggest_patch) == ("v1.28.15", "r20", "r30")
    assert version.target_versions == ["v1.29.13-r0", "v1.30.10-r0"]
    paths = await asyncio.to_thread(client.list_cluster_upgrade_paths, ListClusterUpgradePathsRequest())
    assert paths.status_code == 200
    assert [(p.version, p.platform_version, p.target_versions) for p in paths.upgrade_paths] == [
        ("v1.28", "cce.3.0", ["v1.29", "v1.30"])
    ]
    listed = await asyncio.to_thread(client.list_pre_check_tasks, ListPreCheckTasksRequest(cluster_id=CLUSTER))
    assert [(t.metadata.uid, t.status.phase) for t in listed.items] == [("console-check-1", "Failed")]
    item = listed.items[0].status.cluster_check_status.items_status[0]
    risks = item.risk_source.deprecated_api_risks
    assert [(r.url, r.user_agent) for r in risks] == [
        ("/apis/policy/v1beta1/podsecuritypolicies", "helm/v3.8.0"),
        ("/apis/batch/v1beta1/cronjobs", "kubectl/v1.20.4"),
    ]
    shown = await asyncio.to_thread(
        client.show_pre_check, ShowPreCheckRequest(cluster_id=CLUSTER, task_id="console-check-1")
    )
    assert shown.spec.target_version == "v1.29.13-r0"


async def test_the_upgrade_paths_are_authenticated(sim: Sim) -> None:
    _idle(sim)
    client = sdk_client(sim.url, PROJECT, AK, "not-the-secret")
    with pytest.raises(ClientRequestException) as caught:
        await asyncio.to_thread(client.list_cluster_upgrade_paths, ListClusterUpgradePathsRequest())
    assert caught.value.status_code == 401


@pytest.mark.timeout(900)  # a cold build downloads the SDK module first
async def test_go_sdk_reads_upgrade_info_paths_and_a_console_precheck(sim: Sim, go_sdk: Path) -> None:
    _idle(sim)
    code, info = await run_call(go_sdk, sim.url, "upgradeinfo")
    assert code == 0, info
    assert info["response"]["spec"]["versionInfo"] == DETAILS["versions"]
    code, paths = await run_call(go_sdk, sim.url, "upgradepaths")
    assert code == 0, paths
    assert paths["response"]["upgradePaths"] == PATHS["upgradePaths"]
    code, listed = await run_call(go_sdk, sim.url, "prechecks")
    assert code == 0, listed
    item = listed["response"]["items"][0]["status"]["clusterCheckStatus"]["itemsStatus"][0]
    assert item["riskSource"]["deprecatedAPIRisks"][0] == {
        "url": "/apis/policy/v1beta1/podsecuritypolicies",
        "userAgent": "helm/v3.8.0",
    }
