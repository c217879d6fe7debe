"""The scheduler on fake time (looptime): what is written where and when, under change and failure.

CCE and the API server are in-memory stand-ins; the clock is the event loop's, which looptime
moves forward instantly, so hours of polling run in well under a second and every assertion is
about exact times and counts.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

import pytest
from prometheus_client import generate_latest

from ccupgrade.app.metrics import Metrics
from ccupgrade.cce import TaskReader
from ccupgrade.cce.client import CceClient, ClusterTarget
from ccupgrade.cce.errors import AuthenticationError, NotFound, ServerError
from ccupgrade.cce.ratelimit import GateRegistry
from ccupgrade.mirror import Mirrored
from ccupgrade.models.cce import UpgradeWorkflowList
from ccupgrade.models.resource import UpgradeStatus
from ccupgrade.models.watched import ObjectRef, Watched
from ccupgrade.scheduler.intervals import IntervalPolicy, next_slot, slot_phase
from ccupgrade.scheduler.poller import Scheduler, SchedulerConfig
from ccupgrade.scheduler.ports import NoObserver, WriteFailed
from ccupgrade.scheduler.supervisor import Supervisor
from ccupgrade.scheduler.writes import Ticket, Writer
from tests.support.scheduler_fakes import (
    NO_WORKFLOWS,
    FakeApiServer,
    FakeCce,
    FakeSession,
    Secrets,
    fails,
    listing,
    now,
    on_fake_wall,
    scheduler_for,
    workflows,
)

pytestmark = pytest.mark.looptime


# -- a result goes only to objects that still match what was polled --------------------------------


async def test_a_cluster_change_mid_poll_never_gets_the_old_clusters_workflow(running: Any) -> None:
    cce = FakeCce({"c1": lambda _: workflows(60), "c2": lambda _: NO_WORKFLOWS})
    server = FakeApiServer()
    scheduler = scheduler_for(cce, server)
    scheduler.upsert(server.apply("a"))
    cce.held["c1"] = asyncio.Event()
    running(scheduler)
    await cce.started.wait()
    scheduler.upsert(server.apply("a", clusterId="c2"))  # generation 2, while c1 is being read
    await asyncio.sleep(1)
    cce.held["c1"].set()
    await asyncio.sleep(5)

    assert cce.count("c1") == 1
    assert cce.count("c2") == 1
    writes = server.writes_of("a")
    assert [w.generation for w in writes] == [2]
    status = server.objects["a"].status
    assert status is not None
    assert (status.observed_generation, status.workflow, status.phase) == (2, None, None)
    assert not any(e.reason == "WorkflowDetected" for w in writes for e in w.result.events)


async def test_a_key_change_seen_only_after_a_conflict_stops_the_write(running: Any) -> None:
    """The object changed on the server and our write answers 409: the re-read shows a new
    generation, and the old poll's result is not recomputed onto it."""
    cce = FakeCce({"c1": lambda _: workflows(60), "c2": lambda _: NO_WORKFLOWS})
    server = FakeApiServer()
    scheduler = scheduler_for(cce, server)
    scheduler.upsert(server.apply("a"))
    cce.held["c1"] = asyncio.Event()
    running(scheduler)
    await cce.started.wait()
    server.apply("a", clusterId="c2")  # the watch has not delivered it yet
    cce.held["c1"].set()
    await asyncio.sleep(2)
    assert server.writes == []
    scheduler.upsert(server.objects["a"])  # now it has
    await asyncio.sleep(2)
    assert [(w.generation, w.result.status.workflow) for w in server.writes] == [(2, None)]


async def test_suspend_arriving_mid_poll_gets_suspended_not_the_poll(running: Any) -> None:
    cce = FakeCce({"c1": lambda _: workflows(60)})
    server = FakeApiServer()
    scheduler = scheduler_for(cce, server)
    scheduler.upsert(server.apply("a"))
    cce.held["c1"] = asyncio.Event()
    running(scheduler)
    await cce.started.wait()
    scheduler.upsert(server.apply("a", suspend=True))
    await asyncio.sleep(1)
    cce.held["c1"].set()
    await asyncio.sleep(120)
    assert cce.count("c1") == 1
    status = server.objects["a"].status
    assert status is not None
    assert status.workflow is None
    reconciling = next(c for c in status.conditions if c.type == "Reconciling")
    assert (status.observed_generation, reconciling.reason) == (2, "Suspended")


