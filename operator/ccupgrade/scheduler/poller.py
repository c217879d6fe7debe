"""The poll loop: when to read which cluster. One CCE request per distinct cluster per interval.

Objects naming the same endpoint, project, cluster and Secret form a group that shares one read;
the result goes to the write fan-out (`writes.Writer`), which writes it only to the objects that
still match what was read. CCE, Secrets and Kubernetes writes are behind protocols (`ports`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ccupgrade.cce import (
    AllowList,
    AuthenticationError,
    CceError,
    ClusterTarget,
    CredentialsError,
    Endpoint,
    fingerprint,
    for_region,
)
from ccupgrade.mirror import Mirrored, Observed, Outcome, PollFailed, failed, mirror, suspended
from ccupgrade.models import (
    DEFAULT_POLL_INTERVAL,
    MIN_POLL_SECONDS,
    ObjectRef,
    PollKey,
    Reason,
    UpgradeSpec,
    UpgradeWorkflow,
    Watched,
)
from ccupgrade.scheduler.credentials import CredentialHealth, CredentialKey
from ccupgrade.scheduler.details import DetailFetcher, PeerBook
from ccupgrade.scheduler.intervals import IntervalPolicy, next_slot, parse_duration, slot_phase
from ccupgrade.scheduler.objects import ObjectStore
from ccupgrade.scheduler.ports import (
    CredentialSource,
    NoObserver,
    PollObserver,
    StatusSink,
    TaskSource,
    WorkflowSource,
)
from ccupgrade.scheduler.tasks import Supervisor
from ccupgrade.scheduler.writes import Derive, Ticket, Writer

log = logging.getLogger("ccupgrade.scheduler")
JOIN_DELAY = 0.5
MIN_WAIT = 0.001
SECRET_RETRY = 10.0  # the API server could not be asked for a Secret: try again this soon
NO_SPEC_RECHECK = 60.0  # s until a group none of whose members has a valid spec is looked at again

__all__ = ["CredentialSource", "PollObserver", "Scheduler", "SchedulerConfig", "StatusSink", "failure_of"]


def failure_of(error: CceError, secret_name: str) -> PollFailed:
    """The condition a failed read shows: the reason, hint and transience its error class carries."""
    return PollFailed(error.transient, error.reason, error.condition_message(secret_name))


@dataclass(frozen=True)
class SchedulerConfig:
    """What the operator's flags decide for the scheduler."""

    allow_list: AllowList = field(default_factory=AllowList)
    policy: IntervalPolicy = field(default_factory=IntervalPolicy)
    # Objects whose Events and status are being written at once. Bounding it is backpressure: in a
    # burst (every object changes at once) the writes queue here as small waiting coroutines, in
    # poll order, instead of as thousands of request bodies inside the I/O layer; and a cluster is
    # not polled again until its objects are written. (How many CCE requests are in flight is
    # bounded per endpoint by the client's gates, so one slow endpoint cannot starve another.)
    max_concurrent_writes: int = 64


@dataclass
class _Group:
    key: PollKey
    members: dict[ObjectRef, None] = field(default_factory=dict)  # a set that keeps arrival order
    next_due: float = 0.0
    phase: float = 0.0  # where in each interval its polls fall (a fraction): see intervals.slot_phase
    failures: int = 0
    running: bool = False
    rerun: bool = False  # a member's spec changed while a poll was under way
    credential_free_at: float = 0.0  # its credential is being left alone until then (after a refusal)


