"""The simulator in this test's event loop, over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from ccupgrade.cce.client import CceClient, ClientConfig, ClusterTarget
from ccupgrade.cce.credentials import Credentials
from ccupgrade.cce.endpoints import Endpoint
from ccupgrade.simulator.app import Simulator, create_app
from ccupgrade.simulator.gatekeeper import AccessKeyEntry, CredentialsDocument, UserEntry

PROJECT = "0123456789abcdef0123456789abcdef"
CLUSTER = "b4b9e60f-8aa2-11ee-af09-0255ac10004f"
AK, SK = "AKTESTEXAMPLE0001", "sk-canary-5e3c0b1d"
TEMP_AK, TEMP_SK, SECURITY_TOKEN = "AKTEMPORARY0002", "sk-temp-canary", "st-canary-token"
USER, PASSWORD, DOMAIN = "ops-bot", "pw-canary-91c2", "example-domain"
STATIC_TOKEN = "static-token-canary"


@dataclass
class Sim:
    url: str
    state: Simulator

    def target(self, credentials: Credentials, cluster: str = CLUSTER, project: str = PROJECT) -> ClusterTarget:
        return ClusterTarget(Endpoint(self.url, self.url), project, cluster, credentials)

    def requests_to(self, cluster: str = CLUSTER, project: str = PROJECT) -> int:
        counters = self.state.counters.get((project, cluster))
        return counters.total if counters else 0


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    state = Simulator()
    state.gatekeeper.configure(
        CredentialsDocument(
            access_keys=[
                AccessKeyEntry(access_key=AK, secret_key=SK),
                AccessKeyEntry(access_key=TEMP_AK, secret_key=TEMP_SK, security_token=SECURITY_TOKEN),
            ],
            users=[UserEntry(username=USER, password=PASSWORD, domain_name=DOMAIN)],
            tokens=[STATIC_TOKEN],
        )
    )
    state.load(PROJECT, CLUSTER, "standard", paused=True)
    runner = web.AppRunner(create_app(state), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield Sim(f"http://127.0.0.1:{port}", state)
    await runner.cleanup()


FAST = ClientConfig(backoff_base=0.01, backoff_cap=0.05, total_timeout=2.0, connect_timeout=1.0)


@pytest.fixture
async def client() -> AsyncIterator[CceClient]:
    async with CceClient(settings=FAST) as cce:
        yield cce


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """`requests` (under the SDK) would send even loopback traffic to a proxy named in the environment."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def go_sdk() -> Path:
    """The Go program on the official Go SDK (built once, cached); skips where Go cannot build it."""
    from tests.support.gosdk import GoSdkUnavailable, ensure_program

    try:
        return ensure_program()
    except GoSdkUnavailable as exc:
        pytest.skip(str(exc))
