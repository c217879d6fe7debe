"""The kopf side, kept thin: the watch stream goes into the scheduler, nothing else.

Only `on.event` is used: it needs no finalizer and stores nothing on the object, so deleting a
CceClusterUpgrade never waits for this operator (not even when it is not running).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, cast

import kopf
from kubernetes import client

from ccupgrade.models import GROUP, PLURAL, VERSION, ObjectRef, Watched
from ccupgrade.scheduler import Scheduler

# What kopf's essence keeps of metadata (labels, annotations) and what its key naming reads (ownerReferences).
_ESSENTIAL_METADATA = ("labels", "annotations", "ownerReferences")


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


class SpecEssenceStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's default diff-base storage, building the same essence without copying what it drops.

    kopf builds an object's "essence" (spec, labels, annotations) on every watch event, by
    deep-copying the whole body and then deleting `status` and `metadata`. Here those two are left
    out before the copy: at 5,000 objects the copy of our status and managedFields was 11 % of the
    operator's CPU in a burst. With extra fields asked for (none of our handlers does), kopf's own
    build runs."""

    def build(self, *, body: kopf.Body, extra_fields: Iterable[kopf.FieldSpec] | None = None) -> kopf.BodyEssence:
        """The essence kopf would build, from the body without its status and system metadata."""
        if extra_fields:
            return super().build(body=body, extra_fields=extra_fields)
        metadata = body.get("metadata") or {}
        kept = {key: metadata[key] for key in _ESSENTIAL_METADATA if key in metadata}
        trimmed = {key: value for key, value in body.items() if key not in ("metadata", "status")}
        return super().build(body=kopf.Body(cast(kopf.RawBody, {**trimmed, "metadata": kept})))


def build_registry(
    scheduler: Scheduler, first_listing: asyncio.Event, configuration: client.Configuration
) -> kopf.OperatorRegistry:
    """kopf's handlers on a registry of their own (not kopf's global one): the login from
    `configuration`, and every watch event handed to the scheduler; `first_listing` is set on the first."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection_info(configuration)

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def on_upgrade_event(event: kopf.RawEvent, **_: Any) -> None:
        first_listing.set()
        body: dict[str, Any] = dict(event["object"])
        metadata = body.get("metadata") or {}
        ref = ObjectRef.of(metadata)
        if event["type"] == "DELETED":
            scheduler.remove(ref)
            return
        if scheduler.knows(ref, metadata.get("resourceVersion"), metadata.get("generation")):
            return  # an echo of one of our own writes: nothing in it is new (parsing it was ~8 % of a burst's CPU)
        scheduler.upsert(Watched.from_body(body))

    return registry
