"""The CCE side: reads a cluster's upgrade workflows and task details with real auth, bounded
retries and per-endpoint gates, and fails only with the typed errors in `errors`.

Other packages import from here; the modules behind it (transport, retry, tokens, parser, auth)
are internal.
"""

from ccupgrade.cce import errors
from ccupgrade.cce.auth import host_header
from ccupgrade.cce.client import CceClient, ClientConfig, ClusterTarget
from ccupgrade.cce.credentials import (
    AccessKeyCredentials,
    Credentials,
    PasswordCredentials,
    TokenCredentials,
    fingerprint,
    from_secret_data,
)
from ccupgrade.cce.endpoints import AllowList, Endpoint, for_region
from ccupgrade.cce.errors import (
    AuthenticationError,
    CceError,
    ClientRequestError,
    ConfigurationError,
    CredentialsError,
    EndpointHeld,
    EndpointNotAllowed,
    InvalidEndpoint,
    NotFound,
    ParseError,
    PermissionDenied,
    ResponseError,
    SecretNotFound,
    ServerError,
    Throttled,
    TokenExpired,
    TransientError,
    TransportError,
)
from ccupgrade.cce.ratelimit import GateRegistry
from ccupgrade.cce.task_reader import TaskReader
from ccupgrade.cce.tokens import TokenKey
from ccupgrade.cce.transport import ResponseObserver

__all__ = [
    "AccessKeyCredentials",
    "AllowList",
    "AuthenticationError",
    "CceClient",
    "CceError",
    "ClientConfig",
    "ClientRequestError",
    "ClusterTarget",
    "ConfigurationError",
    "Credentials",
    "CredentialsError",
    "Endpoint",
    "EndpointHeld",
    "EndpointNotAllowed",
    "GateRegistry",
    "InvalidEndpoint",
    "NotFound",
    "ParseError",
    "PasswordCredentials",
    "PermissionDenied",
    "ResponseError",
    "ResponseObserver",
    "SecretNotFound",
    "ServerError",
    "TaskReader",
    "Throttled",
    "TokenCredentials",
    "TokenExpired",
    "TokenKey",
    "TransientError",
    "TransportError",
    "errors",
    "fingerprint",
    "for_region",
    "from_secret_data",
    "host_header",
]
