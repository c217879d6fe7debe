"""Everything kept per object, cluster, credential, Secret or Event goes when nothing refers to it:
one test per cache, each on fake time, each failing while that cache keeps what it was given."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from ccupgrade.app.main import OperatorConfig, build
from ccupgrade.cce.auth import host_header
from ccupgrade.cce.client import CceClient, ClusterTarget
from ccupgrade.cce.credentials import Credentials, PasswordCredentials, TokenCredentials
from ccupgrade.cce.endpoints import for_region
from ccupgrade.cce.errors import NotFound
from ccupgrade.cce.ratelimit import GateRegistry
from ccupgrade.cce.task_reader import TaskReader
from ccupgrade.cce.tokens import TokenCache
from ccupgrade.cce.transport import Answer, Transport
from ccupgrade.kube.io import KubeIO
from ccupgrade.models import PreCheckTask, RecordedEvent, UpgradeStatus
from ccupgrade.scheduler.details import DetailFetcher
from ccupgrade.scheduler.event_stage import LISTING_KEPT
from ccupgrade.scheduler.poller import Scheduler
from ccupgrade.scheduler.ports import NoObserver
from ccupgrade.scheduler.supervisor import Supervisor
from ccupgrade.scheduler.writes import Writer
from tests.support.scheduler_fakes import FakeApiServer, FakeCce, FakeSession, listing, workflows

pytestmark = pytest.mark.looptime


class Secrets:
    """Secret name -> credentials; records what the scheduler tells it to forget."""

    def __init__(self, credentials: dict[str, Credentials]) -> None:
        self.by_name = credentials
        self.forgotten: list[str] = []

    async def credentials(self, namespace: str, secret_name: str) -> Credentials:
        return self.by_name[secret_name]

    def forget(self, namespace: str, secret_name: str) -> None:
        self.forgotten.append(secret_name)


class Reader:
    """A TaskReader whose pre-checks have all ended."""

    async def get_precheck_task(self, target: ClusterTarget, task_id: str) -> PreCheckTask:
        return PreCheckTask.model_validate({"metadata": {"uid": task_id}, "status": {"phase": "Success"}})

    async def get_upgrade_task(self, target: ClusterTarget, task_id: str) -> None:
        raise NotFound("no such task", status=404)

    async def list_snapshot_tasks(self, target: ClusterTarget) -> None:
        raise NotFound("no such task", status=404)


async def _polled(scheduler: Scheduler, seconds: float) -> asyncio.Task[None]:
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(seconds)
    return task


async def test_a_clusters_runs_results_and_credential_state_go_with_its_last_object() -> None:
    cce = FakeCce()
    server = FakeApiServer()
    secrets = Secrets({f"s{i}": TokenCredentials(f"t{i}") for i in range(200)} | {"s": TokenCredentials("t")})
    details = DetailFetcher(cast(TaskReader, Reader()))
    loop = asyncio.get_running_loop()
    scheduler = Scheduler(client=cce, credentials=secrets, sink=server, clock=loop.time, details=details)
    for i in range(200):
        scheduler.upsert(server.apply(f"o{i}", clusterId=f"c{i}", credentialsSecretRef={"name": f"s{i}"}))
    scheduler.upsert(server.apply("kept", clusterId="k"))
    cce.held["c199"] = asyncio.Event()  # its poll is under way when its object goes
    task = await _polled(scheduler, 5)
    try:
        assert len(scheduler._peers._samples) == 200
        assert len(details) == 200  # one ended pre-check per cluster
        assert len(scheduler._credential_health) == 201
        for i in range(200):
            scheduler.remove(server.objects[f"o{i}"].ref)
        cce.held["c199"].set()
        await asyncio.sleep(60)
        kept = ("cce.ap-southeast-1.myhuaweicloud.com", "p", "k")
        assert set(scheduler._peers._samples) == {kept}  # 200 clusters' runs fed no one's ETA any more
        assert len(details) == 1
        assert len(scheduler._credential_health) == 1
        assert sorted(secrets.forgotten) == sorted(f"s{i}" for i in range(200))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_an_iam_token_goes_with_the_last_object_using_its_credentials() -> None:
    def answer(url: str) -> tuple[int, dict[str, str], bytes]:
        if url.endswith("/v3/auth/tokens"):
            expires = (datetime.now(UTC) + timedelta(hours=23)).isoformat()
            return 201, {"X-Subject-Token": "tok"}, json.dumps({"token": {"expires_at": expires}}).encode()
        if "/operation/upgradeworkflows" in url:
            return 200, {}, listing(60).encode()
        return 404, {}, b"{}"

    loop = asyncio.get_running_loop()
    client = CceClient(cast(Any, FakeSession(answer)), gates=GateRegistry(10.0, 10, clock=loop.time))
    server = FakeApiServer()
    secrets = Secrets({"pw": PasswordCredentials("u", "p", "d"), "other": PasswordCredentials("v", "q", "d")})
    scheduler = Scheduler(
        client=client, credentials=secrets, sink=server, clock=loop.time, tasks=TaskReader(client), caches=client
    )
    scheduler.upsert(server.apply("a", credentialsSecretRef={"name": "pw"}))
    scheduler.upsert(server.apply("b", clusterId="c2", credentialsSecretRef={"name": "pw"}))
    scheduler.upsert(server.apply("c", clusterId="c3", credentialsSecretRef={"name": "other"}))
    task = await _polled(scheduler, 5)
    try:
        assert len(client.tokens) == 2
        scheduler.remove(server.objects["a"].ref)
        assert len(client.tokens) == 2  # b still uses it
        scheduler.remove(server.objects["b"].ref)
        assert len(client.tokens) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class _SecretApi:
    def __init__(self) -> None:
        self.reads = 0

    async def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        self.reads += 1
        return {"data": {"token": base64.b64encode(b"t").decode()}}


async def test_cached_secrets_go_when_forgotten_and_when_expired() -> None:
    loop = asyncio.get_running_loop()
    api = _SecretApi()
    kube = KubeIO(cast(Any, api), secret_ttl=30, clock=loop.time)
    for i in range(100):
        await kube.credentials("ns", f"s{i}")
    await kube.credentials("ns", "s0")
    assert api.reads == 100  # cached
    kube.forget("ns", "s1")
    assert len(kube._secrets) == 99
    await asyncio.sleep(31)
    await kube.credentials("ns", "s0")  # the first read after the TTL sweeps what expired
    assert set(kube._secrets) == {("ns", "s0")}


async def test_the_restart_listing_of_events_is_dropped_after_it_has_served_the_first_sights() -> None:
    server = FakeApiServer()
    stamped = datetime.now(UTC)
    for i in range(50):
        watched = server.apply(f"o{i}")
        journal = [RecordedEvent(name=f"o{i}.00", type="Normal", reason="R", message="m", event_time=stamped)]
        server.events.append((watched.ref.name, journal[0]))
        server.objects[watched.ref.name] = watched.__class__(
            **{**watched.__dict__, "status": UpgradeStatus(event_journal=journal)}
        )
    supervisor = Supervisor()
    writer = Writer(server, NoObserver(), supervisor, max_concurrent=8)
    try:
        for watched in list(server.objects.values()):
            writer.store(watched)
        await asyncio.sleep(1)
        assert server.event_lists == 1
        assert writer._events._listed
        await asyncio.sleep(LISTING_KEPT)
        assert writer._events._listed == {}  # 200,000 names held 27 MB for the life of the process
        late = server.apply("late")  # a first sight long after the start lists again
        journal = [RecordedEvent(name="late.00", type="Normal", reason="R", message="m", event_time=stamped)]
        writer.store(replace(late, status=UpgradeStatus(event_journal=journal)))
        await asyncio.sleep(1)
        assert server.event_lists == 2
        assert [r.name for _, r in server.events].count("late.00") == 1
    finally:
        await supervisor.close()


class _Iam:
    """IAM through a Transport: each user's token expires when `lifetimes` says (hours from now)."""

    def __init__(self, lifetimes: dict[str, float]) -> None:
        self.lifetimes = lifetimes

    async def exchange(self, method: str, url: str, headers: dict[str, str], body: bytes | None = None) -> Answer:
        user = json.loads(body or b"{}")["auth"]["identity"]["password"]["user"]["name"]
        expires = datetime.now(UTC) + timedelta(hours=self.lifetimes[user])
        return Answer(
            201, {"x-subject-token": f"tok-{user}"}, json.dumps({"token": {"expires_at": expires.isoformat()}}).encode()
        )


