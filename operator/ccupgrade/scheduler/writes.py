"""The write fan-out: each object's latest known version, and writing a result to it.

Holds what the write side needs and nothing of timing: it keeps the per-object records current
(`objects.ObjectStore`, shared with the scheduler; frozen, replaced on every new version), and holds
the bounded write slots, the conflict loop, echo suppression and the retry of failed writes.

Status first, Events after: a result's Events are stamped and recorded in the status written
first (`eventJournal`); `events.EventStage` posts them afterwards, yielding to these writes.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from ccupgrade.mirror import Mirrored, refused
from ccupgrade.models import ObjectRef, PollKey, RecordedEvent, Watched
from ccupgrade.scheduler.event_stage import EVENT_TTL, EventStage, StatusActivity
from ccupgrade.scheduler.objects import ObjectStore
from ccupgrade.scheduler.ports import ObjectGone, PollObserver, StatusRefused, StatusSink, WriteFailed
from ccupgrade.scheduler.supervisor import Supervisor
from ccupgrade.scheduler.write_retry import retry_delay

log = logging.getLogger("ccupgrade.scheduler")

MAX_CONFLICTS = 3  # 409s in a row before the write is retried later instead of at once
_ECHOES_KEPT = 32


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


def _fingerprint(result: Mirrored) -> bytes:
    """What identifies a result's observation (its Events follow from it), to know one refused
    before: the status but its conditions (re-derived from the stored ones, whose transition times
    the fallback write moves) and lastSyncTime."""
    document = result.documents[1] if result.documents else result.status.document()
    observed = {k: v for k, v in document.items() if k not in {"conditions", "lastSyncTime"}}
    return hashlib.blake2b(json.dumps(observed, sort_keys=True, default=str).encode(), digest_size=16).digest()


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
        on_gone: Callable[[ObjectRef], None] = lambda ref: None,
        objects: ObjectStore | None = None,
    ) -> None:
        self._sink = sink
        self._on_gone = on_gone  # a write found the object deleted: everything kept for it goes
        self._observer = observer
        self._supervisor = supervisor
        self._rng = rng or random.Random()
        self._slots = asyncio.Semaphore(max_concurrent)
        self.objects = ObjectStore() if objects is None else objects  # shared with the scheduler, which reads it
        self._written: dict[ObjectRef, list[str]] = {}  # our writes' resourceVersions, oldest first
        self._latest: dict[ObjectRef, int] = {}
        self._failures: dict[ObjectRef, int] = {}
        self._refused: dict[ObjectRef, bytes] = {}  # the status the API server refused for good, if any
        self._seq = itertools.count()
        self._status = StatusActivity()
        self._events = EventStage(
            sink,
            observer,
            supervisor,
            slots=self._slots,
            status=self._status,
            max_posters=max_concurrent,
            rng=self._rng,
            event_ttl=event_ttl,
            on_posted=self._journal_posted,
        )

    # -- the records ----------------------------------------------------------------------------

    def store(self, watched: Watched) -> tuple[bool, Watched | None]:
        """Takes a version from the watch: (taken, the version before). A late echo of one of our
        earlier writes, arriving after a later one, is not taken: it would undo what we know."""
        previous = self.objects.get(watched.ref)
        if previous is not None and self._is_stale_echo(previous, watched.resource_version, watched.generation):
            return False, previous
        self.objects.put(watched)
        if watched.status is not None and watched.status.event_journal:
            if previous is None:
                # First sight (after a start): the last change's Events may have been cut off by a crash.
                self._events.recover(watched.ref, watched.status.event_journal)
            else:
                # Another writer's status (or a spec change, whose journal is known: nothing posted).
                self._events.adopt(watched.ref, watched.status.event_journal)
        return True, previous

    def forget(self, ref: ObjectRef) -> None:
        """The object was deleted: its record goes, and any pending retry stops."""
        self.objects.drop(ref)
        self._written.pop(ref, None)
        self._latest.pop(ref, None)  # a pending retry sees this and stops
        self._failures.pop(ref, None)
        self._refused.pop(ref, None)
        self._events.forget(ref)

    def knows(self, ref: ObjectRef, resource_version: str | None, generation: int | None) -> bool:
        """Whether a version from the watch would change nothing here, told from its metadata alone
        (so it need not be parsed): the version we hold (the echo of our last write), or a late
        echo of an earlier write of ours, which `store` would refuse."""
        current = self.objects.get(ref)
        if current is None or not resource_version:
            return False
        return resource_version == current.resource_version or self._is_stale_echo(
            current, resource_version, generation
        )

    def _journal_posted(self, ref: ObjectRef) -> None:
        """Every Event in the object's stored journal is posted: its record keeps an empty journal
        instead (at 5,000 objects the entries held ~20 MB). `[]` differs from the None of a status
        without Events, so the next status write still removes the stored entries, as before."""
        record = self.objects.get(ref)
        if record is not None and record.status is not None and record.status.event_journal:
            status = record.status.model_copy(update={"event_journal": []})
            self.objects.put(replace(record, status=status))

    def _is_stale_echo(self, current: Watched, resource_version: str | None, generation: int | None) -> bool:
        ours = self._written.get(current.ref, ())
        return (
            resource_version in ours
            and resource_version != current.resource_version
            and generation == current.generation
        )

    def _remember(self, stored: Watched) -> None:
        if stored.resource_version:
            # A list, not a deque(maxlen=…): a deque takes a 64-slot block (~0.6 KB) per object at once.
            written = self._written.setdefault(stored.ref, [])
            written.append(stored.resource_version)
            if len(written) > _ECHOES_KEPT:
                del written[0]
        previous = self.objects.get(stored.ref)
        if previous is not None and previous.generation == stored.generation:
            # A new record, never a change to the old one: a write under way elsewhere keeps the
            # version (and resourceVersion precondition) it derived its status from.
            self.objects.put(replace(previous, status=stored.status, resource_version=stored.resource_version))

    # -- writing --------------------------------------------------------------------------------

    async def write(self, ref: ObjectRef, ticket: Ticket, derive: Derive, *, fresh: bool) -> None:
        """One attempt now; if it fails, retries follow in the background until a newer result
        for the object supersedes this one, the object changes or goes, or a retry succeeds."""
        seq = next(self._seq)
        self._latest[ref] = seq
        await self._attempt(ref, _Job(ticket, derive, fresh, seq))

    async def _attempt(self, ref: ObjectRef, job: _Job) -> None:
        self._status.began()
        try:
            # The status is computed inside the slot: thousands of objects waiting in a burst hold
            # only the shared poll outcome, and each starts from its latest stored status.
            async with self._slots:
                if self._latest.get(ref) != job.seq:
                    return  # superseded by a newer result, or the object is gone
                await self._write(ref, job)
        except asyncio.CancelledError:
            raise
        except ObjectGone:
            log.info("%s: gone (its status write answered 404, a read confirmed it): forgotten", ref)
            self._on_gone(ref)
        except Exception as error:  # a write must never take its poll or its siblings down
            self._failed(ref, job, error)
        else:
            if self._failures.pop(ref, 0):
                log.info("%s: written after earlier failures", ref)
        finally:
            self._status.ended()

    async def _write(self, ref: ObjectRef, job: _Job) -> None:
        for _ in range(MAX_CONFLICTS):
            current = self.objects.get(ref)
            if current is None or not job.ticket.matches(current):
                return  # changed since the result was derived: it gets its own
            result = job.derive(current)
            self._observer.object_mirrored(current, result, job.fresh)
            if not result.changed and not result.events:
                return
            if ref in self._refused and self._refused[ref] == _fingerprint(result):
                return  # refused for good already (its Events posted): not sent again
            result, fresh = self._events.stamp(ref, result)
            try:
                stored = await self._sink.publish(current, result)
            except StatusRefused as error:
                await self._write_refused(ref, current, result, fresh, error)
                return
            finally:
                self._status.written()
            if stored is None:
                return
            self._remember(stored)
            if stored.status == result.status:
                self._refused.pop(ref, None)
                self._events.written(ref, fresh, result.status.event_journal)
            elif stored.status is not None:
                # A 409 re-read (perhaps of our own write whose answer was lost) or another writer's
                # status: its journal's entries are posted before a write of ours can drop them.
                self._events.adopt(ref, stored.status.event_journal)
            if stored.generation != current.generation or stored.status == result.status:
                return  # written; or the spec changed under the write: the watch brings the new version
            # 409: the stored status moved; recompute from it (the loop re-checks the ticket)
        raise Conflicted(f"the status changed under {MAX_CONFLICTS} writes in a row")

    async def _write_refused(
        self, ref: ObjectRef, current: Watched, result: Mirrored, fresh: list[RecordedEvent], error: StatusRefused
    ) -> None:
        """The API server refuses the result's status for good: its Events are posted all the same,
        and the last good status is written again with them in its journal and Stalled saying why
        (a status refused too is logged; the Events still go out, in-process)."""
        log.error("%s: the API server refuses the new status for good (%s); keeping the last good one", ref, error)
        self._events.queue(ref, fresh)
        message = f"the API server refused the new status, the last good one is kept: {error}"
        kept = refused(current.status, message, current.generation, datetime.now(UTC))
        fallback, own = self._events.stamp(ref, replace(kept, changed=kept.changed or bool(fresh)))
        try:
            stored = await self._sink.publish(current, fallback)
        except StatusRefused as again:
            log.error("%s: the API server refuses the last good status too (%s)", ref, again)
            self._events.queue(ref, own)
            self._refused[ref] = _fingerprint(result)
            return
        self._refused[ref] = _fingerprint(result)
        if stored is None:
            return
        self._remember(stored)
        if stored.status == fallback.status:
            self._events.written(ref, own, fallback.status.event_journal)
        elif stored.status is not None:
            self._events.adopt(ref, stored.status.event_journal)

    def _failed(self, ref: ObjectRef, job: _Job, error: Exception) -> None:
        failures = self._failures[ref] = self._failures.get(ref, 0) + 1
        code = error.code if isinstance(error, WriteFailed) else type(error).__name__
        self._observer.write_failed(ref, code)
        delay = retry_delay(failures, self._rng)
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
