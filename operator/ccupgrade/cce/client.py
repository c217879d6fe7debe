"""The CCE client: authenticated GETs with bounded retries and typed errors, on one transport.

Retries cover what can heal by itself (retry.py); an unusable answer (wrong Content-Type,
oversized body) waits for the next poll instead. Authentication failures are never retried in a
loop: five bad AK/SK attempts lock the key for five minutes. The one exception is an expired IAM
token obtained from a password, which is renewed once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta

import aiohttp

from ccupgrade.cce import auth
from ccupgrade.cce.credentials import AccessKeyCredentials, Credentials, PasswordCredentials, TokenCredentials
from ccupgrade.cce.endpoints import Endpoint
from ccupgrade.cce.errors import EndpointHeld, ResponseError, TokenExpired, TransientError, classify
from ccupgrade.cce.parser import parse_workflow_list
from ccupgrade.cce.ratelimit import GateRegistry
from ccupgrade.cce.retry import RetryPolicy
from ccupgrade.cce.tokens import TokenCache, TokenKey
from ccupgrade.cce.transport import ResponseObserver, Transport, require_json
from ccupgrade.models import UpgradeWorkflowList

log = logging.getLogger("ccupgrade.cce")


@dataclass(frozen=True)
class ClusterTarget:
    """Everything needed to read one cluster's workflows."""

    endpoint: Endpoint
    project_id: str
    cluster_id: str
    credentials: Credentials = field(repr=False)

    @property
    def workflows_path(self) -> str:
        """The path of the cluster's upgrade-workflow list."""
        return f"/api/v3/projects/{self.project_id}/clusters/{self.cluster_id}/operation/upgradeworkflows"


@dataclass(frozen=True)
class ClientConfig:
    """Timeouts, body limit, retries and token refresh; the request rate lives in the GateRegistry."""

    connect_timeout: float = 5.0
    total_timeout: float = 30.0
    max_body_bytes: int = 4 * 1024 * 1024
    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_retry_after: float = 60.0  # a longer Retry-After is held by the gate, not slept in a call
    token_refresh_margin: timedelta = timedelta(minutes=5)
    ca_bundle: str | None = None


class CceClient:
    """Reads CCE for the operator: every call shares the endpoint gates, auth, retries and typed errors."""

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        settings: ClientConfig | None = None,
        *,
        observer: ResponseObserver | None = None,
        gates: GateRegistry | None = None,
    ) -> None:
        self.settings = settings = settings or ClientConfig()
        self.transport = Transport(
            gates if gates is not None else GateRegistry(),
            session=session,
            connect_timeout=settings.connect_timeout,
            total_timeout=settings.total_timeout,
            max_body_bytes=settings.max_body_bytes,
            ca_bundle=settings.ca_bundle,
            observer=observer,
        )
        self.retry = RetryPolicy(
            settings.max_retries, settings.backoff_base, settings.backoff_cap, settings.max_retry_after
        )
        self.tokens = TokenCache(self.transport, settings.token_refresh_margin)

    async def __aenter__(self) -> CceClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the HTTP session if the client created it."""
        await self.transport.close()

    def forget_endpoint(self, host: str) -> None:
        """No poll uses `host` any more: its gate goes once idle (see `GateRegistry.forget`)."""
        self.transport.gates.forget(host)

    def forget_token(self, key: TokenKey) -> None:
        """No poll signs with this IAM token any more."""
        self.tokens.forget(key)

    async def list_upgrade_workflows(self, target: ClusterTarget) -> UpgradeWorkflowList:
        """The cluster's upgrade workflows, parsed tolerantly; a CceError when they cannot be had."""
        return parse_workflow_list(await self.get(target, target.workflows_path))

    async def get(self, target: ClusterTarget, path: str) -> bytes:
        """The JSON body of `GET path` on the target's CCE endpoint, or a typed CceError."""
        url = f"{target.endpoint.cce}{path}"
        renewed_token = False
        attempt = 0
        while True:
            answering = target.endpoint.iam  # whose gate a 429's Retry-After holds: IAM's while a token is fetched
            try:
                headers = await self._auth_headers(target, "GET", url)
                answering = url
                answer = await self.transport.exchange("GET", url, headers)
                if 200 <= answer.status < 300:
                    require_json(answer)
                    return answer.body
                raise classify(
                    answer.status,
                    answer.headers,
                    answer.body,
                    token_mode=not isinstance(target.credentials, AccessKeyCredentials),
                )
            except TokenExpired:
                if isinstance(target.credentials, PasswordCredentials) and not renewed_token:
                    renewed_token = True  # once, never in a loop
                    self.tokens.forget(TokenCache.key(target.endpoint.iam, target.project_id, target.credentials))
                    log.info("token for %s expired; fetching a new one", target.endpoint.host)
                    continue
                raise
            except (ResponseError, EndpointHeld):
                # A gateway's HTML page or an oversized body comes back the same at once, and a held
                # endpoint stays held past a retry's wait: next poll.
                raise
            except TransientError as exc:
                attempt += 1
                # The gate the request passed (Transport's key, the Host header: no default port).
                delay = self.retry.delay(exc, attempt, self.transport.gates(auth.host_header(answering)))
                if delay is None:
                    raise
                log.debug("retrying %s after %.2fs (attempt %d): %s", path, delay, attempt, exc)
                await asyncio.sleep(delay)

    async def _auth_headers(self, target: ClusterTarget, method: str, url: str) -> dict[str, str]:
        base = {"Content-Type": "application/json;charset=utf-8", "Accept": "application/json"}
        credentials = target.credentials
        if isinstance(credentials, TokenCredentials):
            return {**base, **auth.token_headers(credentials.token)}
        if isinstance(credentials, AccessKeyCredentials):
            return auth.signed_headers(credentials, target.project_id, method, url, headers=base)
        token = await self.tokens.token(target.endpoint.iam, target.project_id, credentials)
        return {**base, **auth.token_headers(token)}
