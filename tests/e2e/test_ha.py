"""Two replicas with leader election: one polls, the other takes over when it dies, no Event twice."""

from __future__ import annotations

import time
import urllib.request
from collections import Counter

import pytest
from kubernetes import client

from ccupgrade.testbed.services import Service
from tests.e2e.conftest import Env
from tests.support.standard_path import PATH_EVENTS, seen_at

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


def _polls(replica: Service) -> float:
    text = urllib.request.urlopen(f"{replica.url}/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("ccupgrade_polls_total{"))


def _workflow_lists(env: Env) -> int:
    log = env.control.requests(env.project, env.cluster, limit=1000)["log"]
    return sum(1 for e in log if e["path"].endswith("/upgradeworkflows"))


def _two_replicas_at_31(env: Env) -> tuple[Service, Service]:
    """Two replicas with leader election (the first started first), and an upgrade walked from
    moment 0 (seen, so that the walk posts PATH_EVENTS) to 31."""
    loaded = env.load()
    env.epoch = loaded["epoch"]
    env.create_secret()
    election = ("--leader-elect", "--leader-election-namespace", env.namespace, "--cce-timeout", "2")
    first = env.start_operator(*election)
    time.sleep(2)  # let the first one take the Lease
    second = env.start_operator(*election)
    env.create_upgrade()
    env.wait_condition("Ready", "False", "UpgradeInitializing")
    seen_at(env, 31)
    return first, second


def test_one_replica_polls_and_the_other_takes_over_within_a_minute(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = _two_replicas_at_31(env)

    before = _workflow_lists(env)
    time.sleep(11)
    # One poll per 5 s interval. Counted as workflow-list reads: while the Cluster task runs each poll
    # also reads that task's progress.
    assert 1 <= _workflow_lists(env) - before <= 3, "two replicas polled"
    polls = {"first": _polls(first), "second": _polls(second)}
    assert sorted(p > 0 for p in polls.values()) == [False, True], polls
    leader, standby = (first, second) if polls["first"] > 0 else (second, first)

    leader.kill()  # SIGKILL: the Lease is not released, it must expire
    killed = time.monotonic()
    seen_at(env, 46, timeout=60)
    takeover = time.monotonic() - killed
    with capsys.disabled():
        print(f"\nHA: takeover {takeover:.1f}s after SIGKILL of the leader")
    assert _polls(standby) > 0
    seen_at(env, 56)
    env.wait_condition("Ready", "True", "UpgradeSucceeded")
    assert Counter(e["reason"] for e in env.settled_events(PATH_EVENTS.total())) == PATH_EVENTS


def _holder(env: Env) -> str | None:
    lease = client.CoordinationV1Api(env.kube.api).read_namespaced_lease("cce-upgrade-operator", env.namespace)
    return lease.spec.holder_identity if lease.spec else None


def test_a_stopped_leader_hands_the_lease_over(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """SIGTERM (a Pod deleted, a rollout): the leader clears the Lease's holder on its way out, so
    the standby takes it at its next retry instead of waiting out the lease (15 s)."""
    first, second = _two_replicas_at_31(env)
    polls = {"first": _polls(first), "second": _polls(second)}
    leader, standby = (first, second) if polls["first"] > 0 else (second, first)
    holder = _holder(env)
    assert holder

    stopped = time.monotonic()
    leader.stop()  # SIGTERM, then the process exits
    assert not leader.alive()
    assert _holder(env) != holder  # released (or already taken over): without the release it is held 15 s more
    seen_at(env, 46, timeout=60)
    with capsys.disabled():
        print(f"\nHA: status moved on {time.monotonic() - stopped:.1f}s after SIGTERM to the leader")
    assert _polls(standby) > 0
    seen_at(env, 56)
    env.wait_condition("Ready", "True", "UpgradeSucceeded")
    events = env.settled_events(PATH_EVENTS.total())
    assert Counter(e["reason"] for e in events) == PATH_EVENTS, events
