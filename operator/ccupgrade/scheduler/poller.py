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
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from ccupgrade.cce import (
    AllowList,
    AuthenticationError,
    CceError,
    ClusterTarget,
    CredentialsError,
    Endpoint,
    TokenKey,
    fingerprint,
    for_region,
    host_header,
)
from ccupgrade.mirror import Mirrored, Observed, OutageWindows, Outcome, PollFailed, failed, mirror, suspended
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
from ccupgrade.scheduler.between_reads import BetweenFetcher, ClusterKey
from ccupgrade.scheduler.credential_backoff import CredentialHealth, CredentialKey
from ccupgrade.scheduler.details import DetailFetcher, PeerBook
from ccupgrade.scheduler.intervals import IntervalPolicy, next_slot, parse_duration, slot_phase
from ccupgrade.scheduler.objects import ObjectStore
from ccupgrade.scheduler.ports import (
    ClientCaches,
    CredentialSource,
    KeepsNothing,
    NoObserver,
    PollObserver,
    StatusSink,
    TaskSource,
    WorkflowSource,
)
from ccupgrade.scheduler.refs import Users
from ccupgrade.scheduler.supervisor import Supervisor
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
    outage: OutageWindows = field(default_factory=OutageWindows)  # when a CCE outage is announced, and over


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
    last_failure: datetime | None = None  # its latest read that CCE failed (transiently): see mirror.OutageWindows
    # What it holds of what is kept per cluster and per credential (see `Scheduler._release`).
    cluster: ClusterKey | None = None
    gates: tuple[str, ...] = ()  # the endpoint gates its requests pass (CCE's and IAM's)
    credential: CredentialKey | None = None
    token: TokenKey | None = None


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
        details: DetailFetcher | None = None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        between: BetweenFetcher | None = None,
        caches: ClientCaches | None = None,
    ) -> None:
        self.client = client
        self.caches: ClientCaches = caches if caches is not None else KeepsNothing()  # the client's own
        self._wall = wall  # the time that goes into status (tests on fake time move it with `clock`)
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
            on_gone=self.remove,
            objects=self._objects,
        )
        self._credential_health = CredentialHealth(self.config.policy, clock)
        # What CCE says of tasks: the details running tasks need (progress, pre-check findings) and
        # what it says between upgrades (version, targets, paths, console pre-checks); none without
        # `tasks` (tests give the fetchers themselves).
        if details is None and tasks is not None:
            details = DetailFetcher(tasks)
        self._details = details
        if between is None and tasks is not None:
            between = BetweenFetcher(tasks, self.config.policy.resync.total_seconds())
        self._between = between
        self._peers = PeerBook()
        # Kept per cluster, credential and Secret, while a poll group uses it (see `_release`).
        self._clusters: Users[ClusterKey] = Users(self._forget_cluster)
        self._credential_users: Users[CredentialKey] = Users(self._credential_health.forget)
        self._token_users: Users[TokenKey] = Users(self.caches.forget_token)
        self._secrets: Users[tuple[str, str]] = Users(lambda secret: self.credentials.forget(*secret))
        self._gate_users: Users[str] = Users(self.caches.forget_endpoint)
        self._endpoint_users: Users[str] = Users(self._forget_paths)  # endpoint hosts (their upgrade paths)

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
            self._secrets.take((key.namespace, key.secret_name))
        group.members[ref] = None
        self._where[ref] = key
        if spec_changed:
            # A short delay gathers the objects that arrive together (the initial listing, a
            # kubectl apply of many) into one poll per cluster instead of one per object.
            group.next_due = min(group.next_due, self._clock() + JOIN_DELAY)
            group.rerun = group.rerun or group.running
            self._wake.set()

    def remove(self, ref: ObjectRef) -> None:
        """The object is gone (a DELETED from the watch, or a write that found it gone): nothing
        more is polled or written for it, and its metrics series go."""
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
                self._secrets.drop((key.namespace, key.secret_name))
                if not group.running:  # otherwise its poll lets go when it ends
                    self._release(group)

    def _release(self, group: _Group) -> None:
        """A group that is gone lets go of its cluster and credential: what is kept for them (past
        task runs, ended pre-checks, refusal counts, an IAM token) goes when no group holds them."""
        if group.cluster is not None:
            self._clusters.drop(group.cluster)
            self._endpoint_users.drop(group.cluster[0])
            group.cluster = None
        for host in group.gates:
            self._gate_users.drop(host)
        group.gates = ()
        self._hold_credential(group, None, None)

    def _hold_credential(self, group: _Group, credential: CredentialKey | None, token: TokenKey | None) -> None:
        if group.credential != credential:  # a rotated Secret is another credential
            if group.credential is not None:
                self._credential_users.drop(group.credential)
            if credential is not None:
                self._credential_users.take(credential)
            group.credential = credential
        if group.token != token:
            if group.token is not None:
                self._token_users.drop(group.token)
            if token is not None:
                self._token_users.take(token)
            group.token = token

    def _forget_cluster(self, cluster: ClusterKey) -> None:
        self._peers.forget(cluster)
        if self._details is not None:
            self._details.forget(cluster)
        if self._between is not None:
            self._between.forget(cluster)

    def _forget_paths(self, host: str) -> None:
        if self._between is not None:
            self._between.forget_paths(host)

    def _write_unpolled(self, watched: Watched) -> None:
        """Suspended objects and invalid specs: the status says so, nothing is polled. The write is
        retried like any other until it lands or the object changes."""
        derive: Derive
        if watched.spec is None:
            problem = PollFailed(False, Reason.INVALID_SPEC, f"{watched.spec_error or 'invalid spec'}: fix the object")

            def derive(current: Watched) -> Mirrored:
                return failed(current.status, problem, current.generation, self._wall())
        else:

            def derive(current: Watched) -> Mirrored:
                return suspended(current.status, current.generation, self._wall())

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
            if isinstance(outcome, PollFailed) and outcome.transient:
                group.last_failure = self._wall()
            elif isinstance(outcome, Observed):
                outcome = replace(outcome, last_failure=group.last_failure)
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
            if self._groups.get(group.key) is not group:  # left while it polled: let go now
                self._release(group)
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
        resync, windows = self.config.policy.resync, self.config.outage

        def derive(current: Watched) -> Mirrored:
            assert current.spec is not None  # the ticket matched: the spec is valid
            return mirror(current.status, outcome, current.spec, current.generation, self._wall(), resync, windows)

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
        if group.cluster is None:
            group.cluster = (endpoint.host, key.project_id, key.cluster_id)
            self._clusters.take(group.cluster)
            self._endpoint_users.take(endpoint.host)
            group.gates = (host_header(endpoint.cce), host_header(endpoint.iam))
            for host in group.gates:
                self._gate_users.take(host)

        async def request() -> Outcome:
            try:
                listed = await self.client.list_upgrade_workflows(target)
                return await self._observed(key, target, listed.items)
            except CceError as error:
                if isinstance(error, AuthenticationError | CredentialsError):
                    self.credentials.forget(key.namespace, key.secret_name)  # a rotated Secret is re-read next time
                log.info("poll of %s: %s", _describe(key), error)
                return failure_of(error, key.secret_name)

        credential = CredentialKey(key.namespace, key.secret_name, endpoint.iam, fingerprint(credentials))
        self._hold_credential(group, credential, (endpoint.iam, key.project_id, credential.fingerprint))
        outcome, requested = await self._credential_health.call(credential, request)
        group.credential_free_at = self._credential_health.blocked_until(credential)
        return outcome, (_outcome_label(outcome) if requested else "credential_backoff")

    async def _observed(self, key: PollKey, target: ClusterTarget, workflows: list[UpgradeWorkflow]) -> Observed:
        """The workflows, the details their running tasks need (each call failing on its own), peers,
        and what CCE says between upgrades (read only while none of the workflows is active)."""
        cluster = (target.endpoint.host, target.project_id, target.cluster_id)
        self._peers.record(cluster, workflows)
        between = None
        if self._between is not None:
            between = await self._between.fetch(cluster, target, workflows)
        if self._details is None:
            return Observed(workflows, peers=self._peers.peers_of(cluster), between=between)
        details = await self._details.fetch(target, workflows)
        return Observed(workflows, details, self._peers.peers_of(cluster), between=between)

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
