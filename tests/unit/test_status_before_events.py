"""Status first, Events after: in a burst every status write goes before any Event, and
Events the status recorded but a crash cut off are posted by the next operator, once each, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ccupgrade.mirror import EventIntent, Mirrored
from ccupgrade.models.resource import RecordedEvent, UpgradeStatus
from ccupgrade.models.watched import ObjectRef, Watched
from ccupgrade.scheduler.event_stage import EVENT_WAIT_MAX
from ccupgrade.scheduler.ports import NoObserver, WriteFailed
from ccupgrade.scheduler.supervisor import Supervisor
from ccupgrade.scheduler.writes import Ticket, Writer
from tests.support.scheduler_fakes import FakeApiServer, FakeCce, now, scheduler_for, workflows

pytestmark = pytest.mark.looptime


async def _until(condition: Callable[[], object], seconds: float = 300) -> None:
    """Waits (on the fake clock) for a condition; a bound, not a figure."""
    for _ in range(int(seconds * 10)):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the condition was not met in time")


async def test_in_a_burst_every_status_write_goes_before_any_event() -> None:
    moment = {"at": 0.0}
    cce = FakeCce({"c1": lambda _: workflows(moment["at"])})
    server = FakeApiServer()
    scheduler = scheduler_for(cce, server, max_concurrent_writes=3)
    names = [f"o{i}" for i in range(12)]
    for name in names:
        scheduler.upsert(server.apply(name))
    task = asyncio.create_task(scheduler.run())
    try:
        for burst, at in enumerate((0.0, 60.0)):  # detection; then tasks and success, all at once
            start = len(server.journal)
            moment["at"] = at
            expected = len(names) * (burst + 1)
            await _until(lambda: len(server.writes) == expected)  # noqa: B023 (awaited in this iteration)
            await asyncio.sleep(60)
            kinds = [kind for kind, _ in server.journal[start:]]
            assert kinds.count("status") == len(names)
            assert kinds[: len(names)] == ["status"] * len(names), server.journal[start:]
            assert "event" in kinds
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    # Every object's Events, each once, in the order (and eventTime order) the status recorded them.
    for name in names:
        status = server.objects[name].status
        assert status is not None
        assert status.event_journal
        assert len(status.event_journal) >= 3
        posted = [event for owner, event in server.events if owner == name]
        assert posted[-len(status.event_journal) :] == status.event_journal
        assert posted[0].reason == "WorkflowDetected"
        assert [e.event_time for e in posted] == sorted(e.event_time for e in posted)
        assert len({e.name for e in posted}) == len(posted)


async def test_a_burst_spread_over_the_interval_writes_every_status_before_its_events() -> None:
    """Fifty clusters change at once; their polls are spread over the 5 s interval, so their status
    writes come a few at a time with gaps between them. No Event of the burst goes into a gap: each
    would take the API server's time from the status writes still to come."""
    lists = {at: workflows(at) for at in (20.0, 31.0)}  # made once: each carries its own timestamps
    moment = {"at": 20.0}
    clusters = [f"c{i}" for i in range(50)]
    cce = FakeCce({c: lambda _: lists[moment["at"]] for c in clusters})
    server = FakeApiServer()
    scheduler = scheduler_for(cce, server)
    for cluster in clusters:
        scheduler.upsert(server.apply(f"o-{cluster}", clusterId=cluster, pollInterval="5s"))
    task = asyncio.create_task(scheduler.run())
    try:
        await _until(lambda: len(server.writes) == len(clusters) and len(server.events) >= 2 * len(clusters))
        await asyncio.sleep(30)
        start, posted = len(server.journal), len(server.events)
        moment["at"] = 31.0  # the Cluster task starts everywhere
        await _until(lambda: len(server.writes) == 2 * len(clusters))
        burst_ended = now()
        await _until(lambda: len(server.events) > posted)
        first_event = now()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    kinds = [kind for kind, _ in server.journal[start:]]
    assert kinds[: len(clusters)] == ["status"] * len(clusters)
    # ... and they follow as soon as the writes have settled, although every cluster is still read
    # every 5 s (a poll every 0.1 s, each with nothing to write)
    assert first_event - burst_ended <= 1.0


