"""Request authentication: IAM token header, or AK/SK signing with the official SDK's signer.

The signing itself is `huaweicloudsdkcore`'s `Signer` (SDK-HMAC-SHA256), not a hand-written HMAC:
that keeps us byte-compatible with what CCE's gateway verifies.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from ccupgrade.cce.credentials import AccessKeyCredentials, PasswordCredentials

SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


class _KeyPair:
    """The two attributes the SDK's Signer reads; no other SDK credential machinery is needed."""

    def __init__(self, ak: str, sk: str) -> None:
        self.ak = ak
        self.sk = sk


def host_header(url: str) -> str:
    """The Host header value for `url`: the port only when it is not the scheme's default (as signed)."""
    parts = urlsplit(url)
    default = (parts.scheme == "https" and parts.port == 443) or (parts.scheme == "http" and parts.port == 80)
    host = parts.hostname or ""
    return host if parts.port is None or default else f"{host}:{parts.port}"


def token_headers(token: str) -> dict[str, str]:
    """Headers that authenticate a request with an IAM token."""
    return {"X-Auth-Token": token}


def signed_headers(
    credentials: AccessKeyCredentials,
    project_id: str,
    method: str,
    url: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """Headers that make `method url` an AK/SK-signed request (X-Sdk-Date, Host, Authorization, …)."""
    parts = urlsplit(url)
    header_params = {
        **(headers or {}),
        "X-Project-Id": project_id,
        "X-Sdk-Date": (now or datetime.now(UTC)).strftime(SDK_DATE_FORMAT),
        "Host": host_header(url),
    }
    if credentials.security_token:
        header_params["X-Security-Token"] = credentials.security_token
    query: list[tuple[str, Any]] = list(parse_qsl(parts.query, keep_blank_values=True))  # signed decoded, once
    request = SdkRequest(
        method=method.upper(),
        schema=parts.scheme,
        host=parts.netloc,
        resource_path=parts.path or "/",
        query_params=query,
        header_params=header_params,
        body=body or "",
    )
    signed = Signer(_KeyPair(credentials.access_key, credentials.secret_key)).sign(request)
    return dict(signed.header_params)


def password_token_request(credentials: PasswordCredentials, project_id: str) -> dict[str, Any]:
    """The IAM `POST /v3/auth/tokens` body for a project-scoped token."""
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": credentials.username,
                        "password": credentials.password,
                        "domain": {"name": credentials.domain_name},
                    }
                },
            },
            "scope": {"project": {"id": project_id}},
        }
    }
