"""Every journal entry that reaches the API server is posted (or found there) before it can leave
the journal: after a status write whose answer was lost, after a 409 re-read, when another writer
stored it, and however many Events one result has."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from ccupgrade.mirror import EventIntent, Mirrored
from ccupgrade.models import MAX_RECORDED_EVENTS
from ccupgrade.models.resource import RecordedEvent, UpgradeStatus
from ccupgrade.models.watched import Watched
from ccupgrade.scheduler.ports import NoObserver, WriteFailed
from ccupgrade.scheduler.supervisor import Supervisor
from ccupgrade.scheduler.writes import Ticket, Writer
from tests.support.scheduler_fakes import FakeApiServer, FakeCce, scheduler_for, workflows

pytestmark = pytest.mark.looptime


async def _until(condition: Callable[[], object], seconds: float = 600) -> None:
    """Waits (on the fake clock) for a condition; a bound, not a figure."""
    for _ in range(int(seconds * 10)):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the condition was not met in time")


@dataclass
class LosingApiServer(FakeApiServer):
    """Applies the next `lose` status writes, then answers as if the connection dropped (a timeout,
    a reset, a 5xx after the commit): the write is stored, its answer lost."""

    lose: int = 0

    async def publish(self, watched: Watched, result: Mirrored) -> Watched | None:
        stored = await super().publish(watched, result)
        if self.lose and stored is not None and result.changed:
            self.lose -= 1
            raise WriteFailed("connection reset by peer", "unreachable")
        return stored


def _posted(server: FakeApiServer, name: str) -> list[RecordedEvent]:
    return [event for owner, event in server.events if owner == name]


async def test_events_of_a_status_write_whose_answer_was_lost_are_all_posted() -> None:
    """The write that records the upgrade's end is applied, its answer lost; the retry answers 409
    and its re-read finds nothing left to write. Without the fix only WorkflowDetected was posted:
    the journal held 4 TaskSucceeded and UpgradeSucceeded, and the next write dropped them."""
    moment = {"at": 0.0}
    cce = FakeCce({"c1": lambda _: workflows(moment["at"])})
    server = LosingApiServer()
    scheduler = scheduler_for(cce, server)
    scheduler.upsert(server.apply("a"))
    task = asyncio.create_task(scheduler.run())
    try:
        await _until(lambda: len(server.events) == 1)  # WorkflowDetected
        server.lose = 1
        moment["at"] = 60.0
        await _until(lambda: len(server.writes) == 2 and not server.lose)
        stored = server.objects["a"].status
        assert stored is not None
        assert stored.event_journal
        journal = list(stored.event_journal)
        assert [e.reason for e in journal].count("TaskSucceeded") == 4
        assert journal[-1].reason == "UpgradeSucceeded"
        await _until(lambda: len(server.events) == 1 + len(journal))
        moment["at"] = 0.0  # a later change (a new status write) must not make any entry vanish unposted
        await asyncio.sleep(300)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    posted = _posted(server, "a")
    assert [e.name for e in posted[1 : 1 + len(journal)]] == [e.name for e in journal]
    assert len({e.name for e in posted}) == len(posted)  # each once


def _many(count: int, tag: str = "") -> Callable[[Watched], Mirrored]:
    """A result that changes the status and has `count` Events."""

    def derive(watched: Watched) -> Mirrored:
        events = [EventIntent("Normal", "Changed", f"change {tag}{k}", f"change/{tag}{k}") for k in range(count)]
        return Mirrored(UpgradeStatus(phase=f"p{tag}"), events, changed=True)

    return derive


async def test_more_events_than_the_journal_holds_are_all_posted_in_order() -> None:
    """40 Events in one result: the stored journal keeps the newest MAX_RECORDED_EVENTS (what a crash
    can lose is bounded by that), but in-process all 40 are posted, in order (without the fix: 32)."""
    server = FakeApiServer()
    supervisor = Supervisor()
    writer = Writer(server, NoObserver(), supervisor, max_concurrent=4)
    watched = server.apply("a")
    writer.store(watched)
    try:
        await writer.write(watched.ref, Ticket.of(watched), _many(40), fresh=True)
        stored = server.objects["a"].status
        assert stored is not None
        assert stored.event_journal is not None
        assert len(stored.event_journal) == MAX_RECORDED_EVENTS
        await _until(lambda: len(server.events) >= 40)
        await asyncio.sleep(60)
    finally:
        await supervisor.close()
    assert [e.message for e in _posted(server, "a")] == [f"change {k}" for k in range(40)]


async def test_journal_entries_another_writer_stored_are_posted() -> None:
    """A status written by someone else (another replica, before it lost its Lease) arrives through
    the watch with journal entries this operator never stamped: they are posted, once each; a later
    version of the same journal (a spec change) posts nothing again."""
    server = FakeApiServer()
    supervisor = Supervisor()
    writer = Writer(server, NoObserver(), supervisor, max_concurrent=4)
    watched = server.apply("a")
    writer.store(watched)
    try:
        await writer.write(watched.ref, Ticket.of(watched), _many(2, "x"), fresh=True)
        await _until(lambda: len(server.events) == 2)
        stored = server.objects["a"].status
        assert stored is not None
        assert stored.event_journal
        foreign = [
            stored.event_journal[-1].model_copy(update={"name": f"a.foreign{k}", "message": f"foreign {k}"})
            for k in range(3)
        ]
        other = replace(
            server.objects["a"],
            status=stored.model_copy(update={"event_journal": [*stored.event_journal, *foreign]}),
            resource_version=server._next_version(),
        )
        server.objects["a"] = other
        writer.store(other)
        await _until(lambda: len(server.events) == 5)
        respec = server.apply("a", pollInterval="60s")  # same status, a new generation
        writer.store(respec)
        await asyncio.sleep(60)
        posts = server.event_posts
        writer.store(server.apply("a", pollInterval="90s"))
        await asyncio.sleep(60)
    finally:
        await supervisor.close()
    assert [e.message for e in _posted(server, "a")] == [
        "change x0",
        "change x1",
        "foreign 0",
        "foreign 1",
        "foreign 2",
    ]
    assert server.event_posts == posts  # the same journal again: nothing posted again
    assert server.event_posts <= 2 + 5 + 2  # the known ones at most once more each (409)


async def test_an_event_derived_again_while_still_unposted_is_journaled_once() -> None:
    """The same transition derived twice before its Event could be posted (a retry after a refused
    status): one journal entry, one Event (without the fix: two entries of the same name)."""
    server = FakeApiServer()
    server.event_budget = 0  # Events cannot be posted for now
    supervisor = Supervisor()
    writer = Writer(server, NoObserver(), supervisor, max_concurrent=2)
    watched = server.apply("a")
    writer.store(watched)

    def again(n: int) -> Callable[[Watched], Mirrored]:
        def derive(current: Watched) -> Mirrored:
            events = [EventIntent("Warning", "PreCheckFailed", "pre-check failed", "precheck/1")]
            return Mirrored(UpgradeStatus(phase=f"p{n}"), events, changed=True)

        return derive

    try:
        for n in range(2):
            current = writer.objects.get(watched.ref)
            assert current is not None
            await writer.write(current.ref, Ticket.of(current), again(n), fresh=True)
        stored = server.objects["a"].status
        assert stored is not None
        assert stored.event_journal is not None
        assert [e.message for e in stored.event_journal] == ["pre-check failed"]
        server.event_budget = None
        await _until(lambda: len(server.events) == 1)
        await asyncio.sleep(60)
    finally:
        await supervisor.close()
    assert len(server.events) == 1


async def test_what_is_kept_per_object_goes_when_the_object_does() -> None:
    """The digest of an object's adopted journal (and a refused status's fingerprint) are forgotten
    with the object."""
    server = FakeApiServer()
    supervisor = Supervisor()
    writer = Writer(server, NoObserver(), supervisor, max_concurrent=2)
    refs = []
    try:
        for i in range(20):
            watched = server.apply(f"o{i}")
            writer.store(watched)
            await writer.write(watched.ref, Ticket.of(watched), _many(2, str(i)), fresh=True)
            refs.append(watched.ref)
        await _until(lambda: len(server.events) == 40)
        assert len(writer._events._adopted) == 20
        for ref in refs:
            writer.forget(ref)
    finally:
        await supervisor.close()
    assert writer._events._adopted == {}
    assert writer._refused == {}