async def test_expired_iam_tokens_go_when_a_token_is_fetched() -> None:
    tokens = TokenCache(cast(Transport, _Iam({"old": -1, "new": 23})), refresh_margin=timedelta(0))
    for user in ("old", "new"):
        await tokens.token("https://iam", "p", PasswordCredentials(user, "pw", "d"))
    assert len(tokens) == 1  # the expired one went when the other was fetched


async def test_a_task_id_two_clusters_report_never_shows_one_clusters_result_for_the_other() -> None:
    class Counting(Reader):
        calls: list[str] = []

        async def get_precheck_task(self, target: ClusterTarget, task_id: str) -> PreCheckTask:
            self.calls.append(target.cluster_id)
            return await super().get_precheck_task(target, task_id)

    details = DetailFetcher(cast(TaskReader, Counting()))
    listed = workflows(20).items  # an ended pre-check: fetched once per cluster, then kept
    for cluster in ("a", "b", "a", "b"):
        target = ClusterTarget(for_region("ap-southeast-1"), "p", cluster, TokenCredentials("t"))
        fetched = await details.fetch(target, listed)
        assert fetched.precheck
    assert Counting.calls == ["a", "b"]
    assert len(details) == 2


async def test_an_endpoints_gate_goes_with_its_last_object_but_not_before_its_hold_has_passed() -> None:
    def answer(url: str) -> tuple[int, dict[str, str], bytes]:
        return (200, {}, listing(60).encode()) if "/operation/upgradeworkflows" in url else (404, {}, b"{}")

    loop = asyncio.get_running_loop()
    client = CceClient(cast(Any, FakeSession(answer)), gates=GateRegistry(10.0, 10, clock=loop.time))
    server = FakeApiServer()
    secrets = Secrets({"s": TokenCredentials("t")})
    scheduler = Scheduler(
        client=client, credentials=secrets, sink=server, clock=loop.time, tasks=TaskReader(client), caches=client
    )
    regions = ["ap-southeast-1", "eu-west-101", "la-south-2"]
    for region in regions:
        scheduler.upsert(server.apply(region, region=region))
    task = await _polled(scheduler, 5)
    try:
        gates = client.transport.gates
        assert len(gates._gates) == 3
        gates(host_header(for_region("la-south-2").cce)).hold_for(30)  # a Retry-After under way
        for region in regions[1:]:
            scheduler.remove(server.objects[region].ref)
        assert len(gates._gates) == 2  # the held one stays while its hold lasts
        await asyncio.sleep(31)
        scheduler.upsert(server.apply("new", region="ap-southeast-3"))
        await asyncio.sleep(5)
        assert sorted(gates._gates) == sorted(
            host_header(for_region(r).cce) for r in ("ap-southeast-1", "ap-southeast-3")
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_operator_as_built_forgets_through_its_own_cce_client(tmp_path: Path) -> None:
    """The two tests above give the scheduler its client's caches as `build` does: this holds
    `build` to it (without it, gates and IAM tokens would be kept for ever, every test green)."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    op = build(OperatorConfig(kubeconfig=str(kubeconfig)))
    try:
        assert op.scheduler.caches is op.cce
    finally:
        await op.kube.api.close()
        op.api.close()
        await op.cce.close()
