"""A clean stop is clean: SIGTERM (each rollout, each Pod deletion) ends the operator with exit code
0 and a log without an ERROR, without kopf's "Cleanup activity is not executed" warning and
without an unclosed aiohttp session or connector: an ERROR per rollout trains people to ignore ERRORs."""

from __future__ import annotations

import re

import pytest

from ccupgrade.testbed.services import Service
from tests.conftest import wait_for
from tests.e2e.conftest import Env
from tests.e2e.test_faults import _seen

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

_NOT_CLEAN = re.compile(r" (ERROR|CRITICAL) |Cleanup activity is not executed|Unclosed|Traceback|Task was destroyed")


def _stopped_cleanly(service: Service) -> None:
    service.stop(grace=20)
    assert service.process.returncode == 0, service.log_text()[-3000:]
    log = service.log_text()
    assert "operator started" in log or "waiting to lead" in log, "the log is the operator's"
    found = [line for line in log.splitlines() if _NOT_CLEAN.search(line)]
    assert not found, "\n".join(found)


def test_sigterm_while_polling_stops_cleanly(env: Env) -> None:
    loaded = env.load()
    env.epoch = loaded["epoch"]
    env.create_secret()
    operator = env.start_operator()
    env.create_upgrade()
    env.wait_condition("Ready", "False", "UpgradeInitializing")
    _seen(env, 31)  # the Cluster task runs: its detail is read too (every CCE session in use)
    _stopped_cleanly(operator)


def test_sigterm_to_a_leader_and_to_a_standby_stops_both_cleanly(env: Env) -> None:
    loaded = env.load()
    env.epoch = loaded["epoch"]
    env.create_secret()
    election = ("--leader-elect", "--leader-election-namespace", env.namespace)
    leader = env.start_operator(*election)
    env.create_upgrade()
    env.wait_condition("Ready", "False", "UpgradeInitializing")
    standby = env.start_operator(*election)
    wait_for(lambda: "held by" in standby.log_text(), message="the standby to find the Lease taken")
    _stopped_cleanly(standby)
    _stopped_cleanly(leader)
    assert "released the Lease" in leader.log_text()
