"""The operator as users meet it: a real API server, the simulator, the operator as its own process."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from ccupgrade.models.resource import GROUP, PLURAL, VERSION
from tests.e2e.conftest import Env
from tests.support.kube import wait_for
from tests.support.standard_path import STEP_MOMENTS

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

STANDARD_EVENTS = Counter(
    {
        ("Normal", "WorkflowDetected"): 1,
        ("Normal", "UpgradeStarted"): 1,
        ("Normal", "TaskQueued"): 4,
        ("Normal", "TaskStarted"): 4,
        ("Normal", "TaskSucceeded"): 4,
        ("Normal", "UpgradeSucceeded"): 1,
    }
)


def _seen(env: Env, second: float) -> None:
    """Moves the scenario to `second` and waits until the object shows CCE's update time for it."""
    env.at(second)
    moment = max(m for m in STEP_MOMENTS if m <= second)
    updated = (datetime.fromisoformat(env.epoch) + timedelta(seconds=moment)).strftime("%Y-%m-%dT%H:%M:%SZ")
    env.wait_status(lambda s: (s.get("workflow") or {}).get("updated") == updated, what=f"scenario second {second}")


def _walk(env: Env, moments: list[float]) -> None:
    for second in moments:
        _seen(env, second)


def _task_events(env: Env) -> Counter[tuple[str, str, str]]:
    return Counter(
        (e["type"], e["reason"], e["message"].split()[1]) for e in env.events() if e["reason"].startswith("Task")
    )


def _reasons(env: Env, count: int) -> Counter[tuple[str, str]]:
    """(type, reason) of the object's Events, once at least `count` are there (they follow the status)."""
    return Counter((e["type"], e["reason"]) for e in env.settled_events(count))


def _start_standard(env: Env, scenario: str = "standard", **spec: Any) -> None:
    loaded = env.load(scenario)
    env.epoch = loaded["epoch"]
    env.create_secret()
    env.start_operator()
    env.create_upgrade(**spec)


def test_standard_upgrade_shows_every_transition_exactly_once(env: Env) -> None:
    _start_standard(env)
    env.wait_condition("Ready", "False", "UpgradeInitializing")
    _walk(env, STEP_MOMENTS[1:])
    status = env.wait_condition("Ready", "True", "UpgradeSucceeded")
    assert status["phase"] == "Success"
    assert status["progress"] == "4/4"
    assert [t["status"] for t in status["tasks"]] == ["Success"] * 4
    assert all(t["startTime"].endswith("Z") and t["endTime"] for t in status["tasks"])
    assert status["observedGeneration"] == 1
    assert _reasons(env, STANDARD_EVENTS.total()) == STANDARD_EVENTS
    for task in ("PreCheck", "Snapshot", "Cluster", "PostCheck"):
        assert sorted(r for (_, r, t) in _task_events(env).elements() if t == task) == [
            "TaskQueued",
            "TaskStarted",
            "TaskSucceeded",
        ]
    events = env.events()
    assert {e["component"] for e in events} == {"cce-upgrade-operator"}
    assert {e["kind"] for e in events} == {"CceClusterUpgrade"}

    # kubectl sees the columns, and `kubectl wait` ends on Ready.
    table = env.kube.kubectl("get", "ccupgrades", "-n", env.namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "CLUSTER", "TARGET", "PHASE", "PROGRESS", "ETA", "READY", "AGE"]
    assert table[1].split()[:6] == ["prod", env.cluster, "v1.29.13-r0", "Success", "4/4", "True"]
    wide = env.kube.kubectl("get", "ccupgrades", "-n", env.namespace, "-o", "wide").stdout.splitlines()
    assert wide[0].split()[-5:] == ["FROM", "VERSION", "NEWEST", "TASK", "MESSAGE"]
    assert "v1.28.15-r20" in wide[1]
    assert "Upgraded v1.28.15-r20 to v1.29.13-r0" in wide[1]
    env.kube.kubectl("wait", "--for=condition=Ready", "ccupgrade/prod", "-n", env.namespace, "--timeout=5s")


