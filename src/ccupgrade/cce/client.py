"""The CCE upgrade-workflow client over aiohttp: one session, bounded retries, typed errors.

Retries cover what can heal by itself (5xx, timeouts, dropped connections, 429); an unusable
answer (wrong Content-Type, oversized body) waits for the next poll instead. Authentication
failures are never retried in a loop: five bad AK/SK attempts lock the key for five minutes. The
one exception is an expired IAM token obtained from a password, which is renewed once.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from ccupgrade.cce import auth
from ccupgrade.cce.credentials import (
    AccessKeyCredentials,
    Credentials,
    PasswordCredentials,
    TokenCredentials,
    fingerprint,
)
from ccupgrade.cce.endpoints import Endpoint
from ccupgrade.cce.errors import (
    AuthenticationError,
    CceError,
    ClientRequestError,
    NotFound,
    PermissionDenied,
    ResponseError,
    ServerError,
    Throttled,
    TokenExpired,
    TransientError,
    TransportError,
)
from ccupgrade.cce.parser import parse_workflow, parse_workflow_list
from ccupgrade.cce.ratelimit import GateRegistry
from ccupgrade.models.cce import UpgradeWorkflow, UpgradeWorkflowList

log = logging.getLogger("ccupgrade.cce")

# Observes every HTTP exchange: (endpoint host, status code or error kind, seconds).
ResponseObserver = Callable[[str, str, float], None]


@dataclass(frozen=True)
class ClusterTarget:
    """Everything needed to read one cluster's workflows."""

    endpoint: Endpoint
    project_id: str
    cluster_id: str
    credentials: Credentials = field(repr=False)

    @property
    def workflows_path(self) -> str:
        return f"/api/v3/projects/{self.project_id}/clusters/{self.cluster_id}/operation/upgradeworkflows"


@dataclass(frozen=True)
class ClientSettings:
    connect_timeout: float = 5.0
    total_timeout: float = 30.0
    max_body_bytes: int = 4 * 1024 * 1024
    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_retry_after: float = 60.0  # a longer Retry-After is held by the gate, not slept in a call
    rate_per_endpoint: float = 50.0
    burst_per_endpoint: int = 20
    token_refresh_margin: timedelta = timedelta(minutes=5)
    ca_bundle: str | None = None


