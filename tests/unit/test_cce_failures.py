"""What a failed CCE read tells the user: each CCE error class carries its condition reason and the
hint to act on; the Secret is named where the failure is about its keys."""

from __future__ import annotations

import pytest

from ccupgrade.cce import (
    AuthenticationError,
    CceError,
    ClientRequestError,
    ConfigurationError,
    CredentialsError,
    EndpointNotAllowed,
    InvalidEndpoint,
    NotFound,
    ParseError,
    PermissionDenied,
    SecretNotFound,
    ServerError,
    Throttled,
    TokenExpired,
    TransportError,
)
from ccupgrade.models import Reason
from ccupgrade.scheduler import failure_of

CASES: list[tuple[CceError, bool, Reason, str]] = [
    (
        SecretNotFound("no Secret"),
        False,
        Reason.SECRET_NOT_FOUND,
        "no Secret: create it, or fix spec.credentialsSecretRef.name",
    ),
    (
        CredentialsError("no key"),
        False,
        Reason.INVALID_CREDENTIALS,
        "no key (Secret 's'): put a complete set of keys into the Secret",
    ),
    (
        EndpointNotAllowed("not allowed"),
        False,
        Reason.ENDPOINT_NOT_ALLOWED,
        "not allowed: use spec.region or ask the admin to allow the endpoint",
    ),
    (InvalidEndpoint("bad"), False, Reason.INVALID_SPEC, "bad: fix spec.endpoint (scheme://host[:port], port 1-65535)"),
    (
        AuthenticationError("refused", status=401, code="APIGW.0301", request_id="r1"),
        False,
        Reason.AUTHENTICATION_FAILED,
        "refused (HTTP 401, code APIGW.0301) (Secret 's'): check or rotate the credentials in the Secret",
    ),
    (
        TokenExpired("expired", status=401),
        False,
        Reason.AUTHENTICATION_FAILED,
        "expired (HTTP 401) (Secret 's'): check or rotate the credentials in the Secret",
    ),
    (
        PermissionDenied("denied", status=403),
        False,
        Reason.PERMISSION_DENIED,
        "denied (HTTP 403): grant the credentials read access to CCE in this project",
    ),
    (
        NotFound("gone", status=404),
        False,
        Reason.CLUSTER_NOT_FOUND,
        "gone (HTTP 404): check spec.projectId and spec.clusterId",
    ),
    (ClientRequestError("wrong", status=400), False, Reason.REQUEST_REJECTED, "wrong (HTTP 400): check the spec"),
    (ConfigurationError("other"), False, Reason.CONFIGURATION_ERROR, "other"),
    (CceError("unknown"), False, Reason.CONFIGURATION_ERROR, "unknown"),
    (ServerError("down", status=503, request_id="r2"), True, Reason.CLOUD_API_UNAVAILABLE, "down (HTTP 503)"),
    (Throttled("slow down", status=429), True, Reason.CLOUD_API_UNAVAILABLE, "slow down (HTTP 429)"),
    (TransportError("timeout"), True, Reason.CLOUD_API_UNAVAILABLE, "timeout"),
    (ParseError("garbled"), True, Reason.CLOUD_API_UNAVAILABLE, "garbled"),
]


@pytest.mark.parametrize(("error", "transient", "reason", "message"), CASES, ids=lambda c: type(c).__name__)
def test_each_cce_error_gives_its_reason_and_hint(
    error: CceError, transient: bool, reason: Reason, message: str
) -> None:
    failure = failure_of(error, "s")
    assert (failure.transient, failure.reason, failure.message) == (transient, reason, message)