async def test_status_writes_arriving_while_events_are_posted_go_first() -> None:
    """A second cluster's results arrive while the first one's Events are being posted: its status
    writes overtake them (only the Events already holding a write slot finish first)."""
    moment = {"at": 0.0}
    cce = FakeCce({c: lambda _: workflows(moment["at"]) for c in ("c1", "c2")})
    server = FakeApiServer()
    slots = 3
    scheduler = scheduler_for(cce, server, max_concurrent_writes=slots)
    first = [f"a{i}" for i in range(30)]
    second = [f"b{i}" for i in range(12)]
    for name in first:
        scheduler.upsert(server.apply(name))
    for name in second:
        scheduler.upsert(server.apply(name, clusterId="c2"))
    task = asyncio.create_task(scheduler.run())
    try:
        await _until(lambda: len(server.events) == len(first) + len(second))  # everything detected
        cce.held["c2"] = asyncio.Event()
        server.event_delay = 0.5  # c1's Events take a while: long enough for c2's results to arrive
        start, c2_reads = len(server.journal), cce.count("c2")
        moment["at"] = 60.0
        await _until(lambda: cce.count("c2") > c2_reads)  # c2's read is under way (held)
        await _until(lambda: sum(1 for kind, name in server.journal[start:] if kind == "event") >= 1)
        # c2's read ends as the next Event POST starts: then at most `slots` Events are in flight
        post_event, released_at = server.post_event, list[int]()

        async def releasing(ref: ObjectRef, event: RecordedEvent) -> None:
            if not released_at:
                released_at.append(len(server.journal))
                cce.held["c2"].set()
            await post_event(ref, event)

        server.post_event = releasing  # type: ignore[method-assign]
        await _until(lambda: bool(released_at))
        released = released_at[0]
        total = len(first) + len(second)
        await _until(lambda: len(server.writes) == 2 * total and len(server.events) == total * 6)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    journal = server.journal[start:]
    b_writes = [i for i, (kind, name) in enumerate(journal) if kind == "status" and name.startswith("b")]
    assert len(b_writes) == len(second)
    # From the moment c2's results exist to its last status write: only the Events already in flight.
    overtaken = [entry for entry in server.journal[released : start + b_writes[-1]] if entry[0] == "event"]
    assert len(overtaken) <= slots, journal


def _change(n: int) -> Callable[[Watched], Mirrored]:
    """A result that changes the status and has three Events."""

    def derive(watched: Watched) -> Mirrored:
        events = [EventIntent("Normal", "Changed", f"change {n}.{k}", f"change/{n}/{k}") for k in range(3)]
        return Mirrored(UpgradeStatus(phase=f"p{n}"), events, changed=True)

    return derive


async def test_no_event_post_starts_while_a_status_write_waits_or_is_under_way() -> None:
    """Status writes trickle in (polls end one after another) while Events are posted: no Event
    post starts beside one, though write slots are free. Without the gate the posters take the
    free slots and compete with the status writes for the API server's write rate."""
    server = FakeApiServer(event_delay=0.02)
    supervisor = Supervisor()
    writer = Writer(server, NoObserver(), supervisor, max_concurrent=3)
    names = [f"o{i}" for i in range(12)]
    for name in names:
        writer.store(server.apply(name))

    async def write(name: str, n: int) -> None:
        current = writer.objects.get(server.objects[name].ref)
        assert current is not None
        await writer.write(current.ref, Ticket.of(current), _change(n), fresh=True)

    try:
        await asyncio.gather(*(write(name, 1) for name in names))  # 36 Events to post
        for name in names:  # one status write at a time, while they are posted
            await asyncio.sleep(0.03)
            await write(name, 2)
        await _until(lambda: len(server.events) == len(names) * 6)
    finally:
        await supervisor.close()
    assert server.posts_during_status == 0
    assert len(server.writes) == 2 * len(names)


async def _crash_after_status(server: FakeApiServer, moment: dict[str, float], budget: int) -> FakeCce:
    """Runs an operator through two changes; after the second one's status write only `budget` of
    its Events can be posted, then the operator is killed."""
    cce = FakeCce({"c1": lambda _: workflows(moment["at"])})
    scheduler = scheduler_for(cce, server)
    scheduler.upsert(server.apply("a"))
    task = asyncio.create_task(scheduler.run())
    await _until(lambda: len(server.events) == 1)  # WorkflowDetected
    server.event_budget = budget
    posts = server.event_posts
    moment["at"] = 60.0
    await _until(lambda: len(server.writes) == 2 and server.event_posts > posts + budget)
    task.cancel()  # the operator dies: its tasks (the Event stage too) go with it
    await asyncio.gather(task, return_exceptions=True)
    server.event_budget = None
    return cce


@pytest.mark.parametrize("posted_before_the_crash", [0, 2])
async def test_a_restarted_operator_posts_the_events_a_crash_cut_off_once_each(posted_before_the_crash: int) -> None:
    server = FakeApiServer()
    cce = await _crash_after_status(server, {"at": 0.0}, posted_before_the_crash)
    stored = server.objects["a"].status
    assert stored is not None
    assert stored.event_journal
    assert len(stored.event_journal) > posted_before_the_crash + 1
    assert len(server.events) == 1 + posted_before_the_crash

    restarted = scheduler_for(cce, server)
    restarted.upsert(server.objects["a"])  # first sight after the start
    task = asyncio.create_task(restarted.run())
    try:
        await _until(lambda: len(server.events) == 1 + len(stored.event_journal))
        await asyncio.sleep(120)  # a few polls more: nothing else is posted
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [event for _, event in server.events[1:]] == stored.event_journal  # same names, times and order
    assert stored.event_journal[-1].reason == "UpgradeSucceeded"


