"""The Event stage: a result's Events stamped into the status written first, posted after it.

Status first, Events after: each Event gets its deterministic name and a microsecond eventTime
and is recorded in the status (`eventJournal`) that the writer writes; a bounded pool of posters
then posts them in order, yielding to every pending status write, so in a burst users see each
new status before its Events. A crash in between loses nothing: the next operator finds them in
the stored status and posts those that are not there yet (`EventStage.recover`; a 409 still means
the Event is already there).

Every journal entry that reaches the API server is posted (or found there) before it can leave the
journal: the entries of any stored status we learn of (the answer to our write, the re-read after a
409, a version another writer stored) are queued unless known (`EventStage.adopt`), and every status
we write carries the object's unposted entries. In-process nothing is dropped: an object's queue is
not bounded, only its stored journal is (the newest MAX_RECORDED_EVENTS entries, a CRD limit).

What a crash can lose: of one object's Events not yet posted when the process dies, all but the
newest MAX_RECORDED_EVENTS (32); that takes more than 32 of its Events waiting at once (a burst of
transitions while the API server refuses Events), and each such cut is logged as a WARNING. After a
restart, journal entries older than the Event TTL are not posted again (EVENT_TTL, below).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from ccupgrade.mirror import Mirrored
from ccupgrade.models import MAX_RECORDED_EVENTS, ObjectRef, RecordedEvent
from ccupgrade.scheduler.ports import PollObserver, StatusSink, WriteFailed
from ccupgrade.scheduler.supervisor import Supervisor
from ccupgrade.scheduler.write_retry import retry_delay

log = logging.getLogger("ccupgrade.scheduler")

_MICROSECOND = timedelta(microseconds=1)
EVENT_WAIT_MAX = 30.0  # s a poster yields to status writes before it posts one Event beside them
EVENT_SETTLE = 0.5  # s without status writes before Events are posted: a burst's writes come closer
EVENT_TTL = timedelta(hours=1)  # kube-apiserver's --event-ttl default: an older Event is gone anyway
# How far ahead of this clock an earlier Event's time may be and still be followed (a microsecond
# per Event keeps a result's Events in order; more than this is another clock, not a fast burst).
CLOCK_SLACK = timedelta(seconds=1)
# s a namespace's Event listing is kept after a start: it answers for the journals the watch's first
# listing brings; a later first sight lists again (kept for good, 200,000 names held 27 MB).
LISTING_KEPT = 60.0


def journal_digest(journal: list[RecordedEvent] | None) -> bytes:
    """What identifies a stored journal: a digest of its entries' names (16 bytes an object, where
    the names themselves took ~0.5 KB)."""
    digest = hashlib.blake2b(digest_size=16)
    for record in journal or ():
        digest.update(record.name.encode())
        digest.update(b"\0")
    return digest.digest()


class StatusActivity:
    """Whether status writes are under way, and since when there have been none: the Event stage
    waits for the status writes of a burst to settle, not merely for a gap between two of them.

    In a burst the polls of different clusters are spread over the interval, so the status writes
    come a few at a time with gaps between them; Events posted in those gaps took the API server's
    time from the status writes still to come (an Event POST costs it a fifth of a status patch, and
    a change of phase brings up to four per object)."""

    def __init__(self, settle: float = EVENT_SETTLE) -> None:
        self.settle = settle
        self.pending = 0  # status writes waiting for or holding a slot
        self.idle = asyncio.Event()
        self.idle.set()
        self._written_at = -math.inf  # loop time when the last status PATCH ended

    def began(self) -> None:
        """A status write waits for a slot (most find nothing changed and end without a request)."""
        self.pending += 1
        self.idle.clear()

    def ended(self) -> None:
        """A status write is over (written, failed or nothing to write)."""
        self.pending -= 1
        if not self.pending:
            self.idle.set()

    def written(self) -> None:
        """A status PATCH has ended (either way). Only these count: every poll passes each of its
        objects through the writer, and at 100 clusters on a 5 s interval one poll with nothing to
        write comes every 50 ms."""
        self._written_at = asyncio.get_running_loop().time()

    @property
    def settled(self) -> bool:
        """No status write waits, and none has for `settle` seconds."""
        return self.idle.is_set() and asyncio.get_running_loop().time() - self._written_at >= self.settle

    async def wait_idle(self, limit: float) -> bool:
        """Waits until no status write is pending: True if none is, False after `limit` s."""
        if self.idle.is_set():
            return True
        try:
            await asyncio.wait_for(self.idle.wait(), limit)
        except TimeoutError:
            return False
        return True

    async def wait_settled(self, limit: float) -> bool:
        """Waits until the status writes have settled: True if they have, False after `limit` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while not self.settled:
            left = deadline - loop.time()
            if left <= 0:
                return False
            if not self.idle.is_set():
                try:
                    await asyncio.wait_for(self.idle.wait(), left)
                except TimeoutError:
                    return False
            else:
                # never a sub-millisecond sleep: a coarse clock would wake it at the same moment, forever
                await asyncio.sleep(max(0.001, min(left, self._written_at + self.settle - loop.time())))
        return True


