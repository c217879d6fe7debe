"""The poll scheduler with in-memory stand-ins for CCE and Kubernetes: sharing, suspend, bad specs."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import replace
from typing import Any

from ccupgrade.cce.client import ClusterTarget
from ccupgrade.cce.credentials import Credentials, TokenCredentials
from ccupgrade.cce.errors import SecretNotFound
from ccupgrade.cce.parser import parse_workflow_list
from ccupgrade.mirror import Mirrored
from ccupgrade.models.cce import UpgradeWorkflowList
from ccupgrade.models.resource import RecordedEvent
from ccupgrade.models.watched import ObjectRef, Watched
from ccupgrade.scheduler.poller import Scheduler, SchedulerConfig
from ccupgrade.simulator.scenario import ClusterScenario, ScenarioClock, load_scenario


class FakeCce:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    async def list_upgrade_workflows(self, target: ClusterTarget) -> UpgradeWorkflowList:
        self.calls[target.cluster_id] += 1
        cluster = ClusterScenario(
            target.project_id, target.cluster_id, load_scenario("standard"), ScenarioClock(paused=True)
        )
        return parse_workflow_list(json.dumps(cluster.render_list()))


class FakeSecrets:
    def __init__(self, present: set[str]) -> None:
        self.present = present

    async def credentials(self, namespace: str, secret_name: str) -> Credentials:
        if secret_name not in self.present:
            raise SecretNotFound(f"Secret {secret_name!r} not found in namespace {namespace!r}")
        return TokenCredentials("t")

    def forget(self, namespace: str, secret_name: str) -> None:
        pass


class FakeSink:
    def __init__(self) -> None:
        self.writes: list[tuple[str, Mirrored]] = []
        self.events: list[tuple[str, RecordedEvent]] = []
        self.version = 0

    async def publish(self, watched: Watched, result: Mirrored) -> Watched | None:
        self.writes.append((watched.ref.name, result))
        self.version += 1
        body = _body(watched.ref.name, spec=None, generation=watched.generation)
        body["metadata"]["resourceVersion"] = str(self.version)
        return replace(Watched.from_body(body), spec=watched.spec, status=result.status)

    async def post_event(self, ref: ObjectRef, event: RecordedEvent) -> None:
        self.events.append((ref.name, event))

    async def event_names(self, namespace: str) -> set[str]:
        return {event.name for _, event in self.events}


def _body(
    name: str, spec: dict[str, Any] | None = None, generation: int | None = 1, **overrides: Any
) -> dict[str, Any]:
    full_spec = {
        "region": "ap-southeast-1",
        "projectId": "p",
        "clusterId": "c1",
        "credentialsSecretRef": {"name": "s"},
        "pollInterval": "30s",
        **overrides,
    }
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "generation": generation,
            "resourceVersion": "1",
        },
        "spec": spec if spec is not None else full_spec,
    }


async def _run_for(scheduler: Scheduler, seconds: float) -> None:
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_objects_on_one_cluster_share_one_request() -> None:
    cce, sink = FakeCce(), FakeSink()
    scheduler = Scheduler(client=cce, credentials=FakeSecrets({"s"}), sink=sink)
    for name in ("a", "b", "c"):
        scheduler.upsert(Watched.from_body(_body(name)))
    scheduler.upsert(Watched.from_body(_body("d", clusterId="c2")))
    await _run_for(scheduler, 1.2)
    assert cce.calls == Counter({"c1": 1, "c2": 1})
    assert sorted(name for name, _ in sink.writes) == ["a", "b", "c", "d"]
    assert len(scheduler._groups) == 2  # one poll group per cluster


async def test_suspended_and_invalid_objects_are_not_polled_but_say_why() -> None:
    cce, sink = FakeCce(), FakeSink()
    scheduler = Scheduler(client=cce, credentials=FakeSecrets({"s"}), sink=sink)
    scheduler.upsert(Watched.from_body(_body("paused", suspend=True)))
    scheduler.upsert(Watched.from_body(_body("broken", spec={"region": "x"})))
    await _run_for(scheduler, 1.0)
    assert cce.calls == Counter()
    reasons = {name: {c.type: c.reason for c in result.status.conditions} for name, result in sink.writes}
    assert reasons["paused"]["Reconciling"] == "Suspended"
    assert reasons["broken"]["Stalled"] == "InvalidSpec"
    broken = next(result for name, result in sink.writes if name == "broken")
    assert "spec.region" in broken.status.conditions[0].message


async def test_missing_secret_is_a_configuration_failure_for_every_object_on_the_key() -> None:
    cce, sink = FakeCce(), FakeSink()
    scheduler = Scheduler(client=cce, credentials=FakeSecrets(set()), sink=sink)
    scheduler.upsert(Watched.from_body(_body("a")))
    scheduler.upsert(Watched.from_body(_body("b")))
    await _run_for(scheduler, 1.0)
    assert cce.calls == Counter()
    assert {name for name, _ in sink.writes} == {"a", "b"}
    for _, result in sink.writes:
        stalled = next(c for c in result.status.conditions if c.type == "Stalled")
        assert (stalled.status, stalled.reason) == ("True", "SecretNotFound")
        assert [e.reason for e in result.events] == ["SecretNotFound"]


async def test_deleted_objects_leave_their_group() -> None:
    cce, sink = FakeCce(), FakeSink()
    scheduler = Scheduler(client=cce, credentials=FakeSecrets({"s"}), sink=sink)
    watched = Watched.from_body(_body("a"))
    scheduler.upsert(watched)
    scheduler.remove(watched.ref)
    await _run_for(scheduler, 1.0)
    assert cce.calls == Counter()
    assert scheduler._groups == {}


class SlowSink(FakeSink):
    """Publishes take a while; records how many were under way at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most_in_flight = 0

    async def publish(self, watched: Watched, result: Mirrored) -> Watched | None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            return await super().publish(watched, result)
        finally:
            self.in_flight -= 1


async def test_writes_in_a_burst_are_bounded_and_none_is_dropped() -> None:
    cce, sink = FakeCce(), SlowSink()
    scheduler = Scheduler(
        client=cce, credentials=FakeSecrets({"s"}), sink=sink, config=SchedulerConfig(max_concurrent_writes=3)
    )
    names = [f"o{i:02d}" for i in range(40)]
    for index, name in enumerate(names):
        scheduler.upsert(Watched.from_body(_body(name, clusterId=f"c{index % 4}")))
    await _run_for(scheduler, 1.5)
    assert sink.most_in_flight == 3
    assert sorted(name for name, _ in sink.writes) == names
    assert sum(cce.calls.values()) == 4
