"""The poll loop: one CCE request per distinct cluster per interval, fanned out to every object.

Kubernetes I/O is behind two small protocols (`CredentialSource`, `StatusSink`) that the
operator layer implements, so this module only decides *when* and *what*.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ccupgrade.cce import errors
from ccupgrade.cce.client import CceClient, ClusterTarget
from ccupgrade.cce.credentials import Credentials
from ccupgrade.cce.endpoints import AllowList, Endpoint, for_region
from ccupgrade.cce.tasks import TaskReader
from ccupgrade.mirror import Mirrored, Observed, PollFailed, mirror
from ccupgrade.mirror.core import Outcome, failed, suspended
from ccupgrade.models.cce import UpgradeWorkflow
from ccupgrade.models.resource import UpgradeSpec
from ccupgrade.scheduler.details import DetailFetcher, PeerBook
from ccupgrade.scheduler.intervals import IntervalPolicy, parse_duration
from ccupgrade.scheduler.registry import ObjectRef, PollKey, Watched

log = logging.getLogger("ccupgrade.scheduler")
JOIN_DELAY = 0.5


class CredentialSource(Protocol):
    async def credentials(self, namespace: str, secret_name: str) -> Credentials: ...

    def forget(self, namespace: str, secret_name: str) -> None: ...


class StatusSink(Protocol):
    async def publish(self, watched: Watched, result: Mirrored) -> Watched | None:
        """Posts the Events, then writes the status. Returns the object as now stored (None if gone)."""
        ...


class PollObserver(Protocol):
    """Metrics hooks; the default does nothing."""

    def poll_finished(self, key: PollKey, outcome: str, seconds: float) -> None: ...

    def object_mirrored(self, watched: Watched, result: Mirrored) -> None: ...

    def object_removed(self, ref: ObjectRef) -> None: ...


class _NoObserver:
    def poll_finished(self, key: PollKey, outcome: str, seconds: float) -> None:
        pass

    def object_mirrored(self, watched: Watched, result: Mirrored) -> None:
        pass

    def object_removed(self, ref: ObjectRef) -> None:
        pass


_REASONS: list[tuple[type[errors.CceError], str, str]] = [
    (errors.SecretNotFound, "SecretNotFound", "create it, or fix spec.credentialsSecretRef.name"),
    (errors.CredentialsError, "InvalidCredentials", "put a complete set of keys into the Secret"),
    (errors.EndpointNotAllowed, "EndpointNotAllowed", "use spec.region or ask the admin to allow the endpoint"),
    (errors.InvalidEndpoint, "InvalidSpec", "fix spec.endpoint (scheme://host[:port], port 1-65535)"),
    (errors.AuthenticationError, "AuthenticationFailed", "check or rotate the credentials in the Secret"),
    (errors.PermissionDenied, "PermissionDenied", "grant the credentials read access to CCE in this project"),
    (errors.NotFound, "ClusterNotFound", "check spec.projectId and spec.clusterId"),
    (errors.ClientRequestError, "RequestRejected", "check the spec"),
]


def failure_of(error: errors.CceError, secret_name: str) -> PollFailed:
    if isinstance(error, errors.TransientError):
        return PollFailed(True, "CloudAPIUnavailable", str(error))
    for kind, reason, hint in _REASONS:
        if isinstance(error, kind):
            where = f" (Secret {secret_name!r})" if reason in {"AuthenticationFailed", "InvalidCredentials"} else ""
            return PollFailed(False, reason, f"{error}{where}: {hint}")
    return PollFailed(False, "ConfigurationError", str(error))


@dataclass(frozen=True)
class SchedulerConfig:
    allow_list: AllowList = field(default_factory=AllowList)
    policy: IntervalPolicy = field(default_factory=IntervalPolicy)
    max_concurrent_polls: int = 20
    # Objects whose Events and status are being written at once. Bounding it is backpressure: in a
    # burst (every object changes at once) the writes queue here as small waiting coroutines, in
    # poll order, instead of as thousands of request bodies inside the I/O layer; and a cluster is
    # not polled again until its objects are written.
    max_concurrent_writes: int = 64


@dataclass
class _Group:
    key: PollKey
    members: dict[ObjectRef, Watched] = field(default_factory=dict)
    next_due: float = 0.0
    failures: int = 0
    running: bool = False
    rerun: bool = False  # a spec changed while a poll was under way


class Scheduler:
    def __init__(
        self,
        client: CceClient,
        credentials: CredentialSource,
        sink: StatusSink,
        config: SchedulerConfig | None = None,
        *,
        observer: PollObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        details: DetailFetcher | None = None,
    ) -> None:
        self.client = client
        self.credentials = credentials
        self.sink = sink
        self.config = config or SchedulerConfig()
        self.observer: PollObserver = observer or _NoObserver()
        self._clock = clock
        self._rng = rng or random.Random()
        self._groups: dict[PollKey, _Group] = {}
        self._where: dict[ObjectRef, PollKey] = {}
        self._objects: dict[ObjectRef, Watched] = {}
        self._written: dict[ObjectRef, set[str]] = {}
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(self.config.max_concurrent_polls)
        self._write_slots = asyncio.Semaphore(self.config.max_concurrent_writes)
        self._tasks: set[asyncio.Task[None]] = set()
        # The task details running tasks need (progress, pre-check findings), read with the same client.
        if details is None and isinstance(client, CceClient):
            details = DetailFetcher(TaskReader(client))
        self._details = details
        self._peers = PeerBook()

    # -- the watch stream feeds these --------------------------------------------------------

    def upsert(self, watched: Watched) -> None:
        ref = watched.ref
        previous = self._objects.get(ref)
        if previous is not None and self._is_stale_echo(previous, watched):
            return
        self._objects[ref] = watched
        spec_changed = previous is None or previous.generation != watched.generation
        key = None if watched.spec is None or watched.spec.suspend else watched.poll_key
        old_key = self._where.get(ref)
        if old_key is not None and old_key != key:
            self._leave(ref, old_key)
        if key is None:
            if spec_changed:
                self._spawn(self._mirror_without_polling(watched))
            return
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(key, next_due=self._clock() + JOIN_DELAY)
        group.members[ref] = watched
        self._where[ref] = key
        if spec_changed:
            # A short delay gathers the objects that arrive together (the initial listing, a
            # kubectl apply of many) into one poll per cluster instead of one per object.
            group.next_due = min(group.next_due, self._clock() + JOIN_DELAY)
            group.rerun = group.rerun or group.running
            self._wake.set()

    def remove(self, ref: ObjectRef) -> None:
        self._objects.pop(ref, None)
        self._written.pop(ref, None)
        key = self._where.get(ref)
        if key is not None:
            self._leave(ref, key)
        self.observer.object_removed(ref)

    def _leave(self, ref: ObjectRef, key: PollKey) -> None:
        self._where.pop(ref, None)
        group = self._groups.get(key)
        if group is not None:
            group.members.pop(ref, None)
            if not group.members:
                del self._groups[key]

    def _is_stale_echo(self, current: Watched, incoming: Watched) -> bool:
        """A watch event for one of our own earlier writes, arriving after a later one: ignore it."""
        ours = self._written.get(current.ref, set())
        return (
            incoming.resource_version in ours
            and incoming.resource_version != current.resource_version
            and incoming.generation == current.generation
        )

    # -- the loop -------------------------------------------------------------------------------

    @property
    def groups(self) -> int:
        return len(self._groups)

    async def run(self) -> None:
        try:
            while True:
                now = self._clock()
                soonest: float | None = None
                for group in list(self._groups.values()):
                    if group.running:
                        continue
                    if group.next_due <= now:
                        group.running = True
                        self._spawn(self._poll(group))
                    elif soonest is None or group.next_due < soonest:
                        soonest = group.next_due
                self._wake.clear()
                timeout = None if soonest is None else max(0.0, soonest - self._clock())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _poll(self, group: _Group) -> None:
        started = self._clock()
        try:
            async with self._slots:
                outcome = await self._read_cce(group)
            group.failures = 0 if isinstance(outcome, Observed) else group.failures + 1
            self.observer.poll_finished(group.key, _outcome_label(outcome), self._clock() - started)
            await asyncio.gather(*(self._mirror_one(watched, outcome) for watched in list(group.members.values())))
        except asyncio.CancelledError:
            raise
        except Exception:  # the loop must survive anything; the next poll tries again
            log.exception("poll of %s/%s failed unexpectedly", group.key.project_id, group.key.cluster_id)
            group.failures += 1
        finally:
            group.running = False
            group.next_due = self._clock() + (JOIN_DELAY if group.rerun else self._next_interval(group))
            group.rerun = False
            self._wake.set()

    def _next_interval(self, group: _Group) -> float:
        intervals = [
            self.config.policy.for_status(_poll_seconds(w.spec), w.status, group.failures)
            for w in group.members.values()
            if w.spec is not None
        ]
        return self.config.policy.jittered(min(intervals, default=60.0), self._rng)

    async def _read_cce(self, group: _Group) -> Outcome:
        key = group.key
        members = list(group.members.values())
        spec = members[0].spec if members else None
        if spec is None:
            return PollFailed(False, "InvalidSpec", "no valid spec")
        try:
            endpoint = self._endpoint(spec)
            credentials = await self.credentials.credentials(key.namespace, key.secret_name)
            target = ClusterTarget(endpoint, key.project_id, key.cluster_id, credentials)
            listed = await self.client.list_upgrade_workflows(target)
            return await self._observed(target, listed.items)
        except errors.CceError as error:
            if isinstance(error, errors.AuthenticationError | errors.CredentialsError):
                self.credentials.forget(key.namespace, key.secret_name)  # a rotated Secret is re-read next time
            log.info("poll of %s/%s: %s", key.project_id, key.cluster_id, error)
            return failure_of(error, key.secret_name)

    async def _observed(self, target: ClusterTarget, workflows: list[UpgradeWorkflow]) -> Observed:
        """The workflows, the details their running tasks need (each call failing on its own) and peers."""
        cluster = (target.endpoint.host, target.project_id, target.cluster_id)
        self._peers.record(cluster, workflows)
        if self._details is None:
            return Observed(workflows, peers=self._peers.peers_of(cluster))
        details = await self._details.fetch(target, workflows)
        return Observed(workflows, details, self._peers.peers_of(cluster))

    def _endpoint(self, spec: UpgradeSpec) -> Endpoint:
        if spec.region:
            return for_region(spec.region)
        return self.config.allow_list.custom(spec.endpoint or "")

    async def _mirror_one(self, watched: Watched, outcome: Outcome) -> None:
        # The new status is computed inside the write slot: thousands of objects waiting in a burst
        # then hold only the shared poll outcome, not a status each, and each one starts from the
        # latest stored status.
        async with self._write_slots:
            current = self._objects.get(watched.ref)
            if current is None or current.spec is None:
                return
            for _ in range(2):  # a write conflict means the stored status moved: recompute from it once
                result = mirror(
                    current.status, outcome, current.spec, current.generation, datetime.now(UTC),
                    self.config.policy.resync,
                )  # fmt: skip
                self.observer.object_mirrored(current, result)
                if not result.changed and not result.events:
                    return
                stored = await self.sink.publish(current, result)
                if stored is None:
                    return
                self._remember_write(stored)
                if stored.status == result.status and stored.generation == current.generation:
                    return
                current = stored

    async def _mirror_without_polling(self, watched: Watched) -> None:
        """Suspended objects and invalid specs: the status says so, nothing is polled."""
        now = datetime.now(UTC)
        if watched.spec is None:
            problem = PollFailed(False, "InvalidSpec", f"{watched.spec_error or 'invalid spec'}: fix the object")
            result = failed(watched.status, problem, watched.generation, now)
        else:
            result = suspended(watched.status, watched.generation, now)
        if result.changed or result.events:
            async with self._write_slots:
                stored = await self.sink.publish(watched, result)
            if stored is not None:
                self._remember_write(stored)

    def _remember_write(self, stored: Watched) -> None:
        if stored.resource_version:
            written = self._written.setdefault(stored.ref, set())
            if len(written) > 32:
                written.clear()
            written.add(stored.resource_version)
        if stored.ref in self._objects:
            previous = self._objects[stored.ref]
            if previous.generation == stored.generation:
                previous.status = stored.status
                previous.resource_version = stored.resource_version


def _poll_seconds(spec: UpgradeSpec | None) -> float:
    if spec is None:
        return 60.0
    try:
        return max(5.0, parse_duration(spec.poll_interval))
    except ValueError:
        return 30.0


def _outcome_label(outcome: Outcome) -> str:
    if isinstance(outcome, Observed):
        return "success"
    return "transient_error" if outcome.transient else "configuration_error"
