"""The write fan-out: each object's latest known version, and writing a result to it.

Holds what the write side needs and nothing of timing: the per-object records (frozen, replaced
on every new version), the bounded write slots, the conflict loop, echo suppression and the
retry of failed writes.

Status first, Events after: a result's Events are stamped (name, eventTime) and recorded in the
status (`eventJournal`) that is written first; they are posted afterwards, in order, by a
lower-priority stage that waits while any status write is pending. A crash in between loses
nothing: the next operator finds them in the stored status and posts those that are not there
yet (see `Writer._recover`; a 409 still means the Event is already there).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from ccupgrade.mirror import Mirrored
from ccupgrade.models import MAX_RECORDED_EVENTS, ObjectRef, PollKey, RecordedEvent, Watched
from ccupgrade.scheduler.ports import PollObserver, StatusSink, WriteFailed
from ccupgrade.scheduler.tasks import Supervisor

log = logging.getLogger("ccupgrade.scheduler")

MAX_CONFLICTS = 3  # 409s in a row before the write is retried later instead of at once
RETRY_BASE = 1.0
RETRY_CAP = 60.0
_ECHOES_KEPT = 32
_MICROSECOND = timedelta(microseconds=1)
EVENT_WAIT_MAX = 30.0  # s a poster yields to status writes before it posts one Event beside them
EVENT_TTL = timedelta(hours=1)  # kube-apiserver's --event-ttl default: an older Event is gone anyway


@dataclass(frozen=True)
class Ticket:
    """What a result was derived for: the object's poll key (None: not polled) and generation.

    A result is written only while the object still matches it; a changed spec (another cluster,
    `suspend`, a fixed or broken spec) gets its own result instead of the old poll's."""

    key: PollKey | None
    generation: int | None

    @classmethod
    def of(cls, watched: Watched) -> Ticket:
        """The ticket for what this version asks to be polled (or not)."""
        return cls(watched.active_key, watched.generation)

    def matches(self, watched: Watched) -> bool:
        """Whether this version still asks for exactly the poll the ticket was taken for."""
        return watched.generation == self.generation and watched.active_key == self.key


Derive = Callable[[Watched], Mirrored]


@dataclass(frozen=True)
class _Job:
    ticket: Ticket
    derive: Derive  # computed when the slot is obtained, from the latest stored status
    fresh: bool  # from a successful CCE read
    seq: int


class Conflicted(Exception):
    """The status kept changing under our writes (409 after 409)."""


