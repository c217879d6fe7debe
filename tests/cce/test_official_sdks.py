"""The simulator against requests made the way the official SDKs make them.

The Go side is the real `huaweicloud-sdk-go-v3` (hack/gosdk, built once and cached): it signs
AK/SK requests over `user-agent;x-project-id;x-sdk-date`, without Host. The Python side signs
with `huaweicloudsdkcore`'s own credentials object, which adds Host, X-Project-Id and, for
temporary keys, X-Security-Token before signing.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import pytest
from huaweicloudsdkcce.v3 import ListUpgradeWorkFlowsRequest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.sdk_request import SdkRequest
from yarl import URL

from ccupgrade.cce import auth
from ccupgrade.cce.credentials import AccessKeyCredentials
from tests.cce.conftest import AK, CLUSTER, PROJECT, SECURITY_TOKEN, SK, TEMP_AK, TEMP_SK, Sim
from tests.support.python_sdk import sdk_client

WORKFLOWS = f"/api/v3/projects/{PROJECT}/clusters/{CLUSTER}/operation/upgradeworkflows"


async def _go_list(program: Path, sim: Sim, ak: str, sk: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
    """Runs the Go SDK's ListUpgradeWorkFlows against the simulator; its exit code and JSON line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUAWEICLOUD_SDK_") and "proxy" not in k.lower()}
    env.update(HUAWEICLOUD_SDK_AK=ak, HUAWEICLOUD_SDK_SK=sk, HUAWEICLOUD_SDK_PROJECT_ID=PROJECT)
    if token is not None:
        env["HUAWEICLOUD_SDK_SECURITY_TOKEN"] = token
    process = await asyncio.create_subprocess_exec(
        str(program),
        "-endpoint",
        sim.url,
        "-cluster",
        CLUSTER,
        "-timeout",
        "20s",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert stdout, f"no output from the Go SDK program; stderr: {stderr.decode()[-2000:]}"
    return int(process.returncode or 0), json.loads(stdout.decode().strip().splitlines()[-1])


# -- the real Go SDK --------------------------------------------------------------------------------


@pytest.mark.timeout(900)  # a cold build downloads the SDK module first
async def test_go_sdk_lists_workflows_with_aksk(sim: Sim, go_sdk: Path) -> None:
    code, result = await _go_list(go_sdk, sim, AK, SK)
    assert code == 0, result
    assert result["ok"]
    assert result["status"] == 200
    # The case the simulator used to refuse: signed without Host.
    assert result["sent"]["signedHeaders"] == "user-agent;x-project-id;x-sdk-date"
    expected = sim.state.clusters[(PROJECT, CLUSTER)].render_list()
    listed = result["response"]
    assert listed["kind"] == "List"
    assert [item["metadata"]["uid"] for item in listed["items"]] == [w["metadata"]["uid"] for w in expected["items"]]
    workflow = listed["items"][0]
    assert (workflow["spec"]["clusterVersion"], workflow["spec"]["targetVersion"]) == ("v1.28.15-r20", "v1.29.13-r0")
    assert workflow["status"]["phase"] == "Init"
    tasks = [p["taskType"] for p in workflow["status"]["pointStatuses"]]
    assert tasks == ["PreCheck", "Snapshot", "Cluster", "PostCheck"]
    assert [line["critical"] for line in workflow["status"]["lineStatuses"]] == [False, True, False]
    assert sim.state.counters[(PROJECT, CLUSTER)].by_auth["aksk"] == 1


@pytest.mark.timeout(900)
async def test_go_sdk_with_a_wrong_secret_key_is_refused(sim: Sim, go_sdk: Path) -> None:
    code, result = await _go_list(go_sdk, sim, AK, "not-the-secret")
    assert code == 1, result
    assert not result["ok"]
    assert (result["error"]["status"], result["error"]["code"]) == (401, "APIGW.0301")
    assert "verify aksk signature fail" in result["error"]["message"]
    assert sim.requests_to() == 1


@pytest.mark.timeout(900)
async def test_go_sdk_with_temporary_keys_signs_the_security_token(sim: Sim, go_sdk: Path) -> None:
    code, result = await _go_list(go_sdk, sim, TEMP_AK, TEMP_SK, SECURITY_TOKEN)
    assert code == 0, result
    assert result["ok"]
    assert "x-security-token" in result["sent"]["signedHeaders"].split(";")
    code, result = await _go_list(go_sdk, sim, TEMP_AK, TEMP_SK, "another-token")
    assert code == 1, result
    assert result["error"]["status"] == 401


# -- signed the Python SDK's way --------------------------------------------------------------------


def _python_sdk_signed(
    sim: Sim, ak: str, sk: str, query: list[tuple[str, Any]] | None = None, token: str | None = None
) -> SdkRequest:
    """A GET signed by `huaweicloudsdkcore`'s BasicCredentials, exactly as its clients sign one."""
    credentials = BasicCredentials(ak, sk, PROJECT)
    if token is not None:
        credentials = credentials.with_security_token(token)
    parts = urlsplit(sim.url)
    request = SdkRequest(
        method="GET",
        schema=parts.scheme,
        host=parts.netloc,
        resource_path=WORKFLOWS,
        query_params=list(query or []),
        header_params={"Content-Type": "application/json", "User-Agent": "huaweicloud-usdk-python/3.0"},
        body="",
    )
    signed: SdkRequest = credentials.sign_request(request)
    return signed


async def _send(sim: Sim, request: SdkRequest, raw_query: str | None = None) -> tuple[int, dict[str, Any]]:
    query = raw_query if raw_query is not None else urlsplit(request.uri).query
    url = URL(f"{sim.url}{request.resource_path}" + (f"?{query}" if query else ""), encoded=True)
    headers = {k: v for k, v in request.header_params.items() if k.lower() != "host"}  # aiohttp sends Host itself
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, await response.json()


async def test_python_sdk_signature_with_host_is_accepted(sim: Sim) -> None:
    request = _python_sdk_signed(sim, AK, SK)
    assert (
        "SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date," in request.header_params["Authorization"]
    )
    status, body = await _send(sim, request)
    assert status == 200, body
    assert len(body["items"]) == 1


async def test_python_sdk_temporary_keys_and_wrong_secret(sim: Sim) -> None:
    status, body = await _send(sim, _python_sdk_signed(sim, TEMP_AK, TEMP_SK, token=SECURITY_TOKEN))
    assert status == 200, body
    status, body = await _send(sim, _python_sdk_signed(sim, AK, "not-the-secret"))
    assert (status, body["error_code"]) == (401, "APIGW.0301")


ODD_QUERY = [("limit", "10"), ("name", "a b+c/d%e&f=g"), ("empty", ""), ("ünï", "çödé"), ("limit", "2")]


async def test_query_parameters_are_part_of_the_signature(sim: Sim) -> None:
    """CCE ignores query parameters on this path, but its gateway checks them as signed: decoded once."""
    request = _python_sdk_signed(sim, AK, SK, ODD_QUERY)
    status, body = await _send(sim, request)  # the Python SDK's own percent-encoding
    assert status == 200, body
    status, body = await _send(sim, request, urlencode(ODD_QUERY))  # form-encoded (space as '+'), as Go's net/url
    assert status == 200, body
    tampered = urlencode([*ODD_QUERY[:-1], ("limit", "3")])
    status, body = await _send(sim, request, tampered)
    assert (status, body["error_code"]) == (401, "APIGW.0301")
    assert "verify aksk signature fail" in body["error_msg"]


async def test_operator_client_signs_an_encoded_query_once(sim: Sim) -> None:
    """The operator's own signer (cce/auth.py) decodes the URL's query once before signing, as both SDKs do."""
    url = f"{sim.url}{WORKFLOWS}?{urlencode(ODD_QUERY)}"
    headers = auth.signed_headers(AccessKeyCredentials(AK, SK), PROJECT, "GET", url)
    async with aiohttp.ClientSession() as session, session.get(URL(url, encoded=True), headers=headers) as response:
        assert response.status == 200, await response.text()


# -- the official Python SDK's CCE client (huaweicloudsdkcce) ---------------------------------------
# The SDK has no IAM-token login: its maintainers chose AK/SK only (huaweicloud-sdk-go-v3#48,
# huaweicloud-sdk-java-v3#37). Its token-based form is temporary AK/SK with a security token.


@pytest.mark.usefixtures("no_proxy_env")
@pytest.mark.filterwarnings("ignore:Unable to convert string to date")  # the SDK's own date parsing
@pytest.mark.parametrize(
    ("ak", "sk", "token"), [(AK, SK, None), (TEMP_AK, TEMP_SK, SECURITY_TOKEN)], ids=["aksk", "temporary-aksk"]
)
async def test_python_cce_client_lists_workflows(sim: Sim, ak: str, sk: str, token: str | None) -> None:
    client = sdk_client(sim.url, PROJECT, ak, sk, token)
    response = await asyncio.to_thread(client.list_upgrade_work_flows, ListUpgradeWorkFlowsRequest(cluster_id=CLUSTER))
    assert response.status_code == 200
    expected = sim.state.clusters[(PROJECT, CLUSTER)].render_list()["items"]
    assert [item.metadata.uid for item in response.items] == [w["metadata"]["uid"] for w in expected]
    workflow = response.items[0]
    assert (workflow.spec.cluster_version, workflow.spec.target_version) == ("v1.28.15-r20", "v1.29.13-r0")
    assert [p.task_type for p in workflow.status.point_statuses] == ["PreCheck", "Snapshot", "Cluster", "PostCheck"]
    # The SDK reads `critical` as a bool: "false" (a string) would come out True.
    assert [line.critical for line in workflow.status.line_statuses] == [False, True, False]
    assert sim.state.counters[(PROJECT, CLUSTER)].by_auth["aksk"] == 1


@pytest.mark.usefixtures("no_proxy_env")
async def test_python_cce_client_with_a_wrong_secret_key_is_refused(sim: Sim) -> None:
    client = sdk_client(sim.url, PROJECT, AK, "not-the-secret")
    with pytest.raises(ClientRequestException) as caught:
        await asyncio.to_thread(client.list_upgrade_work_flows, ListUpgradeWorkFlowsRequest(cluster_id=CLUSTER))
    assert (caught.value.status_code, caught.value.error_code) == (401, "APIGW.0301")
    assert sim.requests_to() == 1
