"""Typed CCE failures. Each says whether retrying can help and never carries a credential."""

from __future__ import annotations


class CceError(Exception):
    """A failed CCE call: HTTP status, CCE/gateway error code, message, request ID, retryability."""

    retryable = False

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
        parts = [self.message]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(f"code {self.code}")
        if self.request_id:
            parts.append(f"request {self.request_id}")
        return parts[0] if len(parts) == 1 else f"{parts[0]} ({', '.join(parts[1:])})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class ConfigurationError(CceError):
    """Something the user must fix (credentials, IDs, endpoint); retrying as-is cannot help."""


class CredentialsError(ConfigurationError):
    """The Secret is missing or does not hold a usable set of keys."""


class SecretNotFound(CredentialsError):
    """The Secret the object names does not exist in its namespace."""


class EndpointNotAllowed(ConfigurationError):
    """A custom endpoint that the operator's allow-list does not permit."""


class InvalidEndpoint(ConfigurationError):
    """spec.endpoint is not a usable URL (a port out of range, an empty or overlong host label).

    The CRD's pattern rejects these; an object stored under an older schema can still hold one.
    """


class AuthenticationError(ConfigurationError):
    """CCE or IAM refused the credentials (401, APIGW.0301)."""


class TokenExpired(AuthenticationError):
    """The token is no longer valid (APIGW.0307); a fresh one may be fetched once."""


class PermissionDenied(ConfigurationError):
    """403: the credentials work but may not read this cluster."""


class NotFound(ConfigurationError):
    """404: the project or cluster does not exist (any more)."""


class ClientRequestError(ConfigurationError):
    """Another 4xx: the request itself is wrong."""


class TransientError(CceError):
    """CCE is unavailable for now; the last good status stays and polling backs off."""

    retryable = True


class ServerError(TransientError):
    """5xx from CCE or its gateway."""


class Throttled(TransientError):
    """429 (APIGW.0308); `retry_after` is what the server asked for, in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class TransportError(TransientError):
    """Timeout, refused or dropped connection, TLS failure."""


class ResponseError(TransientError):
    """The response could not be used: wrong Content-Type, too large, or not a valid workflow list.

    Retryable because a broken gateway answer is usually temporary; the message says what was wrong.
    """


class ParseError(ResponseError):
    """The body is not a valid upgrade-workflow response."""
