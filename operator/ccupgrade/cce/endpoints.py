"""Where credentials may be sent: the region's official hosts, or an allow-listed custom endpoint."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from urllib.parse import urlsplit

from ccupgrade.cce.errors import EndpointNotAllowed, InvalidEndpoint

# Regions whose hosts live under another domain (from the official SDK's region tables).
_DOMAIN_BY_REGION = {"eu-west-101": "myhuaweicloud.eu"}
_DEFAULT_DOMAIN = "myhuaweicloud.com"


@dataclass(frozen=True)
class Endpoint:
    """A CCE base URL and the IAM base URL that issues tokens for it."""

    cce: str
    iam: str

    @property
    def host(self) -> str:
        """`host[:port]` of the CCE URL: what the per-endpoint gates and metrics are keyed by."""
        return urlsplit(self.cce).netloc


def for_region(region: str) -> Endpoint:
    """The official CCE and IAM hosts of a region (the only hosts used without an allow-list)."""
    domain = _DOMAIN_BY_REGION.get(region, _DEFAULT_DOMAIN)
    return Endpoint(cce=f"https://cce.{region}.{domain}", iam=f"https://iam.{region}.{domain}")


def _origin(url: str) -> str:
    """`scheme://host:port`, or a typed error: urlsplit's ValueError (a port out of range) and the
    resolver's UnicodeError (an empty or overlong host label) would otherwise surface at every poll."""
    try:
        parts = urlsplit(url.strip())
        explicit_port = parts.port
    except ValueError as exc:
        raise InvalidEndpoint(f"spec.endpoint {url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise EndpointNotAllowed(f"endpoint {url!r} is not an http(s) URL")
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in {"", "/"}:
        raise EndpointNotAllowed(f"endpoint {url!r} must be scheme://host[:port] with nothing else")
    if explicit_port == 0:
        raise InvalidEndpoint(f"spec.endpoint {url!r}: port 0 is not a usable port (1-65535)")
    try:
        parts.hostname.encode("idna")
    except UnicodeError:
        raise InvalidEndpoint(f"spec.endpoint {url!r}: the host has an empty or overlong (>63) label") from None
    port = explicit_port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname.lower()}:{port}"


@dataclass(frozen=True)
class AllowList:
    """Patterns over `scheme://host:port`, shell-style (`https://*.cce.internal:443`, `http://127.0.0.1:*`).

    Empty means no custom endpoint is allowed: only region-derived official hosts are used.
    """

    patterns: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> AllowList:
        """From the operator's comma-separated `--allowed-endpoints` text."""
        return cls(tuple(p.strip() for p in (text or "").split(",") if p.strip()))

    def permits(self, url: str) -> bool:
        """Whether `url`'s origin matches a pattern; InvalidEndpoint or EndpointNotAllowed if it is no bare origin."""
        origin = _origin(url)
        return any(fnmatch.fnmatchcase(origin, pattern.lower()) for pattern in self.patterns)

    def custom(self, url: str) -> Endpoint:
        """A custom endpoint serves both CCE and IAM calls (as the simulator and private gateways do)."""
        if not self.permits(url):
            raise EndpointNotAllowed(
                f"endpoint {_origin(url)} is not on the operator's allow-list; ask the cluster admin to add it "
                "(--allowed-endpoints) or use spec.region"
            )
        base = url.strip().rstrip("/")
        return Endpoint(cce=base, iam=base)