async def test_a_spec_change_mid_poll_reruns_the_poll_for_the_new_generation(running: Any) -> None:
    cce = FakeCce()
    server = FakeApiServer()
    scheduler = scheduler_for(cce, server)
    scheduler.upsert(server.apply("a"))
    cce.held["c1"] = asyncio.Event()
    running(scheduler)
    await cce.started.wait()
    scheduler.upsert(server.apply("a", pollInterval="20s"))  # same cluster, new generation
    await asyncio.sleep(1)
    cce.held.pop("c1").set()
    await asyncio.sleep(3)
    assert cce.times("c1") == [pytest.approx(0.5), pytest.approx(2.0)]  # the rerun: join delay after the first
    assert [w.generation for w in server.writes] == [2]


# -- records are frozen; a pending write keeps the version it read ---------------------------------


def test_a_watched_record_cannot_be_changed_in_place() -> None:
    watched = FakeApiServer().apply("a")
    with pytest.raises(AttributeError):
        watched.resource_version = "1"  # type: ignore[misc]


async def test_a_write_under_way_keeps_its_precondition_when_another_write_lands() -> None:
    """Two results for one object in flight at once: the slower one was derived from the version
    before the faster one's write, so it must meet a 409 and be recomputed, not overwrite it."""
    server = FakeApiServer()
    watched = server.apply("a")
    tasks = Supervisor()
    writer = Writer(server, NoObserver(), tasks, max_concurrent=4)
    writer.store(watched)
    release = asyncio.Event()

    async def hold_a(w: Watched, result: Mirrored) -> None:
        if result.status.progress == "A":
            await release.wait()  # derived from the first version; held on its way to the server

    server.before = hold_a

    def mark(letter: str) -> Callable[[Watched], Mirrored]:
        def derive(current: Watched) -> Mirrored:
            status = current.status or UpgradeStatus()
            return Mirrored(status.model_copy(update={"progress": (status.progress or "") + letter}), changed=True)

        return derive

    first = asyncio.create_task(writer.write(watched.ref, Ticket.of(watched), mark("A"), fresh=True))
    await asyncio.sleep(0.1)
    await writer.write(watched.ref, Ticket.of(watched), mark("B"), fresh=True)
    release.set()
    await first
    await tasks.close()
    status = server.objects["a"].status
    assert status is not None
    assert status.progress == "BA"  # B kept, A recomputed on top of it


# -- suspended and invalid objects are retried like the rest ---------------------------------------


async def test_a_suspended_objects_failed_write_is_retried_until_it_lands(running: Any) -> None:
    cce = FakeCce()
    server = FakeApiServer(failures=[WriteFailed("HTTP 503", "503"), WriteFailed("HTTP 409?", "503")])
    scheduler = scheduler_for(cce, server)
    scheduler.upsert(server.apply("paused", suspend=True))
    server.objects["broken"] = replace(server.apply("broken"), spec=None, spec_error="spec.region: bad")
    scheduler.upsert(server.objects["broken"])
    running(scheduler)
    await asyncio.sleep(30)
    assert cce.calls == []
    assert {w.name for w in server.writes} == {"paused", "broken"}
    for name in ("paused", "broken"):
        status = server.objects[name].status
        assert status is not None
        assert status.observed_generation == 1


# -- failures stay with their object, on the right side --------------------------------------------


class Recorder(NoObserver):
    def __init__(self) -> None:
        self.polls: list[str] = []
        self.write_failures: list[tuple[str, str]] = []

    def poll_finished(self, key: Any, outcome: str, seconds: float) -> None:
        self.polls.append(outcome)

    def write_failed(self, ref: ObjectRef, code: str) -> None:
        self.write_failures.append((ref.name, code))


async def test_one_objects_write_error_is_logged_once_retried_and_not_a_cce_failure(
    running: Any, caplog: pytest.LogCaptureFixture
) -> None:
    cce = FakeCce()
    server = FakeApiServer()
    recorder = Recorder()
    scheduler = Scheduler(
        client=cce, credentials=Secrets(), sink=server, clock=asyncio.get_running_loop().time, observer=recorder
    )
    for name in ("a", "b", "c"):
        scheduler.upsert(server.apply(name))
    broken = {"b": 3}

    async def break_b(w: Watched, result: Mirrored) -> None:
        if broken.get(w.ref.name, 0) > 0:
            broken[w.ref.name] -= 1
            raise RuntimeError("boom")  # not even a declared failure

    server.before = break_b
    caplog.set_level(logging.INFO, "ccupgrade")
    running(scheduler)
    await asyncio.sleep(20)

    assert {w.name for w in server.writes} == {"a", "b", "c"}  # b after its retries, before the next poll
    assert cce.count("c1") == 1
    assert recorder.polls == ["success"]
    assert recorder.write_failures == [("b", "RuntimeError")] * 3
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1
    assert "ns/b" in errors[0].getMessage()


