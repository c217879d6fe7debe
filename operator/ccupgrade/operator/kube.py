"""Everything the operator says to the Kubernetes API: read Secrets, post Events, patch status.

Uses the official `kubernetes` client (synchronous) on a small thread pool, so the event loop
never blocks and the number of concurrent API calls stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ccupgrade.cce.credentials import Credentials, from_secret_data
from ccupgrade.cce.errors import CredentialsError, SecretNotFound
from ccupgrade.mirror import EventIntent, Mirrored
from ccupgrade.models.resource import GROUP, KIND, PLURAL, VERSION
from ccupgrade.operator.patching import merge_patch
from ccupgrade.scheduler.registry import Watched

log = logging.getLogger("ccupgrade.kube")
COMPONENT = "cce-upgrade-operator"
_T = TypeVar("_T")


class KubeIO:
    def __init__(
        self,
        api: client.ApiClient,
        *,
        workers: int = 16,
        secret_ttl: float = 30.0,
        on_status_write: Callable[[str], None] | None = None,
        on_event: Callable[[str, str], None] | None = None,
    ) -> None:
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kube-io")
        self._secret_ttl = secret_ttl
        self._secrets: dict[tuple[str, str], tuple[float, Credentials]] = {}
        self._instance = socket.gethostname()
        self._on_status_write = on_status_write or (lambda outcome: None)
        self._on_event = on_event or (lambda reason, kind: None)

    async def _run(self, function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: function(*args, **kwargs))

    @staticmethod
    def _call_and_release(function: Callable[..., Any], *args: Any) -> bytes:
        """The raw response body, and the connection back in the pool (undecoded responses keep it otherwise)."""
        response = function(*args, _preload_content=False)
        try:
            data: bytes = response.data
            return data
        finally:
            response.release_conn()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- credentials -------------------------------------------------------------------------------

    async def credentials(self, namespace: str, secret_name: str) -> Credentials:
        key = (namespace, secret_name)
        cached = self._secrets.get(key)
        if cached is not None and time.monotonic() - cached[0] < self._secret_ttl:
            return cached[1]
        try:
            secret = await self._run(self.core.read_namespaced_secret, secret_name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                raise SecretNotFound(f"Secret {secret_name!r} not found in namespace {namespace!r}") from None
            if exc.status == 403:
                raise CredentialsError(
                    f"the operator may not read Secret {secret_name!r} in namespace {namespace!r} (RBAC)"
                ) from None
            raise
        credentials = from_secret_data(secret_name, secret.data or {})
        self._secrets[key] = (time.monotonic(), credentials)
        return credentials

    def forget(self, namespace: str, secret_name: str) -> None:
        self._secrets.pop((namespace, secret_name), None)

    async def any_upgrades(self, namespaces: tuple[str, ...]) -> bool:
        """Whether any CceClusterUpgrade exists where we watch (readiness: are events still to come?)."""
        if not namespaces:
            listed = await self._run(self.custom.list_cluster_custom_object, GROUP, VERSION, PLURAL, limit=1)
            return bool(cast(dict[str, Any], listed).get("items"))
        for namespace in namespaces:
            listed = await self._run(
                self.custom.list_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, limit=1
            )
            if cast(dict[str, Any], listed).get("items"):
                return True
        return False

    # -- events and status -------------------------------------------------------------------------

    async def publish(self, watched: Watched, result: Mirrored) -> Watched | None:
        """Events first, then status: a crash in between re-derives the same Events (same names)."""
        await asyncio.gather(*(self._post_event(watched, event) for event in result.events))
        if not result.changed:
            return watched
        return await self._write_status(watched, result)

    async def _post_event(self, watched: Watched, event: EventIntent) -> None:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        ref = watched.ref
        # A plain dict and no response decoding: the client's model (de)serialization costs more than the call.
        body = {
            "metadata": {"name": event.name_for(ref.name, ref.uid), "namespace": ref.namespace},
            "involvedObject": {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "name": ref.name,
                               "namespace": ref.namespace, "uid": ref.uid},
            "reason": event.reason,
            "message": event.message[:1024],
            "type": event.type,
            "source": {"component": COMPONENT},
            "reportingComponent": f"{GROUP}/operator",
            "reportingInstance": self._instance[:128],
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "action": "Mirror",
        }  # fmt: skip
        try:
            await self._run(self._call_and_release, self.core.create_namespaced_event, ref.namespace, body)
            self._on_event(event.reason, event.type)
        except ApiException as exc:
            if exc.status == 409:
                return  # posted before a crash or a conflict: exactly once
            if exc.status == 404:
                return  # namespace going away
            log.warning("could not post event %s for %s: HTTP %s", event.reason, ref, exc.status)

    async def _write_status(self, watched: Watched, result: Mirrored) -> Watched | None:
        ref = watched.ref
        old = {} if watched.status is None else watched.status.model_dump(mode="json", by_alias=True, exclude_none=True)
        new = result.status.model_dump(mode="json", by_alias=True, exclude_none=True)
        patch: dict[str, Any] = {"status": merge_patch(old, new) if old else new}
        if watched.resource_version:
            patch["metadata"] = {"resourceVersion": watched.resource_version}  # write only what we derived from
        try:
            body = await self._run(
                self.custom.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                ref.namespace,
                PLURAL,
                ref.name,
                patch,
            )
            self._on_status_write("success")
            return Watched.from_body(cast(dict[str, Any], body))
        except ApiException as exc:
            self._on_status_write(str(exc.status))
            if exc.status == 404:
                return None
            if exc.status == 409:
                return await self._reread(watched)
            log.error("status of %s rejected: HTTP %s %s", ref, exc.status, (exc.body or "")[:500])
            return None

    async def _reread(self, watched: Watched) -> Watched | None:
        ref = watched.ref
        try:
            body = await self._run(
                self.custom.get_namespaced_custom_object, GROUP, VERSION, ref.namespace, PLURAL, ref.name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return Watched.from_body(cast(dict[str, Any], body))
