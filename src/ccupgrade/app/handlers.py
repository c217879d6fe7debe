"""The kopf side, kept thin: the watch stream goes into the scheduler, nothing else.

Only `on.event` is used: it needs no finalizer and stores nothing on the object, so deleting a
CceClusterUpgrade never waits for this operator (not even when it is not running).
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
from kubernetes import client

from ccupgrade.models.resource import GROUP, PLURAL, VERSION
from ccupgrade.models.watched import ObjectRef, Watched
from ccupgrade.scheduler.poller import Scheduler


def connection_info(configuration: client.Configuration) -> kopf.ConnectionInfo:
    """kopf's login, read from the same `Configuration` the operator's writes use.

    `kopf.login_via_client` loads the default kubeconfig (or in-cluster) afresh and ignores
    `--kubeconfig`, so the watch could follow one cluster while the writes go to another. The
    token is asked for through the configuration, so its refresh hook renews a rotated in-cluster
    token each time kopf logs in again (after a 401).
    """
    header = configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
    parts = header.split(" ", 1) if header else []
    scheme, token = (None, None) if not parts else (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        username=configuration.username or None,
        password=configuration.password or None,
        scheme=scheme,
        token=token,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        proxy_url=configuration.proxy or None,
    )


def build_registry(
    scheduler: Scheduler, first_listing: asyncio.Event, configuration: client.Configuration
) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection_info(configuration)

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def on_upgrade_event(event: kopf.RawEvent, **_: Any) -> None:
        first_listing.set()
        body: dict[str, Any] = dict(event["object"])
        if event["type"] == "DELETED":
            metadata = body.get("metadata") or {}
            scheduler.remove(
                ObjectRef(metadata.get("namespace", ""), metadata.get("name", ""), metadata.get("uid", ""))
            )
            return
        scheduler.upsert(Watched.from_body(dict(body)))

    return registry
