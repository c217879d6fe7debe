"""The simulator's API gateway: checks tokens and AK/SK signatures for real.

Signatures are recomputed with the steps of `huaweicloudsdkcore`'s Signer over exactly the
headers the request lists in SignedHeaders (the Python SDK signs Host, the Go SDK does not);
a wrong secret key, an unsigned `X-Sdk-Date` or security token, or a clock skew over 15 minutes
is refused with the gateway's error code, as CCE's gateway does.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from multidict import CIMultiDictProxy
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

MAX_CLOCK_SKEW = timedelta(minutes=15)
SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_HEADER_NAME = re.compile(r"^[a-z0-9!#$%&'*+.^`|~-]+$")  # a lowercase HTTP token, as both SDKs write them
_AUTHORIZATION = re.compile(
    r"^SDK-HMAC-SHA256\s+Access=(?P<ak>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<sig>[0-9a-f]+)$"
)


class Refused(Exception):
    """A request the gateway or IAM refuses: the HTTP status and the error code CCE would answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class AccessKey:
    """A known access key: its secret, and the security token a temporary key must send."""

    secret_key: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


@dataclass
class IssuedToken:
    """A token the simulator accepts: the project it is scoped to and when it expires (None: never)."""

    project_id: str | None
    expires_at: datetime | None


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class AccessKeyEntry(_Doc):
    """An access key in the credentials document (a temporary one has a security token)."""

    access_key: str
    secret_key: str
    security_token: str | None = None


class UserEntry(_Doc):
    """An IAM user in the credentials document, who can get a token with the password."""

    username: str
    password: str
    domain_name: str


class CredentialsDocument(_Doc):
    """What `PUT /_sim/credentials` accepts: credentials the simulated cloud knows (added to)."""

    access_keys: list[AccessKeyEntry] = []
    users: list[UserEntry] = []
    tokens: list[str] = []
    token_ttl_seconds: float | None = None
    revoke_access_keys: list[str] = []


class _KeyPair:
    def __init__(self, ak: str, sk: str) -> None:
        self.ak = ak
        self.sk = sk