async def test_the_group_is_not_polled_again_while_its_writes_are_under_way(running: Any) -> None:
    cce = FakeCce()
    server = FakeApiServer()
    scheduler = scheduler_for(cce, server, max_concurrent_writes=1)
    for name in ("a", "b"):
        scheduler.upsert(server.apply(name))

    async def slow(w: Watched, result: Mirrored) -> None:
        await asyncio.sleep(100)

    server.before = slow
    running(scheduler)
    await asyncio.sleep(150)
    assert cce.count("c1") == 1  # 30 s interval, but b's write only finished at ~200 s
    await asyncio.sleep(100)
    # then its next slot (every 30 s from 0 for the first group), not a catch-up of those missed
    assert cce.times("c1") == pytest.approx([0.5, 210.0, 240.0])


async def test_a_write_that_keeps_conflicting_is_bounded_and_retried_later(
    running: Any, caplog: pytest.LogCaptureFixture
) -> None:
    cce = FakeCce()
    server = FakeApiServer(meddle=True)
    scheduler = scheduler_for(cce, server)
    scheduler.upsert(server.apply("a"))
    caplog.set_level(logging.WARNING, "ccupgrade")
    running(scheduler)
    await asyncio.sleep(8)
    assert server.writes == []
    assert 6 <= server.attempts <= 12  # 3 per try: at ~0.5 s, then after about 1, 2 (and maybe 4) s
    assert len(caplog.records) == 1
    server.meddle = False
    await asyncio.sleep(10)  # well before the next poll (30 s)
    assert [w.generation for w in server.writes] == [1]
    assert cce.count("c1") == 1


async def test_a_late_echo_does_not_move_the_precondition_back(running: Any) -> None:
    cce = FakeCce({"c1": lambda _: workflows(20)})
    server = FakeApiServer()
    scheduler = scheduler_for(cce, server)
    scheduler.upsert(server.apply("a"))
    running(scheduler)
    await asyncio.sleep(1)
    echo = server.objects["a"]
    cce.answers["c1"] = lambda _: workflows(40)
    await asyncio.sleep(40)
    scheduler.upsert(echo)  # stale: its status is the first write's
    attempts = server.attempts
    cce.answers["c1"] = lambda _: workflows(60)
    await asyncio.sleep(40)
    assert server.attempts == attempts + 1  # one write, no 409 from a precondition moved back
    status = server.objects["a"].status
    assert status is not None
    assert status.phase == "Success"


# -- polls spread over the interval (slots) ------------------------------------------------------


async def test_clusters_that_join_together_poll_spread_over_the_interval(running: Any) -> None:
    """Twenty clusters listed together: after their first poll each moves to its own slot, so a
    change all of them make at once is seen at evenly spread moments, not in one burst."""
    clusters = [f"c{i}" for i in range(20)]
    cce = FakeCce()
    server = FakeApiServer()
    scheduler = scheduler_for(cce, server)
    for cluster in clusters:
        scheduler.upsert(server.apply(f"o-{cluster}", clusterId=cluster, pollInterval="5s"))
    running(scheduler)
    await asyncio.sleep(120)
    phases = sorted(t % 5.0 for t, _ in cce.calls if 110 <= t < 115)
    assert len(phases) == 20  # one poll each per interval
    gaps = [b - a for a, b in itertools.pairwise([*phases, phases[0] + 5.0])]
    assert max(gaps) <= 2 * 5.0 / 20  # at most twice the even spacing (golden-ratio slots: 1.6x)
    assert min(gaps) >= 0.5 * 5.0 / 20


