"""Everything the operator says to the Kubernetes API: read Secrets, post Events, patch status.

All of it goes through `KubeApi` (aiohttp, on the event loop); how many calls run at once is
bounded by its connection pool and, above it, by the scheduler's write slots.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC
from typing import Any

from pydantic import TypeAdapter

from ccupgrade.cce import Credentials, CredentialsError, SecretNotFound, from_secret_data
from ccupgrade.kube.api import KubeApi, KubeApiError, KubeConflict, KubeForbidden, KubeNotFound, path_of
from ccupgrade.kube.patching import merge_patch
from ccupgrade.mirror import Mirrored
from ccupgrade.models import (
    EVENT_FIELD_BYTES,
    EVENT_MESSAGE_BYTES,
    GROUP,
    KIND,
    MAX_STATUS_BYTES,
    PLURAL,
    VERSION,
    ObjectRef,
    RecordedEvent,
    UpgradeStatus,
    Watched,
    clip_utf8,
)
from ccupgrade.scheduler import ObjectGone, StatusRefused, WriteFailed

log = logging.getLogger("ccupgrade.kube")
COMPONENT = "cce-upgrade-operator"
EVENT_PAGE = 500
_JOURNAL = TypeAdapter(list[RecordedEvent])
_JSON: dict[str, Any] = {"mode": "json", "by_alias": True, "exclude_none": True}


_PRUNED_SEEN = 10_000  # object uids kept to warn once each about an old CRD pruning their status
_REFUSED_FOR_GOOD = frozenset({400, 413, 422})  # the same status will be refused again


def _too_large(exc: KubeApiError) -> bool:
    """etcd's size limit, which the API server reports as a 500 (retrying cannot help)."""
    return exc.status == 413 or (exc.status >= 500 and "too large" in exc.body)


def _refusal(exc: KubeApiError) -> str:
    """The API server's reason, from its Status body when there is one, cut as an Event message
    (it goes into the StatusRejected Event and the Stalled condition)."""
    try:
        message = json.loads(exc.body).get("message")
    except (ValueError, AttributeError):
        message = None
    return clip_utf8(f"HTTP {exc.status}: {message or exc.body}", EVENT_MESSAGE_BYTES)


def _objects_path(namespace: str | None) -> str:
    if namespace is None:
        return path_of("apis", GROUP, VERSION, PLURAL)
    return path_of("apis", GROUP, VERSION, "namespaces", namespace, PLURAL)


