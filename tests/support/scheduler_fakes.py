"""In-memory stand-ins for CCE and the API server, for the scheduler on fake time (looptime)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ccupgrade.cce.client import ClusterTarget
from ccupgrade.cce.credentials import Credentials, TokenCredentials
from ccupgrade.cce.parser import parse_workflow_list
from ccupgrade.mirror import Mirrored
from ccupgrade.models.cce import UpgradeWorkflowList
from ccupgrade.models.resource import RecordedEvent
from ccupgrade.models.watched import ObjectRef, Watched
from ccupgrade.scheduler.poller import Scheduler, SchedulerConfig
from ccupgrade.scheduler.ports import ObjectGone, WriteFailed
from ccupgrade.simulator.scenario import ClusterScenario, ScenarioClock, load_scenario


def now() -> float:
    return asyncio.get_running_loop().time()


_EPOCHS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, datetime] = weakref.WeakKeyDictionary()


def workflows(at: float) -> UpgradeWorkflowList:
    """The standard scenario at scenario second `at` (60: Success), its second 0 fixed per test (per
    event loop): a new ClusterScenario starts at the wall clock's second, so a poll made after that
    second turned read timestamps one second later, a change no test made (every status was written
    again: seen once, in a full `make test`)."""
    return parse_workflow_list(listing(at))


def listing(at: float) -> str:
    """What CCE answers for `workflows(at)`, as JSON."""
    cluster = ClusterScenario("p", "c", load_scenario("standard"), ScenarioClock(paused=True, start=at))
    with contextlib.suppress(RuntimeError):  # RuntimeError: no loop, a synchronous caller
        cluster.epoch = _EPOCHS.setdefault(asyncio.get_running_loop(), cluster.epoch)
    return json.dumps(cluster.render_list())


NO_WORKFLOWS = parse_workflow_list(json.dumps({"items": []}))

Answer = Callable[[ClusterTarget], UpgradeWorkflowList]


class FakeCce:
    """Answers per cluster (a list, or an exception to raise); can hold a cluster's calls."""

    def __init__(self, answers: dict[str, Answer] | None = None) -> None:
        self.answers = answers or {}
        self.calls: list[tuple[float, str]] = []
        self.held: dict[str, asyncio.Event] = {}
        self.started = asyncio.Event()

    def count(self, cluster: str) -> int:
        return sum(1 for _, c in self.calls if c == cluster)

    def times(self, cluster: str) -> list[float]:
        return [t for t, c in self.calls if c == cluster]

    async def list_upgrade_workflows(self, target: ClusterTarget) -> UpgradeWorkflowList:
        self.calls.append((now(), target.cluster_id))
        self.started.set()
        hold = self.held.get(target.cluster_id)
        if hold is not None:
            await hold.wait()
        answer: Answer = self.answers.get(target.cluster_id, lambda _: workflows(20))
        return answer(target)


def fails(error: Exception) -> Answer:
    def answer(_: ClusterTarget) -> UpgradeWorkflowList:
        raise error

    return answer


class Secrets:
    """Secret name -> token; a missing name is an incomplete test."""

    def __init__(self, tokens: dict[str, str] | None = None) -> None:
        self.tokens = tokens or {"s": "good"}

    async def credentials(self, namespace: str, secret_name: str) -> Credentials:
        return TokenCredentials(self.tokens[secret_name])

    def forget(self, namespace: str, secret_name: str) -> None:
        pass


@dataclass
class Write:
    name: str
    generation: int | None
    result: Mirrored
    at: float