async def test_events_whose_post_failed_are_retried_and_carried_into_the_next_status() -> None:
    moment = {"at": 0.0}
    cce = FakeCce({"c1": lambda _: workflows(moment["at"])})
    server = FakeApiServer()
    server.event_budget = 0  # the API server refuses Events for now
    scheduler = scheduler_for(cce, server)
    scheduler.upsert(server.apply("a"))
    task = asyncio.create_task(scheduler.run())
    try:
        await _until(lambda: len(server.writes) == 1)
        first = server.objects["a"].status
        assert first is not None
        assert first.event_journal
        moment["at"] = 60.0  # the next poll finds more transitions while the first ones are unposted
        await _until(lambda: len(server.writes) == 2)
        second = server.objects["a"].status
        assert second is not None
        assert second.event_journal
        # Both changes' Events are in the stored status: a crash now would lose none.
        assert second.event_journal[: len(first.event_journal)] == first.event_journal
        assert len(second.event_journal) > len(first.event_journal)
        server.event_budget = None
        await _until(lambda: len(server.events) == len(second.event_journal))
        await asyncio.sleep(120)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [event for _, event in server.events] == second.event_journal


def _restart_fixture(objects: int) -> tuple[FakeApiServer, list[str]]:
    """`objects` objects whose journals (4 entries each) were posted, but for 10 objects whose last
    two Events a crash cut off, and 5 more like them whose journal is older than the Event TTL."""
    server = FakeApiServer()
    now = datetime.now(UTC)
    missing: list[str] = []
    for i in range(objects):
        watched = server.apply(f"o{i}")
        stamped = now - (timedelta(hours=2) if i < 5 else timedelta(minutes=10))
        journal = [
            RecordedEvent(
                name=f"o{i}.{k:02d}",
                type="Normal",
                reason="R",
                message="m",
                event_time=stamped + timedelta(microseconds=k),
            )
            for k in range(4)
        ]
        posted = journal[:2] if i < 15 else journal
        server.events += [(watched.ref.name, record) for record in posted]
        if 5 <= i < 15:
            missing += [record.name for record in journal[2:]]
        server.objects[watched.ref.name] = replace(watched, status=UpgradeStatus(event_journal=journal))
    return server, missing


async def test_a_restart_posts_only_the_journal_entries_missing_on_the_server() -> None:
    """1000 objects at a start: one LIST, and POSTs only for the young entries the server lacks
    (re-posting every journal entry cost 4,000 POSTs here, 3,980 of them answered 409)."""
    server, missing = _restart_fixture(1000)
    before = len(server.events)
    supervisor = Supervisor()
    writer = Writer(server, NoObserver(), supervisor, max_concurrent=8)
    try:
        for watched in list(server.objects.values()):
            writer.store(watched)
        await _until(lambda: len(server.events) >= before + len(missing))
        await asyncio.sleep(60)
    finally:
        await supervisor.close()
    print(f"\nrestart with 1000 objects: {server.event_posts} Event POSTs, {server.event_lists} LIST")
    assert server.event_lists == 1
    assert server.event_posts == len(missing) == 20
    assert sorted(record.name for _, record in server.events[before:]) == sorted(missing)
    for i in range(5, 15):  # each object's in order
        assert [r.name for owner, r in server.events[before:] if owner == f"o{i}"] == [f"o{i}.02", f"o{i}.03"]


async def test_a_restart_whose_event_list_fails_posts_the_young_entries_again() -> None:
    server, missing = _restart_fixture(20)
    before = len(server.events)

    async def refused(namespace: str) -> set[str]:
        raise WriteFailed("forbidden", "403")

    server.event_names = refused  # type: ignore[method-assign]
    supervisor = Supervisor()
    writer = Writer(server, NoObserver(), supervisor, max_concurrent=8)
    try:
        for watched in list(server.objects.values()):
            writer.store(watched)
        await _until(lambda: server.event_posts >= 15 * 4)
        await asyncio.sleep(60)
    finally:
        await supervisor.close()
    assert server.event_posts == 15 * 4  # o5..o19 all again; o0..o4 not at all: older than the TTL
    assert sorted(record.name for _, record in server.events[before:]) == sorted(missing)