async def test_a_group_on_its_slot_polls_once_per_interval(running: Any) -> None:
    cce = FakeCce()
    server = FakeApiServer()
    scheduler = scheduler_for(cce, server)
    for cluster in ("c1", "c2", "c3"):
        scheduler.upsert(server.apply(f"o-{cluster}", clusterId=cluster, pollInterval="5s"))
    running(scheduler)
    await asyncio.sleep(100)
    for cluster in ("c1", "c2", "c3"):
        gaps = [b - a for a, b in itertools.pairwise(cce.times(cluster))]
        assert 2.5 <= gaps[0] <= 7.5  # from its first poll to its slot: at most half an interval off
        assert gaps[1:] == pytest.approx([5.0] * len(gaps[1:]))


def test_the_next_slot() -> None:
    # on its slot (phase 0.25 of 4 s: 1, 5, 9 …): exactly one interval later
    assert next_slot(started=5.0, now=5.2, interval=4.0, phase=0.25) == pytest.approx(9.0)
    # a little off its slot (late or early): the nearest slot
    assert next_slot(started=5.7, now=5.8, interval=4.0, phase=0.25) == pytest.approx(9.0)
    assert next_slot(started=4.2, now=4.3, interval=4.0, phase=0.25) == pytest.approx(9.0)
    # writes that outlasted the slot: the next one after them, none caught up
    assert next_slot(started=5.0, now=17.5, interval=4.0, phase=0.25) == pytest.approx(21.0)
    assert next_slot(started=5.0, now=5.2, interval=0.0, phase=0.25) == 5.2  # no slots to keep
    # a first poll anywhere: at least half an interval, at most one and a half, to its slot
    for started in (0.0, 0.3, 1.0, 2.9, 3.1, 3.99):
        due = next_slot(started=started, now=started, interval=4.0, phase=0.25)
        assert 2.0 <= due - started <= 6.0
        assert (due - 1.0) % 4.0 == pytest.approx(0.0, abs=1e-9) or (due - 1.0) % 4.0 == pytest.approx(4.0)


def test_slots_of_groups_that_join_one_by_one_stay_evenly_spread() -> None:
    for n in (2, 3, 10, 100, 1000):
        phases = sorted(slot_phase(i) for i in range(n))
        gaps = [b - a for a, b in itertools.pairwise([*phases, phases[0] + 1.0])]
        assert max(gaps) <= 2.0 / n
        assert min(gaps) >= 0.3 / n


# -- errors never poll faster than the last good state would ---------------------------------------


async def test_a_finished_object_keeps_its_resync_during_an_outage(running: Any) -> None:
    cce = FakeCce({"c1": lambda _: workflows(60)})
    server = FakeApiServer()
    scheduler = scheduler_for(cce, server)
    scheduler.upsert(server.apply("a"))
    running(scheduler)
    await asyncio.sleep(10)
    assert server.objects["a"].status is not None
    assert server.objects["a"].status.phase == "Success"
    cce.answers["c1"] = fails(ServerError("CCE unavailable", status=503))
    await asyncio.sleep(3600)
    times = cce.times("c1")
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) <= 8  # the first + one per 10-min resync (± 10 % jitter)
    assert min(gaps) >= 540


async def test_a_running_object_backs_off_on_errors_up_to_the_cap(running: Any) -> None:
    cce = FakeCce({"c1": fails(ServerError("CCE unavailable", status=503))})
    server = FakeApiServer()
    scheduler = Scheduler(
        client=cce,
        credentials=Secrets(),
        sink=server,
        config=SchedulerConfig(policy=IntervalPolicy(jitter=0.0)),
        clock=asyncio.get_running_loop().time,
    )
    scheduler.upsert(server.apply("a"))
    running(scheduler)
    await asyncio.sleep(1500)
    times = cce.times("c1")
    gaps = [round(b - a) for a, b in itertools.pairwise(times)]
    assert gaps[:6] == [30, 60, 120, 240, 300, 300]


def test_the_error_interval_is_never_below_the_normal_one() -> None:
    policy = IntervalPolicy()
    done = UpgradeStatus(phase="Success")
    assert [policy.for_status(30, done, n) for n in range(4)] == [600, 600, 600, 600]
    assert [policy.for_status(30, None, n) for n in range(7)] == [30, 30, 60, 120, 240, 300, 300]


# -- one bad credential, many clusters -------------------------------------------------------------