@dataclass
class Gatekeeper:
    """The credentials the simulated cloud knows, and the checks CCE and IAM make against them."""

    access_keys: dict[str, AccessKey] = field(default_factory=dict)
    users: dict[tuple[str, str], str] = field(default_factory=dict)  # (domain, name) -> password
    tokens: dict[str, IssuedToken] = field(default_factory=dict)
    token_ttl: timedelta = timedelta(hours=24)

    def configure(self, document: CredentialsDocument) -> None:
        """Adds (or revokes) what a credentials document lists; what is not listed stays."""
        for key in document.access_keys:
            self.access_keys[key.access_key] = AccessKey(key.secret_key, key.security_token)
        for user in document.users:
            self.users[(user.domain_name, user.username)] = user.password
        for token in document.tokens:
            self.tokens[token] = IssuedToken(project_id=None, expires_at=None)
        for revoked in document.revoke_access_keys:
            self.access_keys.pop(revoked, None)
        if document.token_ttl_seconds is not None:
            self.token_ttl = timedelta(seconds=document.token_ttl_seconds)

    def expire_issued_tokens(self) -> int:
        """Makes every token issued by IAM invalid at once (as a password change does)."""
        past = datetime.now(UTC) - timedelta(seconds=1)
        count = 0
        for token in self.tokens.values():
            if token.expires_at is not None:
                token.expires_at = past
                count += 1
        return count

    def issue_token(self, domain: str, name: str, password: str, project_id: str | None) -> tuple[str, datetime]:
        """IAM password login: a new token valid for `token_ttl`, or Refused as IAM answers a wrong password."""
        expected = self.users.get((domain, name))
        if expected is None or not hmac.compare_digest(expected, password):
            raise Refused(401, "IAM.0004", "The username or password is wrong.")
        token = "MII" + secrets.token_urlsafe(48)
        expires_at = datetime.now(UTC) + self.token_ttl
        self.tokens[token] = IssuedToken(project_id, expires_at)
        return token, expires_at

    def check(
        self, method: str, path: str, query: str, headers: CIMultiDictProxy[str], body: bytes, project_id: str | None
    ) -> str:
        """Returns the auth mode used, or raises Refused. `project_id` None: a path that names no
        project (the upgrade paths); any project's token or key is accepted there."""
        token = headers.get("X-Auth-Token")
        if token:
            self._check_token(token, project_id)
            return "token"
        if headers.get("Authorization"):
            self._check_signature(method, path, query, headers, body, project_id)
            return "aksk"
        raise Refused(401, "APIGW.0301", "Incorrect IAM authentication information: no credentials in the request")

    def _check_token(self, token: str, project_id: str | None) -> None:
        issued = self.tokens.get(token)
        if issued is None:
            raise Refused(401, "APIGW.0301", "Incorrect IAM authentication information: unknown token")
        if issued.expires_at is not None and issued.expires_at <= datetime.now(UTC):
            raise Refused(401, "APIGW.0307", "The token must be updated.")
        if issued.project_id is not None and project_id is not None and issued.project_id != project_id:
            raise Refused(403, "APIGW.0302", "The token is not scoped to this project.")

    def _check_signature(
        self, method: str, path: str, query: str, headers: CIMultiDictProxy[str], body: bytes, project_id: str | None
    ) -> None:
        match = _AUTHORIZATION.match(headers.get("Authorization", "").strip())
        if not match:
            raise Refused(401, "APIGW.0301", "Incorrect IAM authentication information: malformed Authorization")
        key = self.access_keys.get(match["ak"])
        if key is None:
            raise Refused(401, "APIGW.0301", "Incorrect IAM authentication information: unknown access key")
        signed = match["signed"].split(";")
        if any(not _HEADER_NAME.match(name) for name in signed) or len(set(signed)) != len(signed):
            raise Refused(401, "APIGW.0301", "Incorrect IAM authentication information: malformed SignedHeaders")
        # Host is not required: the Go SDK signs only the headers it sets itself (no Host).
        required = {"x-sdk-date"} | ({"x-security-token"} if key.security_token else set())
        if not required.issubset(signed):
            missing = ", ".join(sorted(required - set(signed)))
            raise Refused(401, "APIGW.0301", f"Incorrect IAM authentication information: unsigned {missing}")
        if any(len(headers.getall(name, [])) != 1 for name in signed):
            raise Refused(401, "APIGW.0301", "Incorrect IAM authentication information: signed header not sent once")
        try:
            sent_at = datetime.strptime(headers["X-Sdk-Date"], SDK_DATE_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise Refused(401, "APIGW.0301", "Incorrect IAM authentication information: bad X-Sdk-Date") from None
        if abs(datetime.now(UTC) - sent_at) > MAX_CLOCK_SKEW:
            raise Refused(401, "APIGW.0301", "Incorrect IAM authentication information: clock skew over 15 minutes")
        if key.security_token and headers.get("X-Security-Token") != key.security_token:
            raise Refused(401, "APIGW.0301", "Incorrect IAM authentication information: bad security token")
        request = SdkRequest(
            method=method,
            resource_path=path,
            query_params=parse_qsl(query, keep_blank_values=True),
            header_params={name: headers[name] for name in signed},
            body=body,
        )
        expected = SignatureCheck(match["ak"], key.secret_key).signature(request, signed, sent_at)
        if not hmac.compare_digest(expected, match["sig"]):
            raise Refused(401, "APIGW.0301", "Incorrect IAM authentication information: verify aksk signature fail")
        if project_id is not None and headers.get("X-Project-Id") not in (None, project_id):
            raise Refused(403, "APIGW.0302", "X-Project-Id does not match the project in the path.")


class SignatureCheck(Signer):  # type: ignore[misc]
    """Recomputes an SDK-HMAC-SHA256 signature over exactly the headers the client listed as signed.

    `Signer.sign` cannot verify: it adds `Host` and signs every header it is given, so a request
    signed without Host (the Go SDK's way) never matches. The steps themselves are the SDK's own
    (canonical URI, query string and headers, payload hash, string to sign, HMAC); only the
    choice of headers is ours. (The two SDKs differ on one payload-hash corner CCE's GETs never
    reach: an empty body sent with `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`, which only a
    non-JSON Content-Type triggers; this check hashes the empty body, as the Python SDK does.)
    """

    def __init__(self, access_key: str, secret_key: str) -> None:
        super().__init__(_KeyPair(access_key, secret_key))

    def signature(self, request: SdkRequest, signed_headers: list[str], sent_at: datetime) -> str:
        """The hex signature the holder of the secret key computes for `request` at `sent_at`."""
        canonical = self._process_canonical_request(request, signed_headers)
        return str(self._sign_string_to_sign(self._process_string_to_sign(canonical, sent_at), self._sk))