def _status_documents(old: UpgradeStatus | None, result: Mirrored) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the merge patch from the stored status to the result's, the status the API server will then
    hold), from the documents the mirror made to decide `changed` (a status is not dumped again per
    write; model_dump was ~5 % of the CPU in a burst); the small `eventJournal`, which they leave
    out, is compared and added here."""
    before, after = result.documents or ({} if old is None else old.document(), result.status.document())
    patch = dict(after) if old is None else merge_patch(before, after)
    expected = dict(after)
    new_journal = result.status.event_journal
    journal = None if new_journal is None else _JOURNAL.dump_python(new_journal, **_JSON)
    if journal is not None:
        expected["eventJournal"] = journal
    if new_journal != (None if old is None else old.event_journal):
        patch["eventJournal"] = journal
    return patch, expected


def _dropped(patch: dict[str, Any], expected: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """The status fields this patch set that the API server did not store as sent."""
    return sorted(key for key, value in patch.items() if value is not None and stored.get(key) != expected.get(key))


class KubeIO:
    """The scheduler's Kubernetes side: credentials from Secrets, then status before Events (the status
    records its Events in `eventJournal`; each Event is posted once, under a deterministic name); a
    write the API server cannot take now raises `WriteFailed`, to retry."""

    def __init__(
        self,
        api: KubeApi,
        *,
        secret_ttl: float = 30.0,
        on_status_write: Callable[[str], None] | None = None,
        on_event: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self._secret_ttl = secret_ttl
        self._clock = clock
        self._secrets: dict[tuple[str, str], tuple[float, Credentials]] = {}
        self._swept = clock()  # when expired Secrets were last dropped
        self._instance = socket.gethostname()
        self._on_status_write = on_status_write or (lambda outcome: None)
        self._on_event = on_event or (lambda reason, kind: None)
        self._pruned_seen: set[str] = set()  # uids whose pruned status was warned about

    # -- credentials -------------------------------------------------------------------------------

    async def credentials(self, namespace: str, secret_name: str) -> Credentials:
        """The Secret's credentials, cached for the Secret TTL (a refusal calls `forget`)."""
        key = (namespace, secret_name)
        cached = self._secrets.get(key)
        if cached is not None and self._clock() - cached[0] < self._secret_ttl:
            return cached[1]
        self._drop_expired()
        try:
            secret = await self.api.get(path_of("api", "v1", "namespaces", namespace, "secrets", secret_name))
        except KubeNotFound:
            raise SecretNotFound(f"Secret {secret_name!r} not found in namespace {namespace!r}") from None
        except KubeForbidden:
            raise CredentialsError(
                f"the operator may not read Secret {secret_name!r} in namespace {namespace!r} (RBAC)"
            ) from None
        credentials = from_secret_data(secret_name, secret.get("data") or {})
        self._secrets[key] = (self._clock(), credentials)
        return credentials

    def forget(self, namespace: str, secret_name: str) -> None:
        """Drops the cached Secret: a rotated key is read at the next poll, and the keys of a
        Secret no object uses any more are not kept."""
        self._secrets.pop((namespace, secret_name), None)

    def _drop_expired(self) -> None:
        """Expired copies go (a deleted Secret's keys must not stay in memory), at most once per
        TTL, so that the sweep costs O(Secrets) per TTL, not per read."""
        now = self._clock()
        if now - self._swept < self._secret_ttl:
            return
        self._swept = now
        for key in [k for k, (read_at, _) in self._secrets.items() if now - read_at >= self._secret_ttl]:
            del self._secrets[key]

    async def any_upgrades(self, namespaces: tuple[str, ...]) -> bool:
        """Whether any CceClusterUpgrade exists where we watch (readiness: are events still to come?)."""
        for namespace in namespaces or (None,):
            listed = await self.api.get(_objects_path(namespace), params={"limit": "1"})
            if listed.get("items"):
                return True
        return False

    # -- events and status -------------------------------------------------------------------------

    async def publish(self, watched: Watched, result: Mirrored) -> Watched | None:
        """Writes the status (which records its Events in `eventJournal`); the Events follow later.

        If the API server cannot be reached (or throttles, or fails), `WriteFailed`: the scheduler
        retries with a status derived again. If it refuses the status for good (or the status is
        over MAX_STATUS_BYTES and is not sent), `StatusRefused`."""
        if not result.changed:
            return watched
        try:
            stored = await self._write_status(watched, result)
        except KubeApiError as exc:
            if exc.status in _REFUSED_FOR_GOOD or _too_large(exc):
                raise StatusRefused(_refusal(exc)) from None
            # retryable, or a refusal of the operator rather than of this status (401, 403: RBAC
            # or credentials that may be fixed): retried with backoff, logged once per streak
            raise WriteFailed(str(exc), str(exc.status) if exc.status else "unreachable") from None
        return stored

    async def post_event(self, ref: ObjectRef, event: RecordedEvent) -> None:
        """`eventTime` (microseconds, stamped when the status was written; it requires the reporting
        fields and `action`) orders an object's Events where the one-second first/lastTimestamp
        tie; names sort the same way for the listings that only read lastTimestamp."""
        seconds = event.event_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "metadata": {"name": event.name, "namespace": ref.namespace},
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "name": ref.name,
                "namespace": ref.namespace,
                "uid": ref.uid,
            },
            "reason": event.reason,
            "message": clip_utf8(event.message, EVENT_MESSAGE_BYTES),
            "type": event.type,
            "source": {"component": COMPONENT},
            "reportingComponent": f"{GROUP}/operator",
            "reportingInstance": clip_utf8(self._instance, EVENT_FIELD_BYTES),
            "eventTime": event.event_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "firstTimestamp": seconds,
            "lastTimestamp": seconds,
            "count": 1,
            "action": "Mirror",
        }
        try:
            await self.api.create(path_of("api", "v1", "namespaces", ref.namespace, "events"), body)
            self._on_event(event.reason, event.type)
        except KubeConflict:
            return  # posted before a crash or a conflict: exactly once
        except KubeNotFound:
            return  # namespace going away
        except KubeApiError as exc:
            if exc.retryable:
                raise WriteFailed(str(exc), str(exc.status) if exc.status else "unreachable") from None
            log.warning("could not post event %s for %s: HTTP %s", event.reason, ref, exc.status)

    async def event_names(self, namespace: str) -> set[str]:
        """One paginated LIST of the Events we posted in `namespace` (by `source`), names only kept."""
        path = path_of("api", "v1", "namespaces", namespace, "events")
        params = {"fieldSelector": f"source={COMPONENT}", "limit": str(EVENT_PAGE)}
        names: set[str] = set()
        while True:
            page = await self.api.get(path, params=params)
            names.update(item["metadata"]["name"] for item in page.get("items") or ())
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return names
            params = {**params, "continue": token}

    async def _write_status(self, watched: Watched, result: Mirrored) -> Watched | None:
        ref = watched.ref
        status_patch, expected = _status_documents(watched.status, result)
        size = len(json.dumps(expected, separators=(",", ":"), ensure_ascii=False).encode())
        if size > MAX_STATUS_BYTES:
            raise StatusRefused(f"the status would take {size:,} bytes, over the bound of {MAX_STATUS_BYTES:,}")
        patch: dict[str, Any] = {"status": status_patch}
        if watched.resource_version:
            patch["metadata"] = {"resourceVersion": watched.resource_version}  # write only what we derived from
        try:
            body = await self.api.merge_patch(_objects_path(ref.namespace) + path_of(ref.name, "status"), patch)
            self._on_status_write("success")
        except KubeApiError as exc:
            self._on_status_write(str(exc.status) if exc.status else "unreachable")
            if exc.retryable:
                raise
            if isinstance(exc, KubeNotFound):
                await self._confirm_gone(watched)
                return None
            if isinstance(exc, KubeConflict):
                return await self._reread(watched)
            raise
        metadata = body.get("metadata") or {}
        if metadata.get("generation") != watched.generation:
            return Watched.from_body(body)  # the spec changed under the write: the watch brings it
        stored = body.get("status") or {}
        if stored != expected:
            self._warn_dropped(watched.ref, _dropped(status_patch, expected, stored))
        # Applied (2xx under our resourceVersion precondition): the record is the status as sent,
        # also where the API server dropped fields, so that the writer sees its write done instead
        # of a re-read to write again; no parsing of the answer either (pydantic validation of
        # each answer was ~6 % of the CPU in a burst).
        return replace(watched, resource_version=metadata.get("resourceVersion"), status=result.status)

    def _warn_dropped(self, ref: ObjectRef, dropped: list[str]) -> None:
        """An applied status stored with fields missing: the CRD schema is older than the operator
        and prunes what it does not know. Said once per object; the uids said are bounded (a
        deleted object's is forgotten when the set is full, and then said again at worst)."""
        if not dropped or ref.uid in self._pruned_seen:
            return
        if len(self._pruned_seen) >= _PRUNED_SEEN:
            self._pruned_seen.clear()
        self._pruned_seen.add(ref.uid)
        log.warning(
            "%s: the API server dropped status fields %s: the CRD is older than the operator"
            " (apply the chart's CRD; Helm does not upgrade crds/)",
            ref,
            ", ".join(dropped),
        )

    async def _reread(self, watched: Watched) -> Watched:
        """The object as stored now; `ObjectGone` if it is not there or is another object (new uid)."""
        ref = watched.ref
        try:
            body = await self.api.get(_objects_path(ref.namespace) + path_of(ref.name))
        except KubeNotFound:
            raise ObjectGone(f"{ref} not found") from None
        stored = Watched.from_body(body)
        if stored.ref.uid != ref.uid:
            raise ObjectGone(f"{ref} was deleted and re-created (uid {stored.ref.uid})")
        return stored

    async def _confirm_gone(self, watched: Watched) -> None:
        """A 404 on the status write: `ObjectGone` if a read confirms it. Otherwise (the object is
        there: a CRD without the status subresource?) the write is refused for good, and said so."""
        await self._reread(watched)
        log.error("status of %s refused with 404 although the object exists: is the CRD current?", watched.ref)