async def test_a_refused_credential_is_tried_once_per_round_not_once_per_cluster(running: Any) -> None:
    refused = fails(AuthenticationError("authentication refused", status=401, code="APIGW.0301"))
    clusters = [f"c{i}" for i in range(10)]
    cce = FakeCce(dict.fromkeys(clusters, refused) | {"ok": lambda _: workflows(20)})
    server = FakeApiServer()
    scheduler = scheduler_for(cce, server, secrets=Secrets({"s": "bad", "other": "good"}))
    for cluster in clusters:
        scheduler.upsert(server.apply(f"o-{cluster}", clusterId=cluster))
    scheduler.upsert(server.apply("fine", clusterId="ok", credentialsSecretRef={"name": "other"}))
    running(scheduler)
    await asyncio.sleep(30)
    bad = [t for t, c in cce.calls if c != "ok"]
    assert len(bad) == 1  # the first round: one attempt for ten clusters
    for cluster in clusters:  # and every object says why
        status = server.objects[f"o-{cluster}"].status
        assert status is not None
        assert next(c for c in status.conditions if c.type == "Stalled").reason == "AuthenticationFailed"
    await asyncio.sleep(1800)
    bad = [t for t, c in cce.calls if c != "ok"]
    gaps = [b - a for a, b in itertools.pairwise(bad)]
    assert len(bad) <= 6  # 60 s, 120 s, 240 s, 480 s, 600 s apart: CCE's lockout is never reached
    assert all(gap >= 60 for gap in gaps)
    assert cce.count("ok") >= 50  # the healthy Secret is not slowed down


async def test_a_credential_that_works_again_is_used_when_its_backoff_ends(running: Any) -> None:
    """Polls that found the credential blocked (no request) do not lengthen the object's own
    backoff: the next request goes out when the credential's wait is over."""
    cce = FakeCce({"c1": fails(AuthenticationError("authentication refused", status=401))})
    server = FakeApiServer()
    scheduler = Scheduler(
        client=cce,
        credentials=Secrets(),
        sink=server,
        config=SchedulerConfig(policy=IntervalPolicy(jitter=0.0)),
        clock=asyncio.get_running_loop().time,
    )
    scheduler.upsert(server.apply("a"))
    running(scheduler)
    await asyncio.sleep(10)
    cce.answers["c1"] = lambda _: workflows(20)  # the key works again (unlocked, permission fixed)
    await asyncio.sleep(60)
    assert cce.times("c1") == [0.5, 60.5]
    status = server.objects["a"].status
    assert status is not None
    assert status.phase == "Running"


async def test_a_rotated_secret_is_tried_at_once(running: Any) -> None:
    refused = fails(AuthenticationError("authentication refused", status=401))
    cce = FakeCce({"c1": refused})
    secrets = Secrets({"s": "bad"})
    server = FakeApiServer()
    scheduler = scheduler_for(cce, server, secrets=secrets)
    scheduler.upsert(server.apply("a"))
    running(scheduler)
    await asyncio.sleep(200)
    secrets.tokens["s"] = "new"
    cce.answers["c1"] = lambda target: workflows(20)
    await asyncio.sleep(310)  # the group's own error interval (at most 300 s), not the old key's backoff
    status = server.objects["a"].status
    assert status is not None
    assert status.phase == "Running"


# -- a throttled or hanging endpoint beside a healthy one ------------------------------------------


async def test_a_throttled_and_a_hanging_endpoint_do_not_starve_a_healthy_one(running: Any) -> None:
    gates = GateRegistry(10.0, 10, max_in_flight=5, clock=asyncio.get_running_loop().time)

    class GatedCce(FakeCce):
        async def list_upgrade_workflows(self, target: ClusterTarget) -> UpgradeWorkflowList:
            gate = gates(target.endpoint.host)
            await gate.admit()
            try:
                self.calls.append((now(), target.cluster_id))
                if target.cluster_id.startswith("throttled"):
                    gate.hold_until(now() + 60)  # 429 with Retry-After: 60, every time
                    raise ServerError("throttled", status=429)
                answered = any(c.startswith("hanging") for _, c in self.calls[:-1])
                if target.cluster_id.startswith("hanging") and answered:
                    await asyncio.sleep(3600)  # never answers (in this test) after its first answer
                return workflows(20)
            finally:
                gate.done()

    cce = GatedCce()
    server = FakeApiServer()
    scheduler = scheduler_for(cce, server)
    for i in range(30):
        scheduler.upsert(server.apply(f"t{i}", clusterId=f"throttled{i}", region="ap-southeast-1"))
        scheduler.upsert(server.apply(f"h{i}", clusterId=f"hanging{i}", region="ap-southeast-3"))
    scheduler.upsert(server.apply("fresh", clusterId="healthy", region="eu-west-101"))
    running(scheduler)
    await asyncio.sleep(600)
    healthy = cce.times("healthy")
    gaps = [b - a for a, b in itertools.pairwise(healthy)]
    assert len(healthy) >= 18
    assert max(gaps) <= 33  # every 30 s (± 10 %), as if alone
    assert sum(1 for _, c in cce.calls if c.startswith("hanging")) == 1 + 5  # its own places only