@dataclass
class _Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class _CachedToken:
    token: str = field(repr=False)
    expires_at: datetime


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_fields(body: bytes) -> tuple[str | None, str | None, str | None]:
    """(code, message, request_id) from any of the error-body shapes CCE, APIG and IAM use."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, None, None
    if not isinstance(document, dict):
        return None, None, None
    error = document.get("error")
    nested: dict[str, Any] = error if isinstance(error, dict) else {}
    code = document.get("errorCode") or document.get("error_code") or nested.get("code")
    message = document.get("errorMessage") or document.get("error_msg") or nested.get("message")
    return _clip(code), _clip(message), _clip(document.get("request_id"))


def _clip(value: object) -> str | None:
    return None if value is None else str(value)[:300]


def classify(status: int, headers: dict[str, str], body: bytes, *, token_mode: bool) -> CceError:
    """The typed error for a non-2xx answer."""
    code, message, body_request_id = _error_fields(body)
    request_id = headers.get("x-request-id") or body_request_id
    text = message or f"HTTP {status} from CCE"
    kwargs: dict[str, Any] = {"status": status, "code": code, "request_id": request_id}
    if status == 401:
        if code in {"APIGW.0307", "APIG.0307"} or (token_mode and code not in {"APIGW.0301", "APIG.0301"}):
            return TokenExpired(f"token refused: {text}", **kwargs)
        return AuthenticationError(f"authentication refused: {text}", **kwargs)
    if status == 403:
        return PermissionDenied(f"access denied: {text}", **kwargs)
    if status == 404:
        return NotFound(f"project or cluster not found: {text}", **kwargs)
    if status == 429:
        return Throttled(f"throttled: {text}", retry_after=_retry_after_seconds(headers.get("retry-after")), **kwargs)
    if status >= 500:
        return ServerError(f"CCE unavailable: {text}", **kwargs)
    return ClientRequestError(f"request refused: {text}", **kwargs)


class CceClient:
    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        settings: ClientSettings | None = None,
        *,
        observer: ResponseObserver | None = None,
        gates: GateRegistry | None = None,
    ) -> None:
        self.settings = settings or ClientSettings()
        self._session = session
        self._owns_session = session is None
        self._observer = observer
        self._gates = gates or GateRegistry(self.settings.rate_per_endpoint, self.settings.burst_per_endpoint)
        self._tokens: dict[tuple[str, str, str], _CachedToken] = {}
        self._token_locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    async def __aenter__(self) -> CceClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            ssl_context = ssl.create_default_context(cafile=self.settings.ca_bundle)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=ssl_context, limit=200, limit_per_host=50),
                timeout=aiohttp.ClientTimeout(total=self.settings.total_timeout, connect=self.settings.connect_timeout),
                raise_for_status=False,
                auto_decompress=True,
            )
        return self._session

    # -- public API -----------------------------------------------------------------------------

    async def list_upgrade_workflows(self, target: ClusterTarget) -> UpgradeWorkflowList:
        return parse_workflow_list(await self._call(target, target.workflows_path))

    async def get_upgrade_workflow(self, target: ClusterTarget, workflow_id: str) -> UpgradeWorkflow:
        return parse_workflow(await self._call(target, f"{target.workflows_path}/{workflow_id}"))

    # -- machinery ------------------------------------------------------------------------------

    async def _call(self, target: ClusterTarget, path: str) -> bytes:
        url = f"{target.endpoint.cce}{path}"
        renewed_token = False
        attempt = 0
        while True:
            try:
                headers = await self._auth_headers(target, "GET", url)
                answer = await self._exchange("GET", url, headers)
                if 200 <= answer.status < 300:
                    self._check_content_type(answer)
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
                    self._forget_token(target)
                    log.info("token for %s expired; fetching a new one", target.endpoint.host)
                    continue
                raise
            except ResponseError:
                raise  # a gateway's HTML page or an oversized body comes back the same at once: next poll
            except TransientError as exc:
                attempt += 1
                delay = self._retry_delay(exc, attempt, target)
                if delay is None:
                    raise
                log.debug("retrying %s after %.2fs (attempt %d): %s", path, delay, attempt, exc)
                await asyncio.sleep(delay)

    def _retry_delay(self, exc: TransientError, attempt: int, target: ClusterTarget) -> float | None:
        if isinstance(exc, Throttled) and exc.retry_after is not None:
            # Every caller of this endpoint waits, not only this one.
            self._gates(target.endpoint.host).hold_until(time.monotonic() + exc.retry_after)
            if exc.retry_after > self.settings.max_retry_after or attempt > self.settings.max_retries:
                return None
            return 0.0  # the gate does the waiting
        if attempt > self.settings.max_retries:
            return None
        ceiling = min(self.settings.backoff_cap, self.settings.backoff_base * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)  # full jitter: retries from many callers spread out

    @staticmethod
    def _check_content_type(answer: _Answer) -> None:
        content_type = answer.headers.get("content-type", "")
        if "json" not in content_type.split(";")[0].lower():
            raise ResponseError(
                f"CCE answered with Content-Type {content_type or 'none'!r}, not JSON",
                status=answer.status,
                request_id=answer.headers.get("x-request-id"),
            )

    async def _exchange(self, method: str, url: str, headers: dict[str, str], body: bytes | None = None) -> _Answer:
        host = auth.host_header(url)
        gate = self._gates(host)
        await gate.admit()  # rate, Retry-After hold, then a place among this endpoint's requests in flight
        started = time.monotonic()
        outcome = "error"
        try:
            async with self.session.request(method, url, headers=headers, data=body, allow_redirects=False) as resp:
                outcome = str(resp.status)
                limit = self.settings.max_body_bytes
                declared = resp.content_length
                if declared is not None and declared > limit:
                    raise ResponseError(f"response of {declared} bytes exceeds the {limit}-byte limit")
                payload = await resp.content.read(limit + 1)
                if len(payload) > limit:
                    raise ResponseError(f"response exceeds the {limit}-byte limit")
                answer = _Answer(resp.status, {k.lower(): v for k, v in resp.headers.items()}, payload)
                log.debug("%s %s -> %s (%s)", method, url, resp.status, answer.headers.get("x-request-id", "-"))
                return answer
        except TimeoutError as exc:
            outcome = "timeout"
            raise TransportError(f"CCE did not answer within {self.settings.total_timeout:g}s") from exc
        except aiohttp.ClientConnectorCertificateError as exc:
            outcome = "tls"
            raise TransportError(f"TLS verification of {host} failed: {exc.certificate_error}") from None
        except aiohttp.ClientConnectorError as exc:
            outcome = "connect"
            raise TransportError(f"cannot connect to {host}: {exc.strerror or type(exc).__name__}") from None
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            outcome = "disconnect"
            raise TransportError(f"connection to {host} dropped: {type(exc).__name__}") from None
        except aiohttp.ClientError as exc:
            raise TransportError(f"HTTP error talking to {host}: {type(exc).__name__}") from None
        finally:
            gate.done()
            if self._observer is not None:
                self._observer(host, outcome, time.monotonic() - started)

    async def _auth_headers(self, target: ClusterTarget, method: str, url: str) -> dict[str, str]:
        base = {"Content-Type": "application/json;charset=utf-8", "Accept": "application/json"}
        credentials = target.credentials
        if isinstance(credentials, TokenCredentials):
            return {**base, **auth.token_headers(credentials.token)}
        if isinstance(credentials, AccessKeyCredentials):
            return auth.signed_headers(credentials, target.project_id, method, url, headers=base)
        token = await self._password_token(target, credentials)
        return {**base, **auth.token_headers(token)}

    def _token_key(self, target: ClusterTarget) -> tuple[str, str, str]:
        return (target.endpoint.iam, target.project_id, fingerprint(target.credentials))

    def _forget_token(self, target: ClusterTarget) -> None:
        self._tokens.pop(self._token_key(target), None)

    async def _password_token(self, target: ClusterTarget, credentials: PasswordCredentials) -> str:
        key = self._token_key(target)
        lock = self._token_locks.setdefault(key, asyncio.Lock())
        async with lock:  # one IAM request however many polls need the token at once
            cached = self._tokens.get(key)
            if cached and cached.expires_at - self.settings.token_refresh_margin > datetime.now(UTC):
                return cached.token
            cached = await self._issue_token(target, credentials)
            self._tokens[key] = cached
            return cached.token

    async def _issue_token(self, target: ClusterTarget, credentials: PasswordCredentials) -> _CachedToken:
        url = f"{target.endpoint.iam}/v3/auth/tokens"
        body = json.dumps(auth.password_token_request(credentials, target.project_id)).encode()
        answer = await self._exchange("POST", url, {"Content-Type": "application/json;charset=utf-8"}, body)
        if answer.status not in (200, 201):
            error = classify(answer.status, answer.headers, answer.body, token_mode=False)
            if isinstance(error, AuthenticationError):
                raise AuthenticationError(
                    f"IAM refused the user name, password or domain: {error.message}",
                    status=error.status,
                    code=error.code,
                    request_id=error.request_id,
                )
            raise error
        token = answer.headers.get("x-subject-token")
        if not token:
            raise ResponseError("IAM answered without an X-Subject-Token header", status=answer.status)
        expires_at = datetime.now(UTC) + timedelta(hours=23)
        try:
            raw = json.loads(answer.body)["token"]["expires_at"]
            parsed = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
            # IAM writes UTC; a time without a zone is read as UTC (comparing it with an aware
            # time would raise TypeError at every use of the cached token).
            expires_at = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except (ValueError, KeyError, TypeError):
            log.debug("IAM token without a readable expires_at; assuming 23h")
        return _CachedToken(token, expires_at)
