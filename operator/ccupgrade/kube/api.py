"""The few Kubernetes REST calls on the operator's hot path, made with aiohttp.

Why not the official client for these: it is synchronous, so every call is a hand-off to a
thread, and its request and response model layers cost more CPU than the HTTP exchange. In a
burst (thousands of Events and status writes) that CPU is taken from the API server, which
shares the machine's cores in small clusters, and the extra threads fragment the heap. kopf's
own async client is private API; kubernetes_asyncio would be a second login stack that could
disagree with the first. So the *credentials* still come from the official client's
`Configuration` (in-cluster token and its refresh hook, kubeconfig certificates, exec plugins):
one source of truth for login, and only the transport is ours.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import aiohttp
from kubernetes import client

MERGE_PATCH = "application/merge-patch+json"


class KubeApiError(Exception):
    """The API server answered with an error status, or (status 0) could not be reached."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}" if status else f"API server unreachable: {body}")
        self.status = status
        self.body = body

    @property
    def retryable(self) -> bool:
        """Unreachable, throttled or failing server-side: the same call may well work later."""
        return self.status == 0 or self.status == 429 or self.status >= 500


class KubeForbidden(KubeApiError):
    """403: the operator's account may not do this (RBAC)."""


class KubeNotFound(KubeApiError):
    """404: the object (or its namespace) does not exist."""


class KubeConflict(KubeApiError):
    """409: a stale resourceVersion precondition, or a name already taken."""


_BY_STATUS: dict[int, type[KubeApiError]] = {403: KubeForbidden, 404: KubeNotFound, 409: KubeConflict}


def api_error(status: int, body: str) -> KubeApiError:
    """The error for an answer: a subclass for each status that callers act on differently."""
    return _BY_STATUS.get(status, KubeApiError)(status, body)


def path_of(*segments: str) -> str:
    """A URL path from raw segments, each percent-encoded: a name can never add a path segment."""
    return "/" + "/".join(quote(segment, safe="") for segment in segments)


def _ssl_context(configuration: client.Configuration) -> ssl.SSLContext | bool:
    if not configuration.verify_ssl:
        return False
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    return context


class KubeApi:
    """The operator's Kubernetes transport: JSON over one pooled aiohttp session, with the official
    client's credentials; errors come out as `KubeApiError` (or its subclass for 403, 404, 409) only."""

    def __init__(
        self,
        configuration: client.Configuration,
        *,
        connections: int = 16,
        timeout: float = 30.0,
        credentials_ttl: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._configuration = configuration
        self._credentials_ttl = credentials_ttl
        self._clock = clock
        self._authorization: tuple[float, str | None] | None = None
        self._base = configuration.host.rstrip("/")
        self._server_hostname = configuration.tls_server_name or None
        self._proxy = configuration.proxy or None
        self._connections = connections
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(10.0, timeout))
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._connections, ssl=_ssl_context(self._configuration))
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, json_serialize=json.dumps)
        return self._session

    async def close(self) -> None:
        """Closes the pooled connections; a later call opens a new pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        token = self._bearer_token()
        if token:
            headers["Authorization"] = token
        return headers

    def _bearer_token(self) -> str | None:
        """The official client's current token: its refresh hook renews rotated in-cluster tokens.

        Asked again every few seconds and after any 401, not on every call: the kubeconfig loader's
        hook re-applies the whole configuration each time, which cost 5 % of the operator's CPU in a burst.
        """
        now = self._clock()
        if self._authorization is None or now - self._authorization[0] >= self._credentials_ttl:
            token = self._configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
            self._authorization = (now, token)
        return self._authorization[1]

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
        decode: bool = True,
    ) -> dict[str, Any]:
        """One call: `body` sent as compact JSON, the answer decoded (or `{}`); raises `KubeApiError`
        on an error status (a 401 also drops the cached token) or an unreachable server."""
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        try:
            async with self._open().request(
                method,
                self._base + path,
                data=data,
                params=params,
                headers=self._headers(content_type if data is not None else None),
                server_hostname=self._server_hostname,
                proxy=self._proxy,
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KubeApiError(0, f"{type(exc).__name__}: {exc}"[:300]) from None
        if status == 401:
            self._authorization = None  # a rotated token: ask the hook again next time
        if status >= 400:
            raise api_error(status, raw[:2000].decode(errors="replace"))
        if not raw or not decode:
            return {}
        decoded: dict[str, Any] = json.loads(raw)
        return decoded

    async def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        """GET, decoded."""
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: dict[str, Any]) -> None:
        """POST, and the answer left undecoded: callers of this only need to know it worked."""
        await self.request("POST", path, body, decode=False)

    async def merge_patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH as an RFC 7386 merge patch; the object as the server now has it."""
        return await self.request("PATCH", path, body, content_type=MERGE_PATCH)