# -- metrics ---------------------------------------------------------------------------------------


async def test_metrics_count_every_object_and_do_not_call_a_configuration_failure_a_success(running: Any) -> None:
    cce = FakeCce({"c1": lambda _: workflows(20)})
    server = FakeApiServer()
    metrics = Metrics()
    scheduler = Scheduler(
        client=cce, credentials=Secrets(), sink=server, clock=asyncio.get_running_loop().time, observer=metrics
    )
    metrics.count_objects(lambda: scheduler.watched)
    scheduler.upsert(server.apply("a"))
    scheduler.upsert(server.apply("paused", suspend=True))
    scheduler.upsert(replace(server.apply("broken"), spec=None, spec_error="spec.region: bad"))
    running(scheduler)
    await asyncio.sleep(5)
    ref = server.objects["a"].ref
    assert ref in metrics.per_object.last_success
    metrics.per_object.last_success[ref] = 1.0  # a marker: any later update replaces it
    cce.answers["c1"] = fails(NotFound("project or cluster not found", status=404))
    await asyncio.sleep(200)
    status = server.objects["a"].status
    assert status is not None
    assert next(c for c in status.conditions if c.type == "Stalled").reason == "ClusterNotFound"
    assert metrics.per_object.last_success[ref] == 1.0
    text = generate_latest(metrics.registry).decode()
    assert "ccupgrade_watched_objects 3.0" in text
    assert "_created" not in text


# -- an object whose DELETED watch event was missed ----------------------------------------------


async def test_an_object_deleted_unseen_is_forgotten_at_its_first_404_with_its_metrics(running: Any) -> None:
    cce = FakeCce({"c1": lambda _: workflows(now() % 60), "c2": lambda _: workflows(now() % 60)})
    server = FakeApiServer()
    attempts: list[str] = []

    async def count(watched: Watched, result: Mirrored) -> None:
        attempts.append(watched.ref.name)

    server.before = count
    metrics = Metrics()
    scheduler = Scheduler(
        client=cce, credentials=Secrets(), sink=server, clock=asyncio.get_running_loop().time, observer=metrics
    )
    scheduler.upsert(server.apply("gone", clusterId="c1"))
    scheduler.upsert(server.apply("kept", clusterId="c2"))
    running(scheduler)
    await asyncio.sleep(5)
    gone = server.objects["gone"].ref
    assert gone in metrics.per_object.phases
    del server.objects["gone"]  # deleted; the watch never says so
    attempts.clear()
    reads = cce.count("c1")
    await asyncio.sleep(3600)
    assert attempts.count("gone") == 1  # the one write that found it gone
    assert cce.count("c1") == reads + 1  # the read whose write found it gone, then no more
    assert cce.count("c2") - reads >= 100  # the other object is polled as before
    assert gone not in metrics.per_object.phases
    assert 'name="gone"' not in generate_latest(metrics.registry).decode()
    assert scheduler.watched == 1


# -- a Retry-After of an hour on one endpoint ------------------------------------------------------