@dataclass
class FakeApiServer:
    """The API server's side of the objects: versions, merge patches with a resourceVersion
    precondition (a mismatch answers with the object as re-read, as `KubeIO` does after a 409; an
    applied patch with the status as sent, also where `prune` drops fields from what is stored)."""

    objects: dict[str, Watched] = field(default_factory=dict)
    writes: list[Write] = field(default_factory=list)
    attempts: int = 0
    failures: list[Exception] = field(default_factory=list)  # raised by the next publishes, in order
    meddle: bool = False  # someone else writes the status just before each of ours
    before: Callable[[Watched, Mirrored], Awaitable[None]] | None = None  # runs first in each publish
    version: int = 100
    events: list[tuple[str, RecordedEvent]] = field(default_factory=list)  # posted, in order
    journal: list[tuple[str, str]] = field(default_factory=list)  # ("status" | "event", object name), in order
    event_failures: list[Exception] = field(default_factory=list)  # raised by the next Event posts
    event_budget: int | None = None  # posts that succeed before every further one fails (None: no limit)
    event_posts: int = 0  # POSTs received, 409s included
    event_delay: float = 0.01  # how long a POST takes
    event_lists: int = 0  # LISTs of Events received
    status_in_flight: int = 0  # status writes under way
    posts_during_status: int = 0  # Event POSTs that started while a status write was under way
    prune: frozenset[str] = frozenset()  # status fields an older CRD schema drops from what is stored

    def _next_version(self) -> str:
        self.version += 1
        return str(self.version)

    def apply(self, name: str, **spec: Any) -> Watched:
        """Creates or changes an object's spec (generation + 1), as `kubectl apply` would."""
        old = self.objects.get(name)
        generation = 1 if old is None else (old.generation or 0) + 1
        full = {
            "region": "ap-southeast-1",
            "projectId": "p",
            "clusterId": "c1",
            "credentialsSecretRef": {"name": "s"},
            "pollInterval": "30s",
            **spec,
        }
        body = {
            "metadata": {
                "name": name,
                "namespace": "ns",
                "uid": f"uid-{name}",
                "generation": generation,
                "resourceVersion": self._next_version(),
            },
            "spec": full,
        }
        watched = replace(Watched.from_body(body), status=old.status if old else None)
        self.objects[name] = watched
        return watched

    def writes_of(self, name: str) -> list[Write]:
        return [w for w in self.writes if w.name == name]

    async def publish(self, watched: Watched, result: Mirrored) -> Watched | None:
        self.status_in_flight += 1
        try:
            return await self._publish(watched, result)
        finally:
            self.status_in_flight -= 1

    async def _publish(self, watched: Watched, result: Mirrored) -> Watched | None:
        self.attempts += 1
        if self.before is not None:
            await self.before(watched, result)
        await asyncio.sleep(0.01)
        if self.failures:
            raise self.failures.pop(0)
        stored = self.objects.get(watched.ref.name)
        if stored is None:
            raise ObjectGone(f"{watched.ref} not found")  # as KubeIO does after a 404 it confirmed
        if self.meddle:
            stored = self.objects[watched.ref.name] = replace(stored, resource_version=self._next_version())
        if not result.changed:
            return watched
        if watched.resource_version != stored.resource_version:
            return stored  # 409, then re-read
        new = replace(stored, status=result.status, resource_version=self._next_version())
        kept = result.status.model_copy(update=dict.fromkeys(self.prune))
        self.objects[watched.ref.name] = replace(new, status=kept) if self.prune else new
        self.writes.append(Write(watched.ref.name, watched.generation, result, now()))
        self.journal.append(("status", watched.ref.name))
        return new

    async def post_event(self, ref: ObjectRef, event: RecordedEvent) -> None:
        if self.status_in_flight:
            self.posts_during_status += 1
        await asyncio.sleep(self.event_delay)
        self.event_posts += 1
        if self.event_failures:
            raise self.event_failures.pop(0)
        if self.event_budget is not None:
            if self.event_budget <= 0:
                raise WriteFailed("API server unreachable", "unreachable")
            self.event_budget -= 1
        if any(posted.name == event.name for _, posted in self.events):
            return  # 409: already there
        self.events.append((ref.name, event))
        self.journal.append(("event", ref.name))

    async def event_names(self, namespace: str) -> set[str]:
        await asyncio.sleep(self.event_delay)
        self.event_lists += 1
        return {event.name for _, event in self.events}


def scheduler_for(cce: FakeCce, server: FakeApiServer, secrets: Secrets | None = None, **config: Any) -> Scheduler:
    return Scheduler(
        client=cce,
        credentials=secrets or Secrets(),
        sink=server,
        config=SchedulerConfig(**config),
        clock=asyncio.get_running_loop().time,
    )


class _FakeResponse:
    """What Transport reads of an aiohttp response."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = {"Content-Type": "application/json", **headers}
        self.content_length = len(body)
        self.content = self
        self._body = body

    async def read(self, limit: int) -> bytes:
        """As aiohttp's StreamReader: at most `limit` bytes of what is left, b"" at the end."""
        chunk, self._body = self._body[:limit], self._body[limit:]
        return chunk

    async def __aenter__(self) -> _FakeResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class FakeSession:
    """Stands in for aiohttp's session under the real CceClient, Transport and endpoint gates:
    answers each request from `answer(url)` at once, on the loop's (fake) time."""

    def __init__(self, answer: Callable[[str], tuple[int, dict[str, str], bytes]]) -> None:
        self.answer = answer
        self.requests: list[tuple[float, str]] = []

    def request(self, method: str, url: str, **_: Any) -> _FakeResponse:
        self.requests.append((now(), url))
        return _FakeResponse(*self.answer(url))

    def reads_of(self, cluster: str) -> list[float]:
        return [t for t, url in self.requests if f"/clusters/{cluster}/operation/upgradeworkflows" in url]

    async def close(self) -> None:
        pass


def on_fake_wall(cce: FakeCce, server: FakeApiServer) -> Scheduler:
    """A scheduler whose status time moves with the loop's fake clock (the outage windows need it)."""
    loop = asyncio.get_running_loop()
    start = datetime(2026, 12, 1, tzinfo=UTC)
    return Scheduler(
        client=cce,
        credentials=Secrets(),
        sink=server,
        clock=loop.time,
        wall=lambda: start + timedelta(seconds=loop.time()),
    )
