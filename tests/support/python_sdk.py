"""The official Python CCE SDK's client, pointed at a simulator."""

from __future__ import annotations

from typing import Any

from huaweicloudsdkcce.v3 import CceClient
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig


def sdk_client(url: str, project: str, ak: str, sk: str, token: str | None = None) -> Any:
    """A `CceClient` signing with AK/SK (and a security token for temporary keys), short timeouts."""
    credentials = BasicCredentials(ak, sk, project)
    if token is not None:
        credentials = credentials.with_security_token(token)
    config = HttpConfig.get_default_config()
    config.timeout = (5, 20)
    return CceClient.new_builder().with_http_config(config).with_credentials(credentials).with_endpoints([url]).build()