def test_running_upgrade_names_its_current_task_in_wide_output(env: Env) -> None:
    _start_standard(env)
    _seen(env, 31)
    status = env.wait_condition("Reconciling", "True", "UpgradeInProgress")
    assert status["currentTask"] == "Cluster (Running)"
    wide = env.kube.kubectl("get", "ccupgrades", "-n", env.namespace, "-o", "wide").stdout.splitlines()[1]
    assert "Cluster (Running)" in wide
    assert env.condition("Stalled")["status"] == "False"  # type: ignore[index]


def test_failing_upgrade_ends_stalled_with_warnings(env: Env) -> None:
    _start_standard(env, "failing")
    env.wait_condition("Ready", "False", "UpgradeInitializing")
    _seen(env, 30)
    env.at(41)
    status = env.wait_condition("Stalled", "True", "UpgradeTaskFailed")
    assert status["phase"] == "Pending"
    assert status["currentTask"] == "Cluster (Failed)"
    assert "task Cluster failed" in env.condition("Ready")["message"]  # type: ignore[index]
    assert env.condition("Reconciling")["status"] == "False"  # type: ignore[index]
    events = env.wait_events(lambda ev: any(e["reason"] == "UpgradeBlocked" for e in ev), what="UpgradeBlocked")
    warnings = [(e["reason"], e["message"]) for e in events if e["type"] == "Warning"]
    assert sorted(r for r, _ in warnings) == ["TaskFailed", "UpgradeBlocked"]
    env.kube.kubectl("wait", "--for=condition=Stalled", "ccupgrade/prod", "-n", env.namespace, "--timeout=5s")


def test_cancelled_upgrade(env: Env) -> None:
    _start_standard(env, "cancelled")
    env.wait_condition("Ready", "False", "UpgradeInitializing")
    env.at(25)
    env.wait_condition("Stalled", "True", "UpgradeCancelled")
    events = env.wait_events(lambda ev: any(e["reason"] == "UpgradeCancelled" for e in ev), what="UpgradeCancelled")
    assert [e["type"] for e in events if e["reason"] == "UpgradeCancelled"] == ["Warning"]


def test_new_workflow_switches_and_moves_the_old_one_to_history(env: Env) -> None:
    loaded = env.load("retry")
    env.epoch = loaded["epoch"]
    env.create_secret()
    env.start_operator("--resync", "8s")  # after Cancel the operator polls at the resync period
    env.create_upgrade()
    env.wait_status(lambda s: (s.get("workflow") or {}).get("uid") == loaded["workflowUids"]["attempt-1"])
    env.at(26)
    env.wait_condition("Stalled", "True", "UpgradeCancelled")
    env.at(36)
    status = env.wait_status(lambda s: (s.get("workflow") or {}).get("uid") == loaded["workflowUids"]["attempt-2"])
    assert [(h["uid"], h["phase"]) for h in status["history"]] == [(loaded["workflowUids"]["attempt-1"], "Cancel")]
    events = env.wait_events(lambda ev: any("moved to history" in e["message"] for e in ev), what="the new workflow")
    detected = [e["message"] for e in events if e["reason"] == "WorkflowDetected"]
    assert len(detected) == 2
    assert any("moved to history" in m for m in detected)


def test_spec_change_bumps_observed_generation(env: Env) -> None:
    _start_standard(env)
    env.wait_status(lambda s: s.get("observedGeneration") == 1)
    env.patch_spec(historyLimit=1)
    status = env.wait_status(lambda s: s.get("observedGeneration") == 2)
    assert all(c["observedGeneration"] == 2 for c in status["conditions"])


def test_suspend_stops_polling(env: Env) -> None:
    _start_standard(env)
    env.wait_condition("Ready", "False", "UpgradeInitializing")
    env.patch_spec(suspend=True)
    env.wait_condition("Reconciling", "False", "Suspended")
    before = env.requests()
    env.at(31)
    time.sleep(12)  # more than two poll intervals
    assert env.requests() == before
    assert env.get()["status"]["phase"] == "Init"
    env.patch_spec(suspend=False)
    env.wait_status(lambda s: s.get("phase") == "Running")


