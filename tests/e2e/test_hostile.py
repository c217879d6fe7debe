"""One hostile world, end to end: the operator (a process, the test bed's real API server) and the
real `kubectl ccupgrade` over the simulator's `hostile` scenario, a flapping endpoint and an hour's
Retry-After on another. The assertions are invariants over everything the operator wrote (every
stored version of every object, from a watch, and every Event), not examples of it."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import Counter
from functools import partial
from typing import Any, cast

import pytest
from kubernetes import watch

from ccupgrade.models.limits import CONDITION_MESSAGE_BYTES, EVENT_MESSAGE_BYTES, MAX_STATUS_BYTES
from ccupgrade.models.resource import GROUP, PLURAL, VERSION
from ccupgrade.simulator.control import SimulatorControl
from ccupgrade.testbed.services import Service, start_simulator
from tests.e2e.conftest import AK, SK, Env
from tests.support.kube import Kube, wait_for
from tests.support.plugin import run_plugin

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

# An outage is announced once it has lasted 3 s and over once CCE has answered for 30 s without a
# failure: longer than the ~10 s between the flapping endpoint's failed reads, so it is one outage.
WINDOWS = ("--outage-announce-after", "3s", "--outage-recover-after", "30s")
# CCE's error text as the flapping endpoint sends it: hostile where a cut keeps it (the client keeps
# its first 300 characters), then 3- and 4-byte characters, so an Event quoting it is over 1,024 bytes.
HOSTILE_ERROR = "\x1b]0;pwned\x07[/x][error]\x1b[2J\u202e[link=https://evil.example]点击[/link]\x9b31m\x00" + (
    "服务暂时不可用𠀋🚀" * 1200
)
FLAPPING = {"kind": "status", "status": 503, "shape": "camel", "message": HOSTILE_ERROR, "cycle": 5, "burst": 4}
HOUR_THROTTLE = {"kind": "throttle", "retryAfter": 3600}
# What must never reach a terminal (the plugin's output, the operator's log): C0 but tab and line
# feed, DEL, C1 (ESC is C0); in stored messages also the bidirectional overrides, which the operator
# removes too.
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
STORED_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
STAGES = (10, 15, 20, 25, 30)  # the hostile scenario's seconds at which something changes


class History:
    """Every stored version of the namespace's CceClusterUpgrades, from a watch: each status write."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.versions: dict[str, list[dict[str, Any]]] = {}
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        listed = cast(dict[str, Any], kube.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL))
        self._resource_version: str = listed["metadata"]["resourceVersion"]
        self._thread = threading.Thread(target=self._run, name="history", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                stream = watch.Watch().stream(
                    self.kube.custom.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    self.namespace,
                    PLURAL,
                    resource_version=self._resource_version,
                    timeout_seconds=2,
                )
                for event in stream:
                    if event["type"] == "ERROR":
                        raise AssertionError(f"the watch failed: {event['object']}")
                    obj = event["raw_object"]
                    self._resource_version = obj["metadata"]["resourceVersion"]
                    with self._lock:
                        self.versions.setdefault(obj["metadata"]["name"], []).append(obj)
        except BaseException as exc:  # reported by stop(): a history with a gap fails the test
            self.error = exc

    def seen(self) -> dict[str, list[dict[str, Any]]]:
        """The versions seen so far, per object name."""
        with self._lock:
            return {name: list(versions) for name, versions in self.versions.items()}

    def close(self) -> None:
        """Ends the watch (within its 2 s timeout)."""
        self._stop.set()
        self._thread.join(timeout=30)

    def stop(self) -> dict[str, list[dict[str, Any]]]:
        """Every version seen, per object name (an incomplete history fails the test here)."""
        self.close()
        assert self.error is None, f"the watch stopped: {self.error!r}"
        assert not self._thread.is_alive(), "the watch did not stop"
        return self.seen()


def status_writes(versions: list[dict[str, Any]]) -> int:
    """How many stored versions changed the status (a no-op write stores no version)."""
    statuses = [v.get("status") for v in versions]
    return sum(1 for before, after in zip([None, *statuses], statuses, strict=False) if after != before)


def journal_of(versions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every Event any stored status promised (its eventJournal entries), by name."""
    return {e["name"]: e for v in versions for e in (v.get("status") or {}).get("eventJournal") or ()}


def operator_events(env: Env, name: str) -> list[Any]:
    listed = env.kube.core.list_namespaced_event(env.namespace, field_selector=f"involvedObject.name={name}")
    return [e for e in listed.items if e.source is not None and e.source.component == "cce-upgrade-operator"]


def failed_reads(control: SimulatorControl, project: str, cluster: str) -> int:
    """Reads that failed for good: the client tries each 4 times (3 retries) before it gives up."""
    return int(control.requests(project, cluster, limit=1)["byStatus"].get("503", 0)) // 4


def test_hostile_world_keeps_every_invariant(env: Env) -> None:
    hostile, flapping, throttled = env.cluster, str(uuid.uuid4()), str(uuid.uuid4())
    env.control.load(env.project, hostile, "hostile", paused=True)
    env.control.load(env.project, flapping, "hostile", paused=True)
    env.control.faults(env.project, flapping, FLAPPING)
    other = start_simulator(env.workdir / "other-region", extra=["--aksk", f"{AK}:{SK}"])
    env.started.append(other)
    other_control = SimulatorControl(other.url)
    other_control.load(env.project, throttled, "hostile", paused=True)
    other_control.faults(env.project, throttled, HOUR_THROTTLE)

    history = History(env.kube, env.namespace)
    try:
        _run(env, history, other, other_control, (hostile, flapping, throttled))
    finally:
        history.close()


def _run(
    env: Env, history: History, other: Service, other_control: SimulatorControl, clusters: tuple[str, ...]
) -> None:
    hostile, flapping, throttled = clusters
    env.create_secret()
    operator = env.start_operator(*WINDOWS)
    env.create_upgrade("throttled", endpoint=other.url, clusterId=throttled)
    env.create_upgrade("hostile", clusterId=hostile)
    env.create_upgrade("flapping", clusterId=flapping)
    names = ("hostile", "flapping", "throttled")

    # The hour's Retry-After holds its endpoint: the object says so, and no request follows the 429.
    env.wait_condition("Ready", "Unknown", "CloudAPIUnavailable", name="throttled", timeout=30)
    # Another endpoint stays fresh meanwhile: every change of the hostile cluster is mirrored within
    # 30 s (its poll interval is 5 s), while the flapping cluster on that endpoint fails every other read.
    env.wait_status(lambda s: s.get("phase") == "Init", name="hostile", timeout=30, what="the first read")
    for second in STAGES:
        env.at(second)
        env.wait_status(partial(_shows_stage, second=second), name="hostile", timeout=30, what=f"second {second}")
    held = other_control.requests(env.project, throttled, limit=1)
    assert (held["total"], held["byStatus"]) == (1, {"429": 1}), held

    # The flapping cluster has failed often enough for a write or an Event per failure to show.
    wait_for(lambda: failed_reads(env.control, env.project, flapping) >= 3, timeout=60, message="three failed reads")
    env.wait_condition("Ready", "Unknown", "CloudAPIUnavailable", name="flapping", timeout=20)
    for name in ("flapping", "throttled"):
        env.wait_events(lambda ev: "CloudAPIError" in {e["reason"] for e in ev}, name=name, what="the announcement")

    # The plugin, over all of it: exit 0, no raw control character.
    for args in (("list", "-A"), *(("status", name, "-n", env.namespace) for name in names)):
        done = run_plugin(env.kube, *args)
        assert done.returncode == 0, f"kubectl ccupgrade {' '.join(args)}: {done.stderr[-2000:]}"
        for stream in (done.stdout, done.stderr):
            found = RAW_CONTROL.search(stream)
            assert found is None, f"{args}: raw {found.group()!r} in {stream[max(0, found.start() - 80) :][:200]!r}"

    # Every promised Event is posted before the operator stops; then nothing more is written.
    promised = {name: set(journal_of(versions)) for name, versions in history.seen().items()}
    for name in names:
        env.wait_events(partial(_all_posted, promised[name]), name=name, what="the promised Events")
    operator.stop()
    versions = history.stop()
    log = operator.log_text()
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:6000]
    raw = RAW_CONTROL.search(log)
    assert raw is None, f"raw {raw.group()!r} in the operator's log: {log[max(0, raw.start() - 200) :][:400]!r}"

    for name in names:
        _check_object(env, name, versions[name])
    _check_bounds(env, versions, failed_reads(env.control, env.project, flapping))


def _all_posted(promised: set[str], events: list[dict[str, Any]]) -> bool:
    return promised <= {e["name"] for e in events}


def _shows_stage(status: dict[str, Any], second: int) -> bool:
    tasks = {t["type"]: t["status"] for t in status.get("tasks") or ()}
    pre_check = status.get("preCheck") or {}
    if second == 10:
        return tasks.get("PreCheck") == "Running"
    if second == 15:
        return tasks.get("PreCheck") == "Success" and bool(pre_check.get("findings"))
    if second == 20:
        return (status.get("phase") or "").startswith("升级中")
    if second == 25:
        return tasks.get("Cluster") == "Running"
    return status.get("phase") == "Success"


def _check_object(env: Env, name: str, versions: list[dict[str, Any]]) -> None:
    """Every Event promised is posted exactly once, as promised; every message and status bounded."""
    promised = journal_of(versions)
    events = operator_events(env, name)
    posted = {e.metadata.name for e in events}  # an Event's name is unique: a second post answers 409
    assert posted == set(promised), (name, posted ^ set(promised))
    for event in events:
        entry = promised[event.metadata.name]
        assert (event.count or 1) == 1, (name, event.metadata.name, event.count)
        assert (event.type, event.reason, event.message) == (entry["type"], entry["reason"], entry["message"])
        assert len(event.message.encode()) <= EVENT_MESSAGE_BYTES, (name, event.reason, len(event.message.encode()))
        assert STORED_CONTROL.search(event.message) is None, (name, event.reason, event.message[:300])
    for version in versions:
        status = version.get("status") or {}
        size = len(json.dumps(status, separators=(",", ":"), ensure_ascii=False).encode())
        assert size <= MAX_STATUS_BYTES, (name, size)
        for condition in status.get("conditions") or ():
            message = condition.get("message") or ""
            assert len(message.encode()) <= CONDITION_MESSAGE_BYTES, (name, condition["type"], len(message.encode()))
            assert STORED_CONTROL.search(message) is None, (name, condition["type"], message[:300])


def _check_bounds(env: Env, versions: dict[str, list[dict[str, Any]]], flapping_failures: int) -> None:
    """Writes and Events per object, bounded by the outage rules: an outage costs at most three status
    writes (its start, its announcement, its end) and two Events (CloudAPIError, then CloudAPIRecovered
    only if it was announced), however often CCE fails during it; an observed change costs one write
    (the scenario clock stands still between stages, so each stage is one change)."""
    writes = {name: status_writes(v) for name, v in versions.items()}
    events = {name: operator_events(env, name) for name in versions}
    reasons = {name: Counter(e.reason for e in listed) for name, listed in events.items()}
    for name, listed in events.items():
        assert reasons[name]["CloudAPIError"] <= 1, (name, reasons[name])
        assert reasons[name]["CloudAPIRecovered"] <= reasons[name]["CloudAPIError"], (name, reasons[name])
        # each transition is told once, whatever the retries and re-reads
        told = Counter((e.reason, e.message) for e in listed)
        assert max(told.values(), default=0) == 1, (name, [t for t, n in told.items() if n > 1])
    # The throttled object never read CCE: its outage's start and announcement (the hold, at most
    # five minutes, outlasts the test, so it cannot end), and its one Event.
    assert writes["throttled"] <= 2, writes
    assert sum(reasons["throttled"].values()) <= 1, reasons["throttled"]
    # The flapping object's data never changes (its scenario stays at second 0): its first sight and
    # one outage, however many of its reads failed; without the outage windows each failed read and
    # each answer after one would be a write and an Event.
    assert flapping_failures >= 3
    assert writes["flapping"] <= 1 + 3, (writes, flapping_failures)
    assert sum(reasons["flapping"].values()) <= 1 + 2, reasons["flapping"]
    # The hostile object: its first sight and one write per stage of its scenario.
    assert writes["hostile"] <= 1 + len(STAGES), writes