def _writer_holding(count: int, *, max_concurrent: int) -> tuple[FakeApiServer, Supervisor, Writer, list[str]]:
    """A writer that holds `count` objects o0, o1, … of a fake API server."""
    server = FakeApiServer()
    supervisor = Supervisor()
    writer = Writer(server, NoObserver(), supervisor, max_concurrent=max_concurrent)
    names = [f"o{i}" for i in range(count)]
    for name in names:
        writer.store(server.apply(name))
    return server, supervisor, writer, names


async def test_events_flow_between_status_writes_that_never_settle() -> None:
    """A status write every 0.3 s (a fleet whose percentages move at every poll): the writes never
    settle, but they leave gaps. After EVENT_WAIT_MAX the posters use the gaps: every Event goes out,
    not one per poster per EVENT_WAIT_MAX."""
    server, supervisor, writer, names = _writer_holding(10, max_concurrent=2)
    moving = server.apply("moving")
    writer.store(moving)

    def percentage(n: int) -> Callable[[Watched], Mirrored]:
        return lambda _: Mirrored(UpgradeStatus(phase="Running", progress=f"2/4 · {n}%"), [], changed=True)

    async def feed() -> None:
        for n in range(1000):
            current = writer.objects.get(moving.ref)
            assert current is not None
            supervisor.spawn(writer.write(moving.ref, Ticket.of(current), percentage(n), fresh=True), name="write")
            await asyncio.sleep(0.3)

    feeding = asyncio.create_task(feed())
    try:
        await asyncio.sleep(1)
        for name in names:  # 30 Events, ready while the percentages keep moving
            current = writer.objects.get(server.objects[name].ref)
            assert current is not None
            await writer.write(current.ref, Ticket.of(current), _change(0), fresh=True)
        await asyncio.sleep(EVENT_WAIT_MAX - 2)
        assert server.events == []  # held back while the writes might still settle
        await asyncio.sleep(10)
        assert len(server.events) == 3 * len(names)
        assert not feeding.done()
    finally:
        feeding.cancel()
        await asyncio.gather(feeding, return_exceptions=True)
        await supervisor.close()


async def test_events_are_not_starved_by_status_writes_that_never_pause() -> None:
    """More changes than the API server takes: status writes are always pending. The Events still
    go out, a few at a time (the journal holds only 32 per object)."""
    server, supervisor, writer, names = _writer_holding(4, max_concurrent=2)

    async def slow(watched: Watched, result: Mirrored) -> None:
        await asyncio.sleep(1.0)

    async def write(name: str, n: int) -> None:
        current = writer.objects.get(server.objects[name].ref)
        assert current is not None
        await writer.write(current.ref, Ticket.of(current), _change(n), fresh=True)

    try:
        await asyncio.gather(*(write(name, 0) for name in names))  # 12 Events ready
        server.before = slow

        async def feed() -> None:  # a new result every 0.4 s; 2 slots, 1 s per write: never a pause
            for n in range(1, 400):
                supervisor.spawn(write(names[n % 4], n), name="write")
                await asyncio.sleep(0.4)

        feeding = asyncio.create_task(feed())
        await asyncio.sleep(5)
        posted = len(server.events)  # those under way when the status writes began are done
        await asyncio.sleep(95)
        assert not feeding.done()
        assert writer._status.pending  # still
        assert len(server.events) - posted >= 2  # ... and yet Events went out
    finally:
        feeding.cancel()
        await asyncio.gather(feeding, return_exceptions=True)
        await supervisor.close()


async def test_events_after_a_journal_from_a_clock_ahead_are_not_dated_in_the_future() -> None:
    """A former leader's clock ran an hour fast: its journal must not date this operator's Events."""
    server = FakeApiServer()
    ahead = datetime.now(UTC) + timedelta(hours=1)
    watched = server.apply("a")
    journal = [RecordedEvent(name="a.00", type="Normal", reason="R", message="m", event_time=ahead)]
    server.events.append(("a", journal[0]))  # posted by it, before it stopped
    server.objects["a"] = replace(watched, status=UpgradeStatus(event_journal=journal))
    supervisor = Supervisor()
    writer = Writer(server, NoObserver(), supervisor, max_concurrent=4)
    try:
        writer.store(server.objects["a"])
        await asyncio.sleep(1)  # its journal checked against the Events there
        current = writer.objects.get(server.objects["a"].ref)
        assert current is not None
        await writer.write(current.ref, Ticket.of(current), _change(1), fresh=True)
        await _until(lambda: len(server.events) == 4)
    finally:
        await supervisor.close()
    stamped = [event.event_time for _, event in server.events[1:]]
    assert max(stamped) < datetime.now(UTC) + timedelta(minutes=1)
    assert stamped == sorted(stamped)
