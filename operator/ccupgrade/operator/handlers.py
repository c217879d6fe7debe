"""The kopf side, kept thin: the watch stream goes into the scheduler, nothing else.

Only `on.event` is used: it needs no finalizer and stores nothing on the object, so deleting a
CceClusterUpgrade never waits for this operator (not even when it is not running).
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from ccupgrade.models.resource import GROUP, PLURAL, VERSION
from ccupgrade.scheduler.poller import Scheduler
from ccupgrade.scheduler.registry import ObjectRef, Watched


def build_registry(scheduler: Scheduler, first_listing: asyncio.Event) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_via_client(**kwargs)

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
