"""CCE credentials as read from a Secret. The keys present decide the auth mode; values never print."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from ccupgrade.cce.errors import CredentialsError


@dataclass(frozen=True)
class TokenCredentials:
    """An IAM token from the Secret, sent as is (it expires; nothing here renews it)."""

    token: str = field(repr=False)

    mode = "token"


@dataclass(frozen=True)
class AccessKeyCredentials:
    """An AK/SK pair (and the security token of temporary keys): each request is signed."""

    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)

    mode = "aksk"


@dataclass(frozen=True)
class PasswordCredentials:
    """An IAM user's name, password and domain: exchanged for a cached, project-scoped token."""

    username: str = field(repr=False)
    password: str = field(repr=False)
    domain_name: str = field(repr=False)

    mode = "password"


Credentials = TokenCredentials | AccessKeyCredentials | PasswordCredentials

_MODES = "`token`; or `accessKey` + `secretKey` (+ `securityToken`); or `username` + `password` + `domainName`"


def fingerprint(credentials: Credentials) -> str:
    """A short stable digest: tells two credential sets apart without revealing either."""
    material = "\0".join(str(v) for v in vars(credentials).values() if v is not None)
    return hashlib.sha256(f"{credentials.mode}\0{material}".encode()).hexdigest()[:16]


# Keys whose values travel in HTTP headers: a control character there (a line break pasted into
# the middle of a token) makes the HTTP client raise ValueError at every poll.
_HEADER_KEYS = ("token", "accessKey", "securityToken")


def _decode(secret_data: Mapping[str, str | bytes]) -> dict[str, str]:
    """Secret `.data` values are base64 text; bytes are taken as already decoded."""
    values: dict[str, str] = {}
    for key, raw in secret_data.items():
        try:
            if isinstance(raw, bytes):
                values[key] = raw.decode("utf-8", errors="strict").strip()
            else:
                values[key] = base64.b64decode(raw, validate=True).decode("utf-8").strip()
        except ValueError as exc:  # binascii.Error, UnicodeDecodeError, and b64decode's non-ASCII ValueError
            raise CredentialsError(f"Secret key {key!r} is not valid base64-encoded UTF-8") from exc
        if key in _HEADER_KEYS and any(ord(c) < 32 or ord(c) == 127 for c in values[key]):
            raise CredentialsError(f"Secret key {key!r} contains a control character (a line break inside the value?)")
    return values


def from_secret_data(secret_name: str, data: Mapping[str, str | bytes] | None) -> Credentials:
    """The credentials a Secret's `.data` holds, or a CredentialsError saying which keys it needs."""
    values = {k: v for k, v in _decode(data or {}).items() if v}
    if values.get("token"):
        return TokenCredentials(values["token"])
    if "accessKey" in values or "secretKey" in values:
        missing = [k for k in ("accessKey", "secretKey") if k not in values]
        if missing:
            raise CredentialsError(f"Secret {secret_name!r} has no {' or '.join(missing)}; it needs both keys")
        return AccessKeyCredentials(values["accessKey"], values["secretKey"], values.get("securityToken"))
    if {"username", "password", "domainName"} & values.keys():
        missing = [k for k in ("username", "password", "domainName") if k not in values]
        if missing:
            raise CredentialsError(f"Secret {secret_name!r} lacks {', '.join(missing)} for password authentication")
        return PasswordCredentials(values["username"], values["password"], values["domainName"])
    present = ", ".join(sorted(values)) or "no keys"
    raise CredentialsError(f"Secret {secret_name!r} has {present}; it needs {_MODES}")
