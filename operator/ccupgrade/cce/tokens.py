"""IAM tokens for password credentials: fetched once per (IAM, project, credentials), cached until
shortly before they expire, dropped when CCE says one expired."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ccupgrade.cce import auth
from ccupgrade.cce.credentials import PasswordCredentials, fingerprint
from ccupgrade.cce.errors import AuthenticationError, ResponseError, classify
from ccupgrade.cce.transport import Transport

log = logging.getLogger("ccupgrade.cce")

# (IAM base URL, project ID, credentials fingerprint): a token is scoped to all three.
TokenKey = tuple[str, str, str]


@dataclass
class _CachedToken:
    token: str = field(repr=False)
    expires_at: datetime


class TokenCache:
    """Project-scoped IAM tokens: one IAM request however many polls need a token at once."""

    def __init__(self, transport: Transport, refresh_margin: timedelta = timedelta(minutes=5)) -> None:
        self.transport = transport
        self.refresh_margin = refresh_margin
        self._tokens: dict[TokenKey, _CachedToken] = {}
        self._locks: dict[TokenKey, asyncio.Lock] = {}

    @staticmethod
    def key(iam: str, project_id: str, credentials: PasswordCredentials) -> TokenKey:
        """What a token is cached under; it tells credential sets apart without holding them."""
        return (iam, project_id, fingerprint(credentials))

    def __len__(self) -> int:
        return len(self._tokens)

    def forget(self, key: TokenKey) -> None:
        """Drops a token CCE refused, or one whose credentials no poll uses any more; the next
        `token()` fetches a new one."""
        self._tokens.pop(key, None)
        lock = self._locks.get(key)
        if lock is not None and not lock.locked():
            del self._locks[key]

    async def token(self, iam: str, project_id: str, credentials: PasswordCredentials) -> str:
        """A token valid for at least `refresh_margin`, from the cache or fresh from IAM."""
        key = self.key(iam, project_id, credentials)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # one IAM request however many polls need the token at once
            cached = self._tokens.get(key)
            if cached and cached.expires_at - self.refresh_margin > datetime.now(UTC):
                return cached.token
            self._drop_expired()
            cached = await self._issue(iam, project_id, credentials)
            self._tokens[key] = cached
            return cached.token

    def _drop_expired(self) -> None:
        """Tokens that have expired are of no use to anyone: they go whenever a new one is fetched
        (at most as often as tokens are), whether or not their users ever said goodbye."""
        now = datetime.now(UTC)
        for key in [k for k, cached in self._tokens.items() if cached.expires_at <= now]:
            self.forget(key)

    async def _issue(self, iam: str, project_id: str, credentials: PasswordCredentials) -> _CachedToken:
        url = f"{iam}/v3/auth/tokens"
        body = json.dumps(auth.password_token_request(credentials, project_id)).encode()
        answer = await self.transport.exchange("POST", url, {"Content-Type": "application/json;charset=utf-8"}, body)
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
