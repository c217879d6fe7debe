"""Two replicas with leader election: one polls, the other takes over when it dies, no Event twice."""

from __future__ import annotations

import time
import urllib.request
from collections import Counter

import pytest

from ccupgrade.testbed.services import Service
from tests.e2e.conftest import Env
from tests.e2e.test_faults import _seen
from tests.standard_path import PATH_EVENTS

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


def _polls(replica: Service) -> float:
    text = urllib.request.urlopen(f"{replica.url}/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("ccupgrade_polls_total{"))


def _workflow_lists(env: Env) -> int:
    log = env.control.requests(env.project, env.cluster, limit=1000)["log"]
    return sum(1 for e in log if e["path"].endswith("/upgradeworkflows"))


def test_one_replica_polls_and_the_other_takes_over_within_a_minute(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    loaded = env.load()
    env.epoch = loaded["epoch"]
    env.create_secret()
    election = ("--leader-elect", "--leader-election-namespace", env.namespace, "--cce-timeout", "2")
    first = env.start_operator(*election)
    time.sleep(2)  # let the first one take the Lease
    second = env.start_operator(*election)
    env.create_upgrade()
    env.wait_condition("Ready", "False", "UpgradeInitializing")
    _seen(env, 31)

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
    _seen(env, 46, timeout=60)
    takeover = time.monotonic() - killed
    with capsys.disabled():
        print(f"\nHA: takeover {takeover:.1f}s after SIGKILL of the leader")
    assert _polls(standby) > 0
    _seen(env, 56)
    env.wait_condition("Ready", "True", "UpgradeSucceeded")
    assert Counter(e["reason"] for e in env.settled_events(PATH_EVENTS.total())) == PATH_EVENTS