class EventStage:
    """Stamps, records and posts Events after the status writes they belong to (see the module)."""

    def __init__(
        self,
        sink: StatusSink,
        observer: PollObserver,
        supervisor: Supervisor,
        *,
        slots: asyncio.Semaphore,
        status: StatusActivity,
        max_posters: int,
        rng: random.Random,
        event_ttl: timedelta = EVENT_TTL,
        on_posted: Callable[[ObjectRef], None] = lambda ref: None,
    ) -> None:
        self._sink = sink
        self._on_posted = on_posted  # every Event of the object is posted (or known to be there)
        self._observer = observer
        self._supervisor = supervisor
        self._slots = slots  # shared with the status writes: an Event post takes one too
        self._status = status  # the status writes, which go first
        self._rng = rng
        self._unposted: dict[ObjectRef, list[RecordedEvent]] = {}  # in the stored status, not yet posted
        self._posting: set[ObjectRef] = set()  # objects ready, being posted or waiting for a retry
        self._ready: deque[ObjectRef] = deque()  # objects whose next Event can be posted now
        self._event_failures: dict[ObjectRef, int] = {}
        self._posters = 0
        self._max_posters = max_posters
        self._last_moment: dict[ObjectRef, datetime] = {}
        self._event_ttl = event_ttl
        self._unverified: dict[ObjectRef, set[str]] = {}  # journal entries found at first sight, not yet checked
        self._listed: dict[str, frozenset[str] | None] = {}  # per namespace: our Events there (None: unknown)
        self._listing = False
        self._adopted: dict[ObjectRef, bytes] = {}  # digest of the last stored journal whose entries are queued

    def forget(self, ref: ObjectRef) -> None:
        """The object was deleted: nothing more is posted for it."""
        self._unposted.pop(ref, None)  # a poster sees this and drops the object
        self._unverified.pop(ref, None)
        self._event_failures.pop(ref, None)
        self._last_moment.pop(ref, None)
        self._adopted.pop(ref, None)

    def stamp(self, ref: ObjectRef, result: Mirrored) -> tuple[Mirrored, list[RecordedEvent]]:
        """The result with its Events stamped into the status, after those still unposted; and the
        result's own records (all of them, also those the journal's bound leaves out).

        eventTime grows by at least a microsecond per Event, across results too, so the Events of
        an object sort in causal order by eventTime as well as by name."""
        records = list(self._unposted.get(ref, ()))
        carried = len(records)
        moment = self._last_moment.get(ref) or (records[-1].event_time if records else None)
        queued = {r.name for r in records}
        now = datetime.now(UTC)
        if moment is not None and moment - now > CLOCK_SLACK:
            # Stamped by a clock ahead of ours (a former leader's, or ours before it was set back):
            # following it would date every later Event of the object in the future, for good.
            log.warning("%s: last Event stamped %s, ahead of this clock; stamping from now", ref, moment)
            moment = None
        for event in result.events:
            if event.name_for(ref.name, ref.uid) in queued:
                continue  # the same transition derived again (a retry after a refusal): once is enough
            now = datetime.now(UTC)
            moment = now if moment is None else max(now, moment + _MICROSECOND)
            records.append(
                RecordedEvent(
                    name=event.name_for(ref.name, ref.uid),
                    type=event.type,
                    reason=event.reason,
                    message=event.message,  # cut to EVENT_MESSAGE_BYTES by the model (EventMessage)
                    event_time=moment,
                )
            )
        fresh = records[carried:]
        if len(records) > MAX_RECORDED_EVENTS:
            log.warning(
                "%s: %d Events not yet posted; they are all posted, but only the newest %d would survive a crash",
                ref,
                len(records),
                MAX_RECORDED_EVENTS,
            )
            records = records[-MAX_RECORDED_EVENTS:]
        status = result.status.model_copy(update={"event_journal": records or None})
        return replace(result, status=status, changed=result.changed or bool(result.events)), fresh

    def written(self, ref: ObjectRef, fresh: list[RecordedEvent], journal: list[RecordedEvent] | None) -> None:
        """Our status write is stored as sent: its own Events are queued (the carried ones are already)."""
        self._adopted[ref] = journal_digest(journal)
        if fresh:
            self.queue(ref, fresh)

    def adopt(self, ref: ObjectRef, journal: list[RecordedEvent] | None) -> None:
        """A stored status we did not write as we sent it (a write whose answer was lost, then a 409
        re-read; a version another writer stored): its entries not queued yet are posted, so none
        can leave the journal unposted with our next write. Those already posted answer 409. The
        same journal seen again (a spec change, a re-list) queues nothing."""
        if not journal or ref in self._unverified:
            return  # nothing to post; or the start's check of this object's journal still runs
        digest = journal_digest(journal)
        if self._adopted.get(ref) == digest:
            return
        self._adopted[ref] = digest
        known = {r.name for r in self._unposted.get(ref, ())}
        unknown = [r for r in journal if r.name not in known]
        if unknown:
            log.info("%s: %d stored journal entries not known as posted: posting them", ref, len(unknown))
            self.queue(ref, unknown)

    def queue(self, ref: ObjectRef, records: list[RecordedEvent]) -> None:
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

    def recover(self, ref: ObjectRef, journal: list[RecordedEvent]) -> None:
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
        self._adopted[ref] = journal_digest(journal)
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
                self._supervisor.spawn(self._drop_listing(namespace), name=f"Event listing of {namespace}")
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

    async def _drop_listing(self, namespace: str) -> None:
        await asyncio.sleep(LISTING_KEPT)
        self._listed.pop(namespace, None)

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
            self._on_posted(ref)

    def _start_posters(self) -> None:
        # A bounded set of posters, not a task per object: each status write that ends a burst
        # wakes only these, however many objects have Events waiting.
        while self._posters < min(self._max_posters, len(self._ready)):
            self._posters += 1
            self._supervisor.spawn(self._poster(), name="event poster")

    async def _poster(self) -> None:
        """Posts the next Event of the next ready object once the status writes have settled; an
        object is in the ready queue at most once, so its Events go one after another, in order.

        Status writes that never settle (a fleet whose tasks' percentages move at every poll) would
        hold the Events back, and a stored journal holds only 32: a poster that has waited EVENT_WAIT_MAX
        for them to settle posts in the gaps between them instead, until it sees them settled again;
        status writes that never even pause (more changes than the API server takes) still let it
        post one Event per EVENT_WAIT_MAX, queueing for a slot beside them."""
        gaps = False  # waited EVENT_WAIT_MAX for the status writes to settle: post between them
        try:
            while self._ready:
                if gaps:
                    starved = not await self._status.wait_idle(EVENT_WAIT_MAX)
                else:
                    starved = not self._status.settled and not await self._status.wait_settled(EVENT_WAIT_MAX)
                    gaps = starved
                async with self._slots:
                    if not self._ready:
                        return
                    if not (starved or self._status.settled or (gaps and self._status.idle.is_set())):
                        continue  # a status write arrived while we waited for the slot: it goes first
                    if self._status.settled:
                        gaps = False
                    ref = self._ready.popleft()
                    queued = self._unposted.get(ref)
                    if not queued:  # all posted, or the object is gone
                        gone = self._unposted.pop(ref, None) is None
                        self._posting.discard(ref)
                        if not gone:
                            self._on_posted(ref)
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
        delay = retry_delay(failures, self._rng)
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
