"""A clean stop is clean: SIGTERM (each rollout, each Pod deletion) ends the operator with exit code
0 and a log without an ERROR, without kopf's "Cleanup activity is not executed" warning and
without an unclosed aiohttp session or connector: an ERROR per rollout trains people to ignore ERRORs."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml

from ccupgrade.kube import LeaseConfig
from ccupgrade.testbed.services import Service, start_operator
from tests.e2e.conftest import Env
from tests.support.blackhole import BlackHole
from tests.support.kube import wait_for
from tests.support.standard_path import seen_at

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

_NOT_CLEAN = re.compile(r" (ERROR|CRITICAL) |Cleanup activity is not executed|Unclosed|Traceback|Task was destroyed")
_UNCLEAN_EXIT = re.compile(r"Cleanup activity is not executed|Unclosed|Traceback|Task was destroyed")


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
    seen_at(env, 31)  # the Cluster task runs: its detail is read too (every CCE session in use)
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


def test_a_leader_whose_api_server_stops_answering_exits_within_the_lease(env: Env, tmp_path: Path) -> None:
    """The Lease API (the whole API server, seen from the leader) accepts and never answers: the
    leader exits (code 1, saying why) before a standby could take the Lease (lease_duration after
    the last renewal), and even that stop leaves no unclosed session and no skipped cleanup."""
    if env.kube.control_plane is None:
        pytest.skip("needs the local control plane's address")
    hole = BlackHole(env.kube.control_plane.apiserver_port)
    try:
        kubeconfig = yaml.safe_load(env.kube.kubeconfig.read_text())
        for entry in kubeconfig["clusters"]:
            entry["cluster"]["server"] = f"https://127.0.0.1:{hole.port}"
        through_hole = tmp_path / "through-hole.kubeconfig"
        through_hole.write_text(yaml.safe_dump(kubeconfig))
        election = ["--leader-elect", "--leader-election-namespace", env.namespace]
        leader = start_operator(
            tmp_path, through_hole, ["--namespace", env.namespace, *election], name="leader", log_level="DEBUG"
        )
        env.started.append(leader)
        wait_for(lambda: "operator started" in leader.log_text(), message="the leader to lead")
        hole.swallow.set()
        swallowed = time.monotonic()
        assert leader.process.wait(30) == 1
        exited = time.monotonic() - swallowed
        assert exited < LeaseConfig("").lease_duration, f"exited {exited:.1f}s after the API server went silent"
        log = leader.log_text()
        assert "was last renewed" in log, log[-3000:]
        found = [line for line in log.splitlines() if _UNCLEAN_EXIT.search(line)]
        assert not found, "\n".join(found)
    finally:
        hole.close()