class Writer:
    """Writes results to objects, at most `max_concurrent` at a time, retrying failures with backoff."""

    def __init__(
        self,
        sink: StatusSink,
        observer: PollObserver,
        supervisor: Supervisor,
        *,
        max_concurrent: int,
        rng: random.Random | None = None,
        event_ttl: timedelta = EVENT_TTL,
    ) -> None:
        self._sink = sink
        self._observer = observer
        self._supervisor = supervisor
        self._rng = rng or random.Random()
        self._slots = asyncio.Semaphore(max_concurrent)
        self._records: dict[ObjectRef, Watched] = {}
        self._written: dict[ObjectRef, deque[str]] = {}
        self._latest: dict[ObjectRef, int] = {}
        self._failures: dict[ObjectRef, int] = {}
        self._seq = itertools.count()
        self._unposted: dict[ObjectRef, list[RecordedEvent]] = {}  # in the stored status, not yet posted
        self._posting: set[ObjectRef] = set()  # objects ready, being posted or waiting for a retry
        self._ready: deque[ObjectRef] = deque()  # objects whose next Event can be posted now
        self._event_failures: dict[ObjectRef, int] = {}
        self._posters = 0
        self._max_posters = max_concurrent
        self._last_moment: dict[ObjectRef, datetime] = {}
        self._status_pending = 0  # status writes waiting for or holding a slot
        self._status_idle = asyncio.Event()
        self._status_idle.set()
        self._event_ttl = event_ttl
        self._unverified: dict[ObjectRef, set[str]] = {}  # journal entries found at first sight, not yet checked
        self._listed: dict[str, frozenset[str] | None] = {}  # per namespace: our Events there (None: unknown)
        self._listing = False

    # -- the records ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._records)

    def get(self, ref: ObjectRef) -> Watched | None:
        """The latest version known (from the watch or from our own write)."""
        return self._records.get(ref)

    def store(self, watched: Watched) -> tuple[bool, Watched | None]:
        """Takes a version from the watch: (taken, the version before). A late echo of one of our
        earlier writes, arriving after a later one, is not taken: it would undo what we know."""
        previous = self._records.get(watched.ref)
        if previous is not None and self._is_stale_echo(previous, watched):
            return False, previous
        self._records[watched.ref] = watched
        if previous is None and watched.status is not None and watched.status.event_journal:
            # First sight (after a start): the last change's Events may have been cut off by a crash.
            self._recover(watched.ref, watched.status.event_journal)
        return True, previous

    def forget(self, ref: ObjectRef) -> None:
        """The object was deleted: its record goes, and any pending retry stops."""
        self._records.pop(ref, None)
        self._written.pop(ref, None)
        self._latest.pop(ref, None)  # a pending retry sees this and stops
        self._failures.pop(ref, None)
        self._unposted.pop(ref, None)  # a poster sees this and drops the object
        self._unverified.pop(ref, None)
        self._event_failures.pop(ref, None)
        self._last_moment.pop(ref, None)

    def _is_stale_echo(self, current: Watched, incoming: Watched) -> bool:
        ours = self._written.get(current.ref, ())
        return (
            incoming.resource_version in ours
            and incoming.resource_version != current.resource_version
            and incoming.generation == current.generation
        )

    def _remember(self, stored: Watched) -> None:
        if stored.resource_version:
            self._written.setdefault(stored.ref, deque(maxlen=_ECHOES_KEPT)).append(stored.resource_version)
        previous = self._records.get(stored.ref)
        if previous is not None and previous.generation == stored.generation:
            # A new record, never a change to the old one: a write under way elsewhere keeps the
            # version (and resourceVersion precondition) it derived its status from.
            self._records[stored.ref] = replace(
                previous, status=stored.status, resource_version=stored.resource_version
            )

    # -- writing --------------------------------------------------------------------------------

    async def write(self, ref: ObjectRef, ticket: Ticket, derive: Derive, *, fresh: bool) -> None:
        """One attempt now; if it fails, retries follow in the background until a newer result
        for the object supersedes this one, the object changes or goes, or a retry succeeds."""
        seq = next(self._seq)
        self._latest[ref] = seq
        await self._attempt(ref, _Job(ticket, derive, fresh, seq))

    async def _attempt(self, ref: ObjectRef, job: _Job) -> None:
        self._status_pending += 1
        self._status_idle.clear()
        try:
            # The status is computed inside the slot: thousands of objects waiting in a burst hold
            # only the shared poll outcome, and each starts from its latest stored status.
            async with self._slots:
                if self._latest.get(ref) != job.seq:
                    return  # superseded by a newer result, or the object is gone
                await self._write(ref, job)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a write must never take its poll or its siblings down
            self._failed(ref, job, error)
        else:
            if self._failures.pop(ref, 0):
                log.info("%s: written after earlier failures", ref)
        finally:
            self._status_pending -= 1
            if not self._status_pending:
                self._status_idle.set()

    async def _write(self, ref: ObjectRef, job: _Job) -> None:
        for _ in range(MAX_CONFLICTS):
            current = self._records.get(ref)
            if current is None or not job.ticket.matches(current):
                return  # changed since the result was derived: it gets its own
            result = job.derive(current)
            self._observer.object_mirrored(current, result, job.fresh)
            if not result.changed and not result.events:
                return
            fresh_names = {event.name_for(ref.name, ref.uid) for event in result.events}
            result = self._recording_events(ref, result)
            stored = await self._sink.publish(current, result)
            if stored is None:
                return
            self._remember(stored)
            if stored.generation != current.generation:
                return  # the spec changed under the write: the watch brings the new version
            if stored.status == result.status:
                if fresh_names and result.status.event_journal:  # the carried ones are queued already
                    self._queue_events(ref, [r for r in result.status.event_journal if r.name in fresh_names])
                return
            # 409: the stored status moved; recompute from it (the loop re-checks the ticket)
        raise Conflicted(f"the status changed under {MAX_CONFLICTS} writes in a row")

    def _failed(self, ref: ObjectRef, job: _Job, error: Exception) -> None:
        failures = self._failures[ref] = self._failures.get(ref, 0) + 1
        code = error.code if isinstance(error, WriteFailed) else type(error).__name__
        self._observer.write_failed(ref, code)
        ceiling = min(RETRY_CAP, RETRY_BASE * 2.0 ** min(failures - 1, 16))
        delay = self._rng.uniform(ceiling / 2, ceiling)
        if failures == 1:  # once per streak; the recovery is logged too
            if isinstance(error, WriteFailed | Conflicted):
                log.warning("%s: not written (%s); retrying in %.1fs", ref, error, delay)
            else:
                log.error("%s: write failed; retrying in %.1fs", ref, delay, exc_info=error)
        else:
            log.debug("%s: not written again (%s); retry %d in %.1fs", ref, error, failures, delay)
        self._supervisor.spawn(self._retry(ref, job, delay), name=f"write retry for {ref}")

    async def _retry(self, ref: ObjectRef, job: _Job, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._latest.get(ref) == job.seq:
            await self._attempt(ref, job)

    # -- Events: after the status, at lower priority ------------------------------------------------

    def _recording_events(self, ref: ObjectRef, result: Mirrored) -> Mirrored:
        """The result with its Events stamped into the status, after those still unposted.

        eventTime grows by at least a microsecond per Event, across results too, so the Events of
        an object sort in causal order by eventTime as well as by name."""
        records = list(self._unposted.get(ref, ()))
        moment = self._last_moment.get(ref) or (records[-1].event_time if records else None)
        for event in result.events:
            now = datetime.now(UTC)
            moment = now if moment is None else max(now, moment + _MICROSECOND)
            records.append(
                RecordedEvent(
                    name=event.name_for(ref.name, ref.uid),
                    type=event.type,
                    reason=event.reason,
                    message=event.message[:1024],
                    event_time=moment,
                )
            )
        if len(records) > MAX_RECORDED_EVENTS:
            log.warning(
                "%s: %d Events not yet posted; only the newest %d survive a crash",
                ref,
                len(records),
                MAX_RECORDED_EVENTS,
            )
            records = records[-MAX_RECORDED_EVENTS:]
        status = result.status.model_copy(update={"event_journal": records or None})
        return replace(result, status=status, changed=result.changed or bool(result.events))

    def _queue_events(self, ref: ObjectRef, records: list[RecordedEvent]) -> None:
        """These Events are in the stored status: post them (again) unless already under way."""
        queued = self._unposted.setdefault(ref, [])
        known = {r.name for r in queued}
        queued.extend(r for r in records if r.name not in known)
        if queued:
            latest = queued[-1].event_time
            self._last_moment[ref] = max(self._last_moment.get(ref, latest), latest)
        self._make_ready(ref)

    def _make_ready(self, ref: ObjectRef) -> None:
        if ref in self._unverified:
            return  # its journal is being checked against the Events there; _verify readies it
        if ref not in self._posting:  # in the ready queue, being posted or waiting for a retry
            self._posting.add(ref)
            self._ready.append(ref)
            self._start_posters()

    # -- after a start: the journal entries that may not have been posted ----------------------------

    def _recover(self, ref: ObjectRef, journal: list[RecordedEvent]) -> None:
        """First sight of a status with an `eventJournal`: post the entries that are not there yet.

        The journal keeps the last change's Events until the next status write, so nearly all of
        them were posted long ago; re-posting each (a 409 apiece) cost about 4 POSTs per object at
        every start. Instead the Events we posted in the object's namespace are listed once per
        namespace (one paginated LIST, fieldSelector `source=cce-upgrade-operator`), and an entry
        is posted only if it is not among them and younger than the API server's Event TTL (an
        older one was either posted and has expired, or would show a long-past change as new).
        The list is sound because it is taken after this operator started, so after the previous
        one stopped posting (SIGKILLed, or exited on losing its Lease); an Event posted after all
        answers 409 to our POST. If the list fails, every young entry is posted (409s, as before).
        Until its entries are checked they stay in `_unposted`, so a status written meanwhile
        still carries them."""
        queued = self._unposted.setdefault(ref, [])
        known = {r.name for r in queued}
        queued.extend(r for r in journal if r.name not in known)
        latest = journal[-1].event_time
        self._last_moment[ref] = max(self._last_moment.get(ref, latest), latest)
        self._unverified.setdefault(ref, set()).update(r.name for r in journal)
        if ref.namespace in self._listed:
            self._verify(ref)
        elif not self._listing:
            self._listing = True
            self._supervisor.spawn(self._list_and_verify(), name="Event listing")

    async def _list_and_verify(self) -> None:
        """Lists one namespace at a time (a read each, never several at once), then checks its objects."""
        try:
            while pending := sorted({r.namespace for r in self._unverified if r.namespace not in self._listed}):
                namespace = pending[0]
                try:
                    names: frozenset[str] | None = frozenset(await self._sink.event_names(namespace))
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    log.warning(
                        "could not list the Events in %s (%s): posting the journals' young entries "
                        "there again (those already posted answer 409)",
                        namespace,
                        error,
                    )
                    names = None
                self._listed[namespace] = names
                refs = [r for r in self._unverified if r.namespace == namespace]
                for ref in refs:
                    self._verify(ref)
                again = sum(len(self._unposted.get(ref, ())) for ref in refs)
                log.info(
                    "%s: %s Events of ours listed; %d journal entries of %d objects to post",
                    namespace,
                    "?" if names is None else len(names),
                    again,
                    len(refs),
                )
        finally:
            self._listing = False

    def _verify(self, ref: ObjectRef) -> None:
        names = self._unverified.pop(ref, None)
        if names is None:
            return
        listed = self._listed.get(ref.namespace)
        horizon = datetime.now(UTC) - self._event_ttl

        def posted_or_gone(record: RecordedEvent) -> bool:
            if record.name not in names:
                return False  # from a change after the start: posted as usual
            return (listed is not None and record.name in listed) or record.event_time < horizon

        queued = [r for r in self._unposted.get(ref, ()) if not posted_or_gone(r)]
        if queued:
            self._unposted[ref] = queued
            self._make_ready(ref)
        else:
            self._unposted.pop(ref, None)

    def _start_posters(self) -> None:
        # A bounded set of posters, not a task per object: each status write that ends a burst
        # wakes only these, however many objects have Events waiting.
        while self._posters < min(self._max_posters, len(self._ready)):
            self._posters += 1
            self._supervisor.spawn(self._poster(), name="event poster")

    async def _poster(self) -> None:
        """Posts the next Event of the next ready object while no status write is pending; an
        object is in the ready queue at most once, so its Events go one after another, in order.

        Status writes that never pause (more changes than the API server takes) would starve the
        Events, and a journal holds only 32: after EVENT_WAIT_MAX a poster posts one Event anyway,
        queueing for a slot beside the status writes."""
        try:
            while self._ready:
                starved = False
                if not self._status_idle.is_set():
                    try:
                        await asyncio.wait_for(self._status_idle.wait(), EVENT_WAIT_MAX)
                    except TimeoutError:
                        starved = True
                async with self._slots:
                    if not self._ready:
                        return
                    if not self._status_idle.is_set() and not starved:
                        continue  # a status write arrived while we waited for the slot: it goes first
                    ref = self._ready.popleft()
                    queued = self._unposted.get(ref)
                    if not queued:  # all posted, or the object is gone
                        self._unposted.pop(ref, None)
                        self._posting.discard(ref)
                        continue
                    record = queued[0]
                    try:
                        await self._sink.post_event(ref, record)
                    except asyncio.CancelledError:
                        raise
                    except Exception as error:
                        self._event_failed(ref, record, error)
                        continue
                self._event_failures.pop(ref, None)
                if queued and queued[0].name == record.name:
                    queued.pop(0)
                self._ready.append(ref)  # its next Event, or the cleanup when there is none
        finally:
            self._posters -= 1

    def _event_failed(self, ref: ObjectRef, record: RecordedEvent, error: Exception) -> None:
        failures = self._event_failures[ref] = self._event_failures.get(ref, 0) + 1
        code = error.code if isinstance(error, WriteFailed) else type(error).__name__
        self._observer.write_failed(ref, code)
        ceiling = min(RETRY_CAP, RETRY_BASE * 2.0 ** min(failures - 1, 16))
        delay = self._rng.uniform(ceiling / 2, ceiling)
        log.log(
            logging.WARNING if failures == 1 else logging.DEBUG,
            "%s: Event %s not posted (%s); retrying in %.1fs",
            ref,
            record.reason,
            error,
            delay,
        )
        self._supervisor.spawn(self._ready_later(ref, delay), name=f"event retry for {ref}")

    async def _ready_later(self, ref: ObjectRef, delay: float) -> None:
        await asyncio.sleep(delay)
        self._ready.append(ref)
        self._start_posters()