class Scheduler:
    """Decides when each group is read; hands every read to the writer."""

    def __init__(
        self,
        *,
        client: WorkflowSource,
        credentials: CredentialSource,
        sink: StatusSink,
        config: SchedulerConfig | None = None,
        observer: PollObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        tasks: TaskSource | None = None,
    ) -> None:
        self.client = client
        self.credentials = credentials
        self.config = config or SchedulerConfig()
        self.observer: PollObserver = observer or NoObserver()
        self._clock = clock
        self._rng = rng or random.Random()
        self._groups: dict[PollKey, _Group] = {}
        self._joined = itertools.count()  # groups made so far: the next one's slot
        self._where: dict[ObjectRef, PollKey] = {}
        self._wake = asyncio.Event()
        self._tasks = Supervisor()
        self._objects = ObjectStore()  # read here, kept current by the writer
        self._writer = Writer(
            sink,
            self.observer,
            self._tasks,
            max_concurrent=self.config.max_concurrent_writes,
            rng=self._rng,
            objects=self._objects,
        )
        self._credential_health = CredentialHealth(self.config.policy, clock)
        # The task details running tasks need (progress, pre-check findings); none without `tasks`.
        self._details = None if tasks is None else DetailFetcher(tasks)
        self._peers = PeerBook()

    # -- the watch stream feeds these --------------------------------------------------------

    def knows(self, ref: ObjectRef, resource_version: str | None, generation: int | None) -> bool:
        """Whether a watched version is one `upsert` would ignore (the echo of our own write), from
        its metadata: the watch handler then skips parsing it."""
        return self._writer.knows(ref, resource_version, generation)

    def upsert(self, watched: Watched) -> None:
        """A version from the watch: (re)joins its group; a new generation gets a poll soon."""
        ref = watched.ref
        taken, previous = self._writer.store(watched)
        if not taken:
            return
        spec_changed = previous is None or previous.generation != watched.generation
        key = watched.active_key
        old_key = self._where.get(ref)
        if old_key is not None and old_key != key:
            self._leave(ref, old_key)
        if key is None:
            if spec_changed:
                self._write_unpolled(watched)
            return
        group = self._groups.get(key)
        if group is None:
            phase = slot_phase(next(self._joined))
            group = self._groups[key] = _Group(key, next_due=self._clock() + JOIN_DELAY, phase=phase)
        group.members[ref] = None
        self._where[ref] = key
        if spec_changed:
            # A short delay gathers the objects that arrive together (the initial listing, a
            # kubectl apply of many) into one poll per cluster instead of one per object.
            group.next_due = min(group.next_due, self._clock() + JOIN_DELAY)
            group.rerun = group.rerun or group.running
            self._wake.set()

    def remove(self, ref: ObjectRef) -> None:
        """The object is gone: nothing more is polled or written for it."""
        self._writer.forget(ref)
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

    def _write_unpolled(self, watched: Watched) -> None:
        """Suspended objects and invalid specs: the status says so, nothing is polled. The write is
        retried like any other until it lands or the object changes."""
        derive: Derive
        if watched.spec is None:
            problem = PollFailed(False, Reason.INVALID_SPEC, f"{watched.spec_error or 'invalid spec'}: fix the object")

            def derive(current: Watched) -> Mirrored:
                return failed(current.status, problem, current.generation, datetime.now(UTC))
        else:

            def derive(current: Watched) -> Mirrored:
                return suspended(current.status, current.generation, datetime.now(UTC))

        write = self._writer.write(watched.ref, Ticket.of(watched), derive, fresh=False)
        self._tasks.spawn(write, name=f"write of {watched.ref}")

    # -- the loop -------------------------------------------------------------------------------

    @property
    def watched(self) -> int:
        """Every object known, polled or not (suspended, invalid spec)."""
        return len(self._objects)

    async def run(self) -> None:
        """Starts each group's poll when it is due; on exit, cancels every task it started."""
        try:
            while True:
                now = self._clock()
                soonest: float | None = None
                for group in list(self._groups.values()):
                    if group.running:
                        continue
                    if group.next_due <= now:
                        group.running = True
                        self._tasks.spawn(self._poll(group), name=f"poll of {_describe(group.key)}")
                    elif soonest is None or group.next_due < soonest:
                        soonest = group.next_due
                self._wake.clear()
                # Never a zero or sub-millisecond wait: a clock of coarse resolution (or float
                # rounding just short of a deadline) would otherwise spin here without moving.
                timeout = None if soonest is None else max(MIN_WAIT, soonest - self._clock())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
        finally:
            await self._tasks.close()

    async def _poll(self, group: _Group) -> None:
        started = self._clock()
        retry_soon = False
        try:
            # What is read is for these objects as they are now; one that changes meanwhile
            # (another cluster, suspend, a new generation) is left to its own poll.
            tickets = {ref: Ticket.of(w) for ref in group.members if (w := self._objects.get(ref)) is not None}
            spec = next((w.spec for ref in group.members if (w := self._objects.get(ref)) and w.spec), None)
            read = await self._read(group, spec)
            if read is None:
                retry_soon = True
                return
            outcome, label = read
            if label != "credential_backoff":  # a poll that did not ask CCE is no new failure
                group.failures = 0 if isinstance(outcome, Observed) else group.failures + 1
            self.observer.poll_finished(group.key, label, self._clock() - started)
            derive = self._deriver(outcome)
            fresh = isinstance(outcome, Observed)
            await asyncio.gather(
                *(self._writer.write(ref, ticket, derive, fresh=fresh) for ref, ticket in tickets.items())
            )
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug, not a CCE or Kubernetes failure: the loop survives, the next poll retries
            log.exception("poll of %s failed unexpectedly", _describe(group.key))
        finally:
            group.running = False
            if group.rerun:
                group.next_due = self._clock() + JOIN_DELAY
            elif retry_soon:
                group.next_due = self._clock() + min(SECRET_RETRY, self._next_interval(group))
            else:
                if group.failures:  # backing off: the whole (jittered) wait, from now
                    group.next_due = self._clock() + self._next_interval(group)
                else:  # at its slot: the groups' polls stay spread over the interval, bursts or not
                    group.next_due = next_slot(started, self._clock(), self._normal_interval(group), group.phase)
                if self._clock() < group.credential_free_at < group.next_due:
                    group.next_due = group.credential_free_at  # try the credential as soon as it may be
            group.rerun = False
            self._wake.set()

    def _deriver(self, outcome: Outcome) -> Derive:
        resync = self.config.policy.resync

        def derive(current: Watched) -> Mirrored:
            assert current.spec is not None  # the ticket matched: the spec is valid
            return mirror(current.status, outcome, current.spec, current.generation, datetime.now(UTC), resync)

        return derive

    def _normal_interval(self, group: _Group) -> float:
        intervals = [
            self.config.policy.for_status(_poll_seconds(w.spec), w.status, group.failures)
            for ref in group.members
            if (w := self._objects.get(ref)) is not None and w.spec is not None
        ]
        return min(intervals, default=NO_SPEC_RECHECK)

    def _next_interval(self, group: _Group) -> float:
        return self.config.policy.jittered(self._normal_interval(group), self._rng)

    async def _read(self, group: _Group, spec: UpgradeSpec | None) -> tuple[Outcome, str] | None:
        """(outcome, metrics label), or None if the Secret could not be read from the API server."""
        key = group.key
        if spec is None:
            return PollFailed(False, Reason.INVALID_SPEC, "no valid spec"), "configuration_error"
        try:
            endpoint = self._endpoint(spec)
            credentials = await self.credentials.credentials(key.namespace, key.secret_name)
        except CceError as error:
            log.info("poll of %s: %s", _describe(key), error)
            return failure_of(error, key.secret_name), "configuration_error"
        except Exception as error:  # the API server, not CCE: nothing to mirror, try again soon
            log.warning("poll of %s: Secret %r not read: %s", _describe(key), key.secret_name, error)
            return None
        target = ClusterTarget(endpoint, key.project_id, key.cluster_id, credentials)

        async def request() -> Outcome:
            try:
                listed = await self.client.list_upgrade_workflows(target)
                return await self._observed(target, listed.items)
            except CceError as error:
                if isinstance(error, AuthenticationError | CredentialsError):
                    self.credentials.forget(key.namespace, key.secret_name)  # a rotated Secret is re-read next time
                log.info("poll of %s: %s", _describe(key), error)
                return failure_of(error, key.secret_name)

        credential = CredentialKey(key.namespace, key.secret_name, endpoint.iam, fingerprint(credentials))
        outcome, requested = await self._credential_health.call(credential, request)
        group.credential_free_at = self._credential_health.blocked_until(credential)
        return outcome, (_outcome_label(outcome) if requested else "credential_backoff")

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


def _describe(key: PollKey) -> str:
    return f"{key.project_id}/{key.cluster_id}"


def _poll_seconds(spec: UpgradeSpec) -> float:
    try:
        return max(MIN_POLL_SECONDS, parse_duration(spec.poll_interval))
    except ValueError:  # the CRD's pattern, but out of range (beyond timedelta's): as if unset
        return parse_duration(DEFAULT_POLL_INTERVAL)


def _outcome_label(outcome: Outcome) -> str:
    if isinstance(outcome, Observed):
        return "success"
    return "transient_error" if outcome.transient else "configuration_error"
