"""The scheduler end to end: what reaches the API server while specs change, and what reaches CCE
while it fails. The operator runs as its own process against the real API server and the simulator."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from typing import Any

import pytest
from kubernetes import watch

from ccupgrade.models.resource import GROUP, PLURAL, VERSION
from tests.e2e.conftest import Env

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


class VersionRecorder:
    """Every version of one object, from a watch started at a known resourceVersion. A watch that
    ends (its timeout, a dropped connection) is resumed from the last version seen, so none is missed."""

    def __init__(self, env: Env, name: str, resource_version: str) -> None:
        self.versions: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(env, name, resource_version), daemon=True)
        self._thread.start()

    def _run(self, env: Env, name: str, resource_version: str) -> None:
        while not self._stop.is_set():
            try:
                stream = watch.Watch().stream(
                    env.kube.custom.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    env.namespace,
                    PLURAL,
                    field_selector=f"metadata.name={name}",
                    resource_version=resource_version,
                    timeout_seconds=2,
                )
                for event in stream:
                    self.versions.append(event["object"])
                    resource_version = event["object"]["metadata"]["resourceVersion"]
            except Exception:  # resumed from the last version seen
                time.sleep(0.2)

    def stop(self) -> list[dict[str, Any]]:
        self._stop.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive()
        return self.versions


def _phase(env: Env, name: str) -> str | None:
    return (env.get(name).get("status") or {}).get("phase")


def test_a_cluster_change_during_a_burst_never_shows_the_old_clusters_workflow(env: Env) -> None:
    """Many objects on cluster c1 change at once, so their writes queue behind one write slot; one
    of them is switched to cluster c2 while its write waits. No version of it may carry c1's
    workflow under the new generation."""
    other = str(uuid.uuid4())
    env.load()
    env.control.load(env.project, other, "cancelled", paused=True)
    env.create_secret()
    env.start_operator("--max-concurrent-writes", "1")
    fillers = [f"filler-{i:02d}" for i in range(60)]
    for name in [*fillers, "prod"]:
        env.create_upgrade(name)
    for name in [*fillers, "prod"]:
        env.wait_condition("Ready", "False", "UpgradeInitializing", name=name, timeout=90)
    old_uid = env.get("prod")["status"]["workflow"]["uid"]
    recorder = VersionRecorder(env, "prod", env.get("prod")["metadata"]["resourceVersion"])

    env.at(56)  # c1 finishes: every object has a status and several Events to write
    env.wait_status(lambda s: s.get("phase") == "Success", fillers[0], timeout=60, what="the burst to begin")
    assert _phase(env, "prod") != "Success", "the burst was over before the spec change; make it longer"
    env.patch_spec("prod", clusterId=other)

    env.wait_status(
        lambda s: s.get("observedGeneration") == 2 and (s.get("workflow") or {}).get("uid") not in (None, old_uid),
        "prod",
        timeout=90,
        what="the other cluster's workflow under generation 2",
    )
    for name in fillers:
        env.wait_status(lambda s: s.get("phase") == "Success", name, timeout=90, what=f"{name} written")
    versions = recorder.stop()

    assert any(v["metadata"].get("generation") == 2 for v in versions)
    wrong = [
        v["metadata"]["resourceVersion"]
        for v in versions
        if (v.get("status") or {}).get("observedGeneration") == 2
        and ((v.get("status") or {}).get("workflow") or {}).get("uid") == old_uid
    ]
    assert wrong == [], "versions showing the old cluster's workflow under the new generation"


def _polls(times: list[float], gap: float = 3.0) -> list[float]:
    """Start times of polls: a poll is its first request plus the client's quick retries."""
    starts: list[float] = []
    last = None
    for t in sorted(times):
        if last is None or t - last > gap:
            starts.append(t)
        last = t
    return starts


def test_a_finished_object_polls_at_most_once_per_resync_during_an_outage(env: Env) -> None:
    resync = 20.0
    env.load()
    env.at(56)
    env.create_secret()
    # The outage is over at the first answer (the default waits 5 minutes without a failure).
    env.start_operator("--resync", f"{resync:g}s", "--cce-timeout", "2", "--outage-recover-after", "0s")
    env.create_upgrade()  # pollInterval 5s: the error backoff would start there
    env.wait_condition("Ready", "True", "UpgradeSucceeded")
    env.control.faults(env.project, env.cluster, {"kind": "status", "status": 503})
    outage = time.time()
    try:
        env.wait_condition("Ready", "Unknown", "CloudAPIUnavailable", timeout=60)
        deadline = time.monotonic() + 120
        polls: list[float] = []
        while time.monotonic() < deadline:  # wait for three polls into the outage (no fixed sleep)
            log = env.control.requests(env.project, env.cluster, limit=500)["log"]
            polls = _polls([e["t"] for e in log if e["t"] >= outage])
            if len(polls) >= 3:
                break
            time.sleep(0.5)
        assert len(polls) >= 3, polls
        gaps = [b - a for a, b in itertools.pairwise(polls)]
        assert min(gaps) >= 0.9 * resync, f"polls {gaps} s apart during the outage; resync is {resync:g} s"
    finally:
        env.control.clear_faults(env.project, env.cluster)
    env.wait_condition("Ready", "True", "UpgradeSucceeded", timeout=60)