async def test_an_hour_long_retry_after_holds_its_endpoint_briefly_and_its_objects_say_throttled(
    running: Any,
) -> None:
    throttled: dict[str, int] = {}  # cluster -> 429s still to answer

    def answer(url: str) -> tuple[int, dict[str, str], bytes]:
        if "/operation/upgradeworkflows" not in url:
            return 404, {}, b'{"error_code": "CCE.01404001", "error_msg": "not found"}'
        cluster = url.split("/clusters/")[1].split("/")[0]
        if throttled.get(cluster):
            throttled[cluster] -= 1
            return 429, {"Retry-After": "3600"}, b'{"error_code": "APIGW.0308", "error_msg": "Too many requests"}'
        return 200, {}, listing(20).encode()

    loop = asyncio.get_running_loop()
    session = FakeSession(answer)
    client = CceClient(cast(Any, session), gates=GateRegistry(10.0, 10, clock=loop.time))
    server = FakeApiServer()
    scheduler = Scheduler(
        client=client, credentials=Secrets(), sink=server, clock=loop.time, tasks=TaskReader(client), caches=client
    )
    scheduler.upsert(server.apply("t", clusterId="t"))  # t and o: one endpoint (ap-southeast-1)
    scheduler.upsert(server.apply("o", clusterId="o"))
    scheduler.upsert(server.apply("x", clusterId="x", region="eu-west-101"))  # another endpoint
    running(scheduler)
    await asyncio.sleep(5)
    throttled["t"] = 1
    await asyncio.sleep(40)
    assert throttled["t"] == 0
    (held_at,) = [t for t in session.reads_of("t") if t > 5]
    await asyncio.sleep(60)
    status = server.objects["o"].status  # o's poll came and failed at once, saying why
    assert status is not None
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("Unknown", "CloudAPIUnavailable")
    assert "throttled" in ready.message
    assert status.phase == "Running"  # the last good status is kept
    await asyncio.sleep(400)
    held = [t for t in session.reads_of("t") + session.reads_of("o") if held_at < t]
    assert held
    assert min(held) >= held_at + 300  # nothing sent while held, for at most 5 minutes
    assert min(held) <= held_at + 300 + 300  # then read again within the longest error backoff
    assert len(session.reads_of("x")) >= 16  # the other endpoint was never held


# -- a flapping CCE ------------------------------------------------------------------------------


async def test_a_flapping_cce_is_one_outage_per_object_not_an_event_and_write_storm(running: Any) -> None:
    reads = itertools.count()

    def flapping(_: ClusterTarget) -> UpgradeWorkflowList:
        if next(reads) % 2:
            raise ServerError("CCE unavailable", status=503)
        return workflows(20)

    cce = FakeCce({"c1": flapping})
    server = FakeApiServer()
    scheduler = on_fake_wall(cce, server)
    names = [f"o{i}" for i in range(50)]
    for name in names:
        scheduler.upsert(server.apply(name))
    running(scheduler)
    await asyncio.sleep(3600)
    assert cce.count("c1") >= 100  # every 30 s, every other one failing

    def reasons(name: str) -> list[str]:
        return [event.reason for posted, event in server.events if posted == name]

    for name in names:
        assert reasons(name).count("CloudAPIError") == 1  # once it had lasted a minute
        assert reasons(name).count("CloudAPIRecovered") == 0  # it has not ended
        assert len(server.writes_of(name)) <= 10  # first sight, Unknown, the announcement, 6 resyncs
        status = server.objects[name].status
        assert status is not None
        assert next(c for c in status.conditions if c.type == "Ready").status == "Unknown"  # said at once
    cce.answers["c1"] = lambda _: workflows(20)  # steady again
    await asyncio.sleep(400)
    for name in names:
        assert reasons(name).count("CloudAPIRecovered") == 1
        assert reasons(name).index("CloudAPIError") < reasons(name).index("CloudAPIRecovered")
        status = server.objects[name].status
        assert status is not None
        assert next(c for c in status.conditions if c.type == "Ready").reason == "UpgradeInProgress"


async def test_a_short_outage_is_not_announced_and_its_recovery_neither(running: Any) -> None:
    answers = iter([True, False, False, True])  # one minute of failures less a bit

    def blip(_: ClusterTarget) -> UpgradeWorkflowList:
        if not next(answers, True):
            raise ServerError("CCE unavailable", status=503)
        return workflows(20)

    cce = FakeCce({"c1": blip})
    server = FakeApiServer()
    scheduler = on_fake_wall(cce, server)
    scheduler.upsert(server.apply("a"))
    running(scheduler)
    await asyncio.sleep(80)
    status = server.objects["a"].status
    assert status is not None
    assert next(c for c in status.conditions if c.type == "Ready").status == "Unknown"  # at once
    await asyncio.sleep(900)
    assert not {"CloudAPIError", "CloudAPIRecovered"} & {event.reason for _, event in server.events}
    status = server.objects["a"].status
    assert status is not None
    assert status.cloud_outage is None
    assert next(c for c in status.conditions if c.type == "Ready").reason == "UpgradeInProgress"