def test_missing_secret_is_a_clear_condition_and_heals(env: Env) -> None:
    env.load()
    env.start_operator()
    env.create_upgrade()
    status = env.wait_condition("Stalled", "True", "SecretNotFound")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert "Secret 'cce-credentials' not found" in ready["message"]
    events = env.wait_events(lambda ev: any(e["type"] == "Warning" for e in ev), what="a Warning")
    assert [e["reason"] for e in events if e["type"] == "Warning"] == ["SecretNotFound"]
    env.create_secret()
    env.wait_condition("Ready", "False", "UpgradeInitializing", timeout=60)
    assert env.condition("Stalled")["status"] == "False"  # type: ignore[index]


AK_ONLY = "E2EACCESSKEY00000001"


def test_wrong_secret_keys_and_wrong_credentials(env: Env) -> None:
    env.load()
    env.start_operator()
    env.create_secret("partial", accessKey=AK_ONLY)
    env.create_upgrade("partial", credentialsSecretRef={"name": "partial"})
    env.wait_condition("Stalled", "True", "InvalidCredentials", name="partial")
    env.create_secret("wrong", accessKey="E2EACCESSKEY00000001", secretKey="not-the-secret")
    env.create_upgrade("wrong", credentialsSecretRef={"name": "wrong"})
    status = env.wait_condition("Stalled", "True", "AuthenticationFailed", name="wrong")
    message = next(c for c in status["conditions"] if c["type"] == "Ready")["message"]
    assert "APIGW.0301" in message
    assert "not-the-secret" not in json.dumps(status)


def test_endpoint_not_on_the_allow_list_is_refused_before_any_request(env: Env) -> None:
    env.load()
    env.create_secret()
    env.start_operator()
    env.create_upgrade(endpoint="http://localhost:9")  # not 127.0.0.1: not allowed
    status = env.wait_condition("Stalled", "True", "EndpointNotAllowed")
    assert "allow-list" in status["conditions"][0]["message"]


def test_objects_naming_the_same_cluster_share_one_poll(env: Env) -> None:
    env.load()
    env.create_secret()
    env.start_operator()
    for name in ("a", "b", "c", "d"):
        env.create_upgrade(name)
    for name in ("a", "b", "c", "d"):
        env.wait_condition("Ready", "False", "UpgradeInitializing", name=name)
    before = env.requests()
    time.sleep(11)
    polls = env.requests() - before
    assert 1 <= polls <= 3, f"{polls} requests in 11 s for four objects on one cluster at a 5 s interval"


def test_restart_mid_upgrade_loses_and_duplicates_nothing(env: Env) -> None:
    _start_standard(env)
    env.wait_condition("Ready", "False", "UpgradeInitializing")
    _walk(env, [5, 10, 15, 20, 25, 30])
    assert env.operator is not None
    env.operator.kill()  # SIGKILL: no goodbye
    env.at(45)  # two transitions happen while nobody watches
    env.start_operator()
    _seen(env, 45)
    _walk(env, [50, 55])
    env.wait_condition("Ready", "True", "UpgradeSucceeded")
    assert _reasons(env, STANDARD_EVENTS.total()) == STANDARD_EVENTS


def test_delete_with_the_operator_stopped_is_immediate(env: Env) -> None:
    _start_standard(env)
    env.wait_condition("Ready", "False", "UpgradeInitializing")
    assert not env.get()["metadata"].get("finalizers")
    assert env.operator is not None
    env.operator.stop()
    env.kube.custom.delete_namespaced_custom_object(GROUP, VERSION, env.namespace, PLURAL, "prod")

    def gone() -> bool:
        try:
            env.get()
        except ApiException as exc:
            return bool(exc.status == 404)
        return False

    wait_for(gone, timeout=5, message="the object to be deleted without an operator")
