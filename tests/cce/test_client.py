"""The CCE client against the simulator over real HTTP: every auth mode, every fault, retries,
Retry-After and the endpoint allow-list."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from ccupgrade.cce import auth
from ccupgrade.cce.client import CceClient, ClusterTarget
from ccupgrade.cce.credentials import AccessKeyCredentials, PasswordCredentials, TokenCredentials
from ccupgrade.cce.endpoints import AllowList, Endpoint, for_region
from ccupgrade.cce.errors import (
    AuthenticationError,
    EndpointNotAllowed,
    NotFound,
    ParseError,
    PermissionDenied,
    ResponseError,
    ServerError,
    Throttled,
    TokenExpired,
    TransientError,
    TransportError,
)
from ccupgrade.cce.transport import Answer
from ccupgrade.simulator.faults import Fault, FaultList
from ccupgrade.simulator.scenario import load_scenario
from tests.cce.conftest import (
    AK,
    CLUSTER,
    DOMAIN,
    FAST,
    PASSWORD,
    PROJECT,
    SECURITY_TOKEN,
    SK,
    STATIC_TOKEN,
    TEMP_AK,
    TEMP_SK,
    USER,
    Sim,
)

TOKEN = TokenCredentials(STATIC_TOKEN)
AKSK = AccessKeyCredentials(AK, SK)


def _fault(sim: Sim, **kwargs: object) -> None:
    sim.state.faults.setdefault((PROJECT, CLUSTER), FaultList()).replace([Fault.model_validate(kwargs)])


# -- authentication -------------------------------------------------------------------------------


async def test_token_auth_reads_the_workflow(sim: Sim, client: CceClient) -> None:
    result = await client.list_upgrade_workflows(sim.target(TOKEN))
    assert [w.spec.target_version for w in result.items] == ["v1.29.13-r0"]
    assert result.items[0].status.phase == "Init"
    assert sim.state.counters[(PROJECT, CLUSTER)].by_auth["token"] == 1


async def test_aksk_signature_is_verified_by_the_simulator(sim: Sim, client: CceClient) -> None:
    result = await client.list_upgrade_workflows(sim.target(AKSK))
    assert len(result.items) == 1
    assert sim.state.counters[(PROJECT, CLUSTER)].by_auth["aksk"] == 1


async def test_temporary_keys_send_and_sign_the_security_token(sim: Sim, client: CceClient) -> None:
    temporary = AccessKeyCredentials(TEMP_AK, TEMP_SK, SECURITY_TOKEN)
    assert len((await client.list_upgrade_workflows(sim.target(temporary))).items) == 1
    with pytest.raises(AuthenticationError, match="security token|unsigned"):
        await client.list_upgrade_workflows(sim.target(AccessKeyCredentials(TEMP_AK, TEMP_SK)))


async def test_wrong_secret_key_is_refused_once_and_not_retried(sim: Sim, client: CceClient) -> None:
    with pytest.raises(AuthenticationError) as caught:
        await client.list_upgrade_workflows(sim.target(AccessKeyCredentials(AK, "wrong-secret")))
    assert caught.value.status == 401
    assert caught.value.code == "APIGW.0301"
    assert "verify aksk signature fail" in str(caught.value)
    assert sim.requests_to() == 1  # five failures would lock the key: never retry in a loop


@pytest.mark.parametrize("skew", [timedelta(minutes=16), timedelta(minutes=-16)])
async def test_clock_skew_over_fifteen_minutes_is_refused(sim: Sim, skew: timedelta) -> None:
    url = f"{sim.url}{sim.target(AKSK).workflows_path}"
    headers = auth.signed_headers(AKSK, PROJECT, "GET", url, now=datetime.now(UTC) + skew)
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        assert response.status == 401
        assert "clock skew" in (await response.json())["error_msg"]
    ok = auth.signed_headers(AKSK, PROJECT, "GET", url, now=datetime.now(UTC) + timedelta(minutes=14))
    async with aiohttp.ClientSession() as session, session.get(url, headers=ok) as response:
        assert response.status == 200


async def test_tampered_or_unsigned_headers_are_refused(sim: Sim) -> None:
    url = f"{sim.url}{sim.target(AKSK).workflows_path}"
    headers = auth.signed_headers(AKSK, PROJECT, "GET", url)
    tampered = {**headers, "X-Project-Id": "f" * 32}
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=tampered) as response:
            assert response.status == 401
        unsigned = dict(headers)
        unsigned["Authorization"] = unsigned["Authorization"].replace(";x-sdk-date", "")
        async with session.get(url, headers=unsigned) as response:
            assert response.status == 401
            assert "unsigned x-sdk-date" in (await response.json())["error_msg"]
        unlisted = dict(headers)  # Host is optional, but a signature made over it must list it
        unlisted["Authorization"] = unlisted["Authorization"].replace("host;", "")
        async with session.get(url, headers=unlisted) as response:
            assert response.status == 401
            assert "verify aksk signature fail" in (await response.json())["error_msg"]


async def test_password_auth_fetches_caches_and_renews_the_token_once(sim: Sim, client: CceClient) -> None:
    target = sim.target(PasswordCredentials(USER, PASSWORD, DOMAIN))
    await client.list_upgrade_workflows(target)
    await client.list_upgrade_workflows(target)
    issued = [t for t in sim.state.gatekeeper.tokens.values() if t.expires_at is not None]
    assert len(issued) == 1, "the token is cached, not fetched per request"
    assert issued[0].project_id == PROJECT

    assert sim.state.gatekeeper.expire_issued_tokens() == 1
    await client.list_upgrade_workflows(target)  # 401 APIGW.0307, one renewal, success
    assert len([t for t in sim.state.gatekeeper.tokens.values() if t.expires_at is not None]) == 2
    statuses = sim.state.counters[(PROJECT, CLUSTER)].by_status
    assert statuses["401"] == 1
    assert statuses["200"] == 3


async def test_expired_token_that_cannot_be_renewed_raises(sim: Sim, client: CceClient) -> None:
    sim.state.gatekeeper.tokens["short-lived"] = replace(
        sim.state.gatekeeper.tokens[STATIC_TOKEN], expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    with pytest.raises(TokenExpired) as caught:
        await client.list_upgrade_workflows(sim.target(TokenCredentials("short-lived")))
    assert caught.value.code == "APIGW.0307"
    assert sim.requests_to() == 1


async def test_wrong_password_is_a_clear_authentication_error(sim: Sim, client: CceClient) -> None:
    with pytest.raises(AuthenticationError, match="IAM refused the user name, password or domain"):
        await client.list_upgrade_workflows(sim.target(PasswordCredentials(USER, "nope", DOMAIN)))
    assert sim.requests_to() == 0


async def test_unknown_cluster_and_wrong_project(sim: Sim, client: CceClient) -> None:
    with pytest.raises(NotFound) as caught:
        await client.list_upgrade_workflows(sim.target(TOKEN, cluster="gone"))
    assert caught.value.code == "CCE.01404001"
    scoped = PasswordCredentials(USER, PASSWORD, DOMAIN)
    await client.list_upgrade_workflows(sim.target(scoped))
    token = next(t for t, v in sim.state.gatekeeper.tokens.items() if v.project_id == PROJECT)
    with pytest.raises(PermissionDenied):
        await client.list_upgrade_workflows(sim.target(TokenCredentials(token), project="f" * 32))


# -- faults, retries and Retry-After -----------------------------------------------------------


@pytest.mark.parametrize(("status", "shape"), [(500, "camel"), (502, "snake"), (503, "camel")])
async def test_server_errors_are_retried_then_succeed(sim: Sim, client: CceClient, status: int, shape: str) -> None:
    _fault(sim, kind="status", status=status, shape=shape, times=2)
    result = await client.list_upgrade_workflows(sim.target(TOKEN))
    assert len(result.items) == 1
    assert sim.requests_to() == 3


@pytest.mark.parametrize(("shape", "code_key"), [("camel", "errorCode"), ("snake", "error_code")])
async def test_persistent_server_error_gives_up_after_bounded_retries(
    sim: Sim, client: CceClient, shape: str, code_key: str
) -> None:
    _fault(sim, kind="status", status=503, shape=shape, code="CCE.01500099", message="backend down")
    with pytest.raises(ServerError) as caught:
        await client.list_upgrade_workflows(sim.target(TOKEN))
    assert isinstance(caught.value, TransientError)
    assert caught.value.code == "CCE.01500099"
    assert "backend down" in str(caught.value)
    assert caught.value.request_id
    assert sim.requests_to() == 1 + FAST.max_retries


async def test_retry_after_is_honoured(sim: Sim, client: CceClient) -> None:
    _fault(sim, kind="throttle", retryAfter=0.6, times=1)
    started = time.monotonic()
    await client.list_upgrade_workflows(sim.target(TOKEN))
    assert time.monotonic() - started >= 0.6
    log = [e for e in sim.state.request_log if e["cluster"] == CLUSTER]
    assert [e["status"] for e in log] == [429, 200]
    assert log[1]["t"] - log[0]["t"] >= 0.55


async def test_retry_after_holds_every_caller_of_the_endpoint(sim: Sim, client: CceClient) -> None:
    other = "c0ffee00-0000-0000-0000-000000000001"
    sim.state.load(PROJECT, other, "standard")
    _fault(sim, kind="throttle", retryAfter=0.8, times=1)
    await client.list_upgrade_workflows(sim.target(TOKEN))
    throttled_at = next(e["t"] for e in sim.state.request_log if e["status"] == 429)
    # The gate was closed for the whole endpoint: another cluster's call after it waited too.
    _fault(sim, kind="throttle", retryAfter=0.8, times=1)
    started = time.monotonic()
    with pytest.raises(AssertionError):  # sanity: the fault is on CLUSTER only
        assert sim.requests_to(cluster=other) > 0
    await client.list_upgrade_workflows(sim.target(TOKEN))
    await client.list_upgrade_workflows(sim.target(TOKEN, cluster=other))
    assert time.monotonic() - started >= 0.8
    other_at = next(e["t"] for e in sim.state.request_log if e["cluster"] == other)
    assert other_at - throttled_at >= 0.8


async def test_long_retry_after_is_raised_not_slept(sim: Sim, client: CceClient) -> None:
    _fault(sim, kind="throttle", retryAfter=3600)
    with pytest.raises(Throttled) as caught:
        await client.list_upgrade_workflows(sim.target(TOKEN))
    assert caught.value.retry_after == 3600
    assert caught.value.code == "APIGW.0308"
    assert sim.requests_to() == 1


async def test_slow_response_times_out(sim: Sim) -> None:
    _fault(sim, kind="delay", seconds=1.5)
    async with CceClient(settings=replace(FAST, total_timeout=0.3, max_retries=1)) as client:
        with pytest.raises(TransportError, match="did not answer within 0.3s"):
            await client.list_upgrade_workflows(sim.target(TOKEN))
    assert sim.requests_to() == 2


async def test_connection_refused() -> None:
    async with CceClient(settings=replace(FAST, max_retries=1)) as client:
        target = ClusterTarget(Endpoint("http://127.0.0.1:9", "http://127.0.0.1:9"), PROJECT, CLUSTER, TOKEN)
        with pytest.raises(TransportError, match="cannot connect"):
            await client.list_upgrade_workflows(target)


async def test_dropped_connection(sim: Sim, client: CceClient) -> None:
    _fault(sim, kind="drop")
    with pytest.raises(TransportError, match="dropped|cannot connect|HTTP error"):
        await client.list_upgrade_workflows(sim.target(TOKEN))
    # aiohttp itself resends an idempotent request once when a kept-alive connection drops, so
    # each of our attempts may be two on the wire; still bounded.
    assert 1 + FAST.max_retries <= sim.requests_to() <= 2 * (1 + FAST.max_retries)


async def test_malformed_json(sim: Sim, client: CceClient) -> None:
    _fault(sim, kind="malformed")
    with pytest.raises(ParseError, match="not valid JSON"):
        await client.list_upgrade_workflows(sim.target(TOKEN))


async def test_wrong_content_type_is_not_retried_within_a_poll(sim: Sim, client: CceClient) -> None:
    _fault(sim, kind="contentType", times=1)
    with pytest.raises(ResponseError, match="text/html") as caught:
        await client.list_upgrade_workflows(sim.target(TOKEN))
    # transient, only not retried within this poll
    assert isinstance(caught.value, TransientError), "transient for the status (the last good one stays)"
    assert sim.requests_to() == 1, "one request, not 1 + max_retries"
    assert len((await client.list_upgrade_workflows(sim.target(TOKEN))).items) == 1  # the next poll works


async def test_oversized_body_is_cut_off_and_not_retried(sim: Sim) -> None:
    _fault(sim, kind="oversized", size=300_000)
    async with CceClient(settings=replace(FAST, max_body_bytes=100_000)) as client:
        assert client.settings.max_retries > 0
        with pytest.raises(ResponseError, match="exceeds the 100000-byte limit"):
            await client.list_upgrade_workflows(sim.target(TOKEN))
    assert sim.requests_to() == 1


@pytest.mark.parametrize(
    "expires_at", ["2099-01-01T00:00:00.000000", "2099-01-01T00:00:00.000000Z", "2099-01-01T08:00:00+08:00"]
)
async def test_iam_expires_at_with_or_without_a_zone(expires_at: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """IAM's expires_at read as UTC when it has no zone: the cached token is then compared with an
    aware clock at every poll, which must not raise."""
    async with CceClient(settings=FAST) as client:
        answers = {
            "POST": Answer(
                201,
                {"x-subject-token": "issued", "content-type": "application/json"},
                json.dumps({"token": {"expires_at": expires_at}}).encode(),
            ),
            "GET": Answer(200, {"content-type": "application/json"}, b'{"kind": "List", "items": []}'),
        }
        calls: list[str] = []

        async def exchange(method: str, url: str, headers: dict[str, str], body: bytes | None = None) -> Answer:
            calls.append(method)
            return answers[method]

        monkeypatch.setattr(client.transport, "exchange", exchange)
        target = ClusterTarget(
            Endpoint("http://iam.test", "http://iam.test"),
            PROJECT,
            CLUSTER,
            PasswordCredentials(USER, PASSWORD, DOMAIN),
        )
        await client.list_upgrade_workflows(target)
        await client.list_upgrade_workflows(target)  # the cached token's expiry is compared with now
    assert calls == ["POST", "GET", "GET"], "one token, cached"


async def test_single_object_items_quirk(sim: Sim, client: CceClient) -> None:
    _fault(sim, kind="singleObject")
    result = await client.list_upgrade_workflows(sim.target(TOKEN))
    assert len(result.items) == 1


async def test_scenario_time_moves_the_workflow(sim: Sim, client: CceClient) -> None:
    clock = sim.state.clusters[(PROJECT, CLUSTER)].clock
    clock.set(31)
    workflow = (await client.list_upgrade_workflows(sim.target(TOKEN))).items[0]
    assert workflow.status.phase == "Running"
    statuses = {p.task_type: p.status for p in workflow.status.point_statuses}
    assert statuses == {"PreCheck": "Success", "Snapshot": "Success", "Cluster": "Running", "PostCheck": "Init"}
    cluster_task = next(p for p in workflow.status.point_statuses if p.task_type == "Cluster")
    assert cluster_task.start_time is not None
    assert workflow.metadata.creation_timestamp is not None
    assert cluster_task.start_time.second == (workflow.metadata.creation_timestamp + timedelta(seconds=30)).second
    clock.set(60)
    workflow = (await client.list_upgrade_workflows(sim.target(TOKEN))).items[0]
    assert workflow.status.phase == "Success"
    assert load_scenario("standard").workflows[0].steps[-1].phase == "Success"


# -- endpoints -----------------------------------------------------------------------------------


def test_region_endpoints() -> None:
    assert for_region("ap-southeast-1") == Endpoint(
        "https://cce.ap-southeast-1.myhuaweicloud.com", "https://iam.ap-southeast-1.myhuaweicloud.com"
    )
    assert for_region("eu-west-101").cce == "https://cce.eu-west-101.myhuaweicloud.eu"


@pytest.mark.parametrize(
    ("patterns", "url", "allowed"),
    [
        ("", "http://127.0.0.1:8443", False),
        ("http://127.0.0.1:*", "http://127.0.0.1:8443", True),
        ("http://127.0.0.1:*", "http://127.0.0.2:8443", False),
        ("http://127.0.0.1:*", "https://127.0.0.1:8443", False),
        ("https://*.cce.internal:443", "https://eu.cce.internal", True),
        ("https://*.cce.internal:443", "https://evil.example/cce.internal", False),
        ("https://cce.corp:443, http://localhost:*", "http://LOCALHOST:80/", True),
    ],
)
def test_allow_list(patterns: str, url: str, allowed: bool) -> None:
    allow = AllowList.parse(patterns)
    if allowed:
        assert allow.custom(url).cce == url.rstrip("/")
    else:
        with pytest.raises(EndpointNotAllowed, match="allow-list|not an http|nothing else"):
            allow.custom(url)


@pytest.mark.parametrize("url", ["ftp://x", "http://user:pw@host", "http://host/path", "http://host?q=1", "nohost"])
def test_endpoint_must_be_a_bare_origin(url: str) -> None:
    with pytest.raises(EndpointNotAllowed):
        AllowList.parse("*").custom(url)


# -- secrets never leak -----------------------------------------------------------------------


async def test_no_credential_in_any_repr_or_error(sim: Sim, client: CceClient) -> None:
    secrets_ = [SK, PASSWORD, STATIC_TOKEN, TEMP_SK, SECURITY_TOKEN, "wrong-secret"]
    texts = [
        repr(AKSK),
        repr(TOKEN),
        repr(PasswordCredentials(USER, PASSWORD, DOMAIN)),
        repr(AccessKeyCredentials(TEMP_AK, TEMP_SK, SECURITY_TOKEN)),
        repr(sim.target(AKSK)),
    ]
    for credentials in (AccessKeyCredentials(AK, "wrong-secret"), PasswordCredentials(USER, "wrong-secret", DOMAIN)):
        with pytest.raises(AuthenticationError) as caught:
            await client.list_upgrade_workflows(sim.target(credentials))
        texts += [str(caught.value), repr(caught.value)]
    for text in texts:
        for secret in secrets_:
            assert secret not in text
