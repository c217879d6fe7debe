"""Typed CCE failures, and the table from an HTTP answer to one of them.

A ConfigurationError waits for the user; a TransientError heals by itself. None carries a credential.
Each class carries the condition reason it shows as and the hint a user acts on (`reason`, `hint`).
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from ccupgrade.models import Reason


class CceError(Exception):
    """A failed CCE call: HTTP status, CCE/gateway error code, message and request ID."""

    reason: ClassVar[Reason] = Reason.CONFIGURATION_ERROR  # what Ready says when a poll fails so
    hint: ClassVar[str] = ""  # what the user can do about it
    transient: ClassVar[bool] = False  # heals by itself: the last good status is kept
    about_the_secret: ClassVar[bool] = False  # the Secret's keys are at fault: its name is shown

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id

    def __str__(self) -> str:
        return self._text(with_request=True)

    @property
    def summary(self) -> str:
        """The text status keeps: the same for the same failure, so a persistent error does not
        rewrite the status at every poll (the request ID, new per answer, goes to the logs only)."""
        return self._text(with_request=False)

    def _text(self, *, with_request: bool) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(f"code {self.code}")
        if self.request_id and with_request:
            parts.append(f"request {self.request_id}")
        return parts[0] if len(parts) == 1 else f"{parts[0]} ({', '.join(parts[1:])})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def condition_message(self, secret_name: str) -> str:
        """The text a user acts on: the summary (no request ID: the same for the same failure, so
        status is not rewritten per poll), the Secret when its keys are at fault, and the hint."""
        where = f" (Secret {secret_name!r})" if self.about_the_secret else ""
        return f"{self.summary}{where}: {self.hint}" if self.hint else self.summary


class ConfigurationError(CceError):
    """Something the user must fix (credentials, IDs, endpoint); retrying as-is cannot help."""


class CredentialsError(ConfigurationError):
    """The Secret is missing or does not hold a usable set of keys."""

    reason = Reason.INVALID_CREDENTIALS
    hint = "put a complete set of keys into the Secret"
    about_the_secret = True


class SecretNotFound(CredentialsError):
    """The Secret the object names does not exist in its namespace."""

    reason = Reason.SECRET_NOT_FOUND
    hint = "create it, or fix spec.credentialsSecretRef.name"
    about_the_secret = False  # the message names it already


class EndpointNotAllowed(ConfigurationError):
    """A custom endpoint that the operator's allow-list does not permit."""

    reason = Reason.ENDPOINT_NOT_ALLOWED
    hint = "use spec.region or ask the admin to allow the endpoint"


class InvalidEndpoint(ConfigurationError):
    """spec.endpoint is not a usable URL (a port out of range, an empty or overlong host label).

    The CRD's pattern rejects these; an object stored under an older schema can still hold one.
    """

    reason = Reason.INVALID_SPEC
    hint = "fix spec.endpoint (scheme://host[:port], port 1-65535)"


class AuthenticationError(ConfigurationError):
    """CCE or IAM refused the credentials (401, APIGW.0301)."""

    reason = Reason.AUTHENTICATION_FAILED
    hint = "check or rotate the credentials in the Secret"
    about_the_secret = True


class TokenExpired(AuthenticationError):
    """The token is no longer valid (APIGW.0307); a fresh one may be fetched once."""


class PermissionDenied(ConfigurationError):
    """403: the credentials work but may not read this cluster."""

    reason = Reason.PERMISSION_DENIED
    hint = "grant the credentials read access to CCE in this project"


class NotFound(ConfigurationError):
    """404: the project or cluster does not exist (any more)."""

    reason = Reason.CLUSTER_NOT_FOUND
    hint = "check spec.projectId and spec.clusterId"


class ClientRequestError(ConfigurationError):
    """Another 4xx: the request itself is wrong."""

    reason = Reason.REQUEST_REJECTED
    hint = "check the spec"


class TransientError(CceError):
    """CCE is unavailable for now; the last good status stays and polling backs off."""

    reason = Reason.CLOUD_API_UNAVAILABLE
    transient = True


class ServerError(TransientError):
    """5xx from CCE or its gateway."""


class Throttled(TransientError):
    """429 (APIGW.0308); `retry_after` is what the server asked for, in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class EndpointHeld(Throttled):
    """The endpoint's gate is held (a Retry-After) past the time a request may wait for it: the
    request was not sent. Raised at once, not retried within the poll."""


class TransportError(TransientError):
    """Timeout, refused or dropped connection, TLS failure."""


class ResponseError(TransientError):
    """The response could not be used: wrong Content-Type, too large, or not a valid workflow list.

    Transient because a broken gateway answer is usually temporary; the message says what was wrong.
    """


class ParseError(ResponseError):
    """The body is not a valid upgrade-workflow response."""


# -- classification: a non-2xx answer to the typed error --------------------------------------------


def classify(status: int, headers: Mapping[str, str], body: bytes, *, token_mode: bool) -> CceError:
    """The typed error for a non-2xx answer from CCE, its gateway or IAM (`headers` lower-case).

    `token_mode`: the request carried a token, so a 401 other than a bad signature means it expired.
    """
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


def _error_fields(body: bytes) -> tuple[str | None, str | None, str | None]:
    """(code, message, request_id) from any error-body shape: CCE's errorCode/errorMessage, the
    gateway's and IAM's error_code/error_msg, or a nested {"error": {"code", "message"}}."""
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


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None when absent or unreadable."""
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
