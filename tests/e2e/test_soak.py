"""Crash safety: an upgrade with many transitions while the operator is SIGKILLed again and again.
Every transition the simulator went through must appear exactly once as an Event.

Most kills land at random moments; some land on purpose between a status write and its Events:
the operator is started wrapped by the testkit (`ccupgrade.testbed.crash_after_status`) and
SIGKILLs itself right after writing a status that carries new Events, so the next operator must
post them from the status."""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import Env

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

TASKS = [f"Step{i}" for i in range(1, 9)]
KILLS = 20
BETWEEN = 6  # of them between a status write and its Events


def _scenario() -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"at": 0, "phase": "Init"}, {"at": 1, "phase": "Running"}]
    second = 1
    for task in TASKS:
        for status in ("Queuing", "Running", "Success"):
            steps.append({"at": second, "task": task, "status": status})
            second += 1
    steps.append({"at": second - 1, "phase": "Success"})
    return {
        "name": "soak",
        "workflows": [
            {
                "uid": "soak",
                "clusterVersion": "v1.30.0-r0",
                "targetVersion": "v1.31.0-r0",
                "tasks": TASKS,
                "steps": steps,
            }
        ],
    }


def test_sigkill_at_random_moments_loses_and_duplicates_no_event(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = _scenario()
    moments = sorted({step["at"] for step in scenario["workflows"][0]["steps"]})
    loaded = env.control.load(env.project, env.cluster, scenario, paused=True)
    epoch = datetime.fromisoformat(loaded["epoch"])
    env.create_secret()
    env.start_operator("--cce-timeout", "2")
    env.create_upgrade()
    rng = random.Random(20261126)
    kill_at = set(rng.sample(moments[1:], KILLS))
    between = set(rng.sample(sorted(kill_at), BETWEEN))
    kills = killed_between = 0
    for moment in moments:
        updated = (epoch + timedelta(seconds=moment)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if moment in between:
            assert env.operator is not None
            env.operator.kill()
            kills += 1
            doomed = env.start_operator("--cce-timeout", "2", module="ccupgrade.testbed.crash_after_status")
            env.control.time(env.project, env.cluster, set=moment)
            # It writes the moment's status, then dies before posting the moment's Events.
            assert doomed.process.wait(timeout=60) == -signal.SIGKILL
            status = env.get().get("status") or {}
            assert (status.get("workflow") or {}).get("updated") == updated
            recorded = {e["name"] for e in status.get("eventJournal") or []}
            assert recorded, status
            assert recorded - {e["name"] for e in env.events()}  # the moment's Events are not posted yet
            killed_between += 1
            env.start_operator("--cce-timeout", "2")
            continue
        env.control.time(env.project, env.cluster, set=moment)
        if moment in kill_at:
            time.sleep(rng.uniform(0.0, 6.0))  # anywhere: before, during or after the poll and its writes
            assert env.operator is not None
            env.operator.kill()
            kills += 1
            env.start_operator("--cce-timeout", "2")

        def shows(status: dict[str, Any], expected: str = updated) -> bool:
            return bool((status.get("workflow") or {}).get("updated") == expected)

        env.wait_status(shows, timeout=40, what=f"moment {moment}")
    status = env.wait_condition("Ready", "True", "UpgradeSucceeded")
    events = env.wait_events(
        lambda ev: any(e["reason"] == "UpgradeSucceeded" for e in ev), timeout=40, what="the last Event"
    )
    reasons = Counter(e["reason"] for e in events)
    task_events = Counter((e["reason"], e["message"].split()[1]) for e in events if e["reason"].startswith("Task"))
    transitions = len(TASKS) * 3 + 2  # task transitions plus Running and Success of the workflow
    detected = reasons["WorkflowDetected"]
    with capsys.disabled():  # the figures belong in the test output, also in CI
        print(
            f"\nsoak: {kills} SIGKILLs ({killed_between} between a status write and its Events), "
            f"{transitions} transitions, {len(events)} events "
            f"({detected} detection + {len(events) - detected} transitions)"
        )
    assert kills >= 20
    assert killed_between == BETWEEN
    assert status["progress"] == f"{len(TASKS)}/{len(TASKS)}"
    assert reasons["WorkflowDetected"] == 1
    assert reasons["UpgradeStarted"] == 1
    assert reasons["UpgradeSucceeded"] == 1
    for task in TASKS:
        for reason in ("TaskQueued", "TaskStarted", "TaskSucceeded"):
            assert task_events[(reason, task)] == 1, (reason, task, task_events)
    assert len(events) == 1 + transitions
