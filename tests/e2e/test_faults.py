"""Faults injected during a running upgrade: the object keeps its last good status, shows the
right condition while the fault lasts, is correct soon after, and no Event is lost or doubled."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any

import pytest

from ccupgrade.testbed.controlplane import free_port
from ccupgrade.testbed.services import start_simulator
from tests.e2e.conftest import AK, SK, Env
from tests.support.standard_path import PATH_EVENTS, seen_at

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

# 0 -> 31 -> 46 -> 56, one Event per change seen on that path.
# Each fault here is an outage of its own, announced at its first failed read and over at the first
# answer (the default windows, one minute and five, are tested on fake time in tests/unit).
FAST = ("--cce-timeout", "2", "--secret-ttl", "1", "--outage-announce-after", "0s", "--outage-recover-after", "0s")


def _running(env: Env, *operator_args: str, **secret: str) -> dict[str, Any]:
    loaded = env.load()
    env.epoch = loaded["epoch"]
    env.create_secret(**secret)
    env.start_operator(*FAST, *operator_args)
    env.create_upgrade()
    env.wait_condition("Ready", "False", "UpgradeInitializing")
    return seen_at(env, 31)


def _finish(env: Env, extra: Counter[str] | None = None) -> None:
    seen_at(env, 46)
    seen_at(env, 56)
    env.wait_condition("Ready", "True", "UpgradeSucceeded")
    expected = PATH_EVENTS + (extra or Counter())
    reasons = Counter(e["reason"] for e in env.settled_events(expected.total()))
    assert reasons == expected, reasons


def _kept(good: dict[str, Any], now: dict[str, Any]) -> None:
    for field in (
        "phase",
        "tasks",
        "progress",
        "currentTask",
        "workflow",
        "clusterVersion",
        "targetVersion",
        "lastSyncTime",
    ):
        assert now.get(field) == good.get(field), field


TRANSIENT = [
    {"kind": "status", "status": 500, "shape": "camel"},
    {"kind": "status", "status": 502, "shape": "snake", "code": "APIGW.0502", "message": "Bad gateway"},
    {"kind": "status", "status": 503},
    {"kind": "delay", "seconds": 4},  # longer than --cce-timeout
    {"kind": "drop"},
    {"kind": "malformed"},
    {"kind": "contentType"},
    {"kind": "oversized", "size": 5 * 1024 * 1024},
    {"kind": "throttle", "retryAfter": 1},
]


def test_transient_faults_keep_the_last_good_status_and_heal(env: Env) -> None:
    good = _running(env)
    for fault in TRANSIENT:
        env.control.faults(env.project, env.cluster, fault)
        during = env.wait_condition("Ready", "Unknown", "CloudAPIUnavailable", timeout=60)
        _kept(good, during)
        assert env.condition("Reconciling")["status"] == "True", fault  # type: ignore[index]
        env.control.clear_faults(env.project, env.cluster)
        good = env.wait_condition("Ready", "False", "UpgradeInProgress", timeout=60)  # lastSyncTime moved: fresh
    # A change while CCE is down shows once it is back.
    env.control.faults(env.project, env.cluster, {"kind": "status", "status": 503})
    env.wait_condition("Ready", "Unknown", "CloudAPIUnavailable", timeout=60)
    env.at(46)
    time.sleep(6)
    env.control.clear_faults(env.project, env.cluster)
    outages = len(TRANSIENT) + 1
    _finish(env, Counter({"CloudAPIError": outages, "CloudAPIRecovered": outages}))


@pytest.mark.parametrize(
    ("status", "reason"), [(403, "PermissionDenied"), (404, "ClusterNotFound"), (401, "AuthenticationFailed")]
)
def test_configuration_faults_stall_clearly_and_heal(env: Env, status: int, reason: str) -> None:
    good = _running(env)
    code = "APIGW.0301" if status == 401 else f"CCE.01{status}001"
    env.control.faults(env.project, env.cluster, {"kind": "status", "status": status, "code": code, "shape": "snake"})
    stalled = env.wait_condition("Stalled", "True", reason, timeout=60)
    _kept(good, stalled)
    assert env.condition("Reconciling")["status"] == "False"  # type: ignore[index]
    env.control.clear_faults(env.project, env.cluster)
    env.wait_condition("Stalled", "False", timeout=90)
    _finish(env, Counter({reason: 1}))


def test_expired_token_is_renewed_once_without_any_condition_change(env: Env) -> None:
    user, password = f"user-{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex
    env.control.credentials(users=[{"username": user, "password": password, "domainName": "dom"}])
    _running(env, username=user, password=password, domainName="dom")
    assert env.control.expire_tokens() >= 1
    before = env.control.requests(env.project, env.cluster)["byStatus"].get("401", 0)
    seen_at(env, 46)
    after = env.control.requests(env.project, env.cluster)["byStatus"].get("401", 0)
    assert after - before == 1  # one refusal, one renewal, then success
    seen_at(env, 56)
    assert "CloudAPIError" not in {e["reason"] for e in env.events()}
    assert "AuthenticationFailed" not in {e["reason"] for e in env.events()}


def test_retry_after_pauses_every_object_on_the_endpoint(env: Env) -> None:
    other = str(uuid.uuid4())
    env.control.load(env.project, other, "standard", paused=True)
    _running(env)
    env.create_upgrade("other", clusterId=other)
    env.wait_condition("Ready", "False", "UpgradeInitializing", name="other")
    env.control.faults(env.project, env.cluster, {"kind": "throttle", "retryAfter": 8, "times": 1})
    deadline = time.monotonic() + 30
    throttled_at = None
    while throttled_at is None and time.monotonic() < deadline:
        log = env.control.requests(env.project, env.cluster, limit=50)["log"]
        throttled_at = next((e["t"] for e in log if e["status"] == 429), None)
        time.sleep(0.5)
    assert throttled_at is not None
    time.sleep(9)
    other_log = env.control.requests(env.project, other, limit=200)["log"]
    during = [e["t"] for e in other_log if throttled_at < e["t"] < throttled_at + 7.5]
    assert during == [], "another object on the throttled endpoint was polled before Retry-After ended"
    assert any(e["t"] >= throttled_at + 7.5 for e in other_log)


def test_values_never_seen_before_are_mirrored_not_fatal(env: Env) -> None:
    scenario = {
        "name": "odd",
        "workflows": [
            {
                "uid": "w",
                "clusterVersion": "v1.30.0-r0",
                "targetVersion": "v1.31.0-r0",
                "tasks": ["PreCheck", "NodePoolDrain"],
                "steps": [
                    {"at": 0, "phase": "Init"},
                    {"at": 10, "phase": "Hibernating", "task": "NodePoolDrain", "status": "Deferred"},
                ],
            }
        ],
    }
    env.control.load(env.project, env.cluster, scenario, paused=True)
    env.create_secret()
    env.start_operator(*FAST)
    env.create_upgrade()
    env.wait_condition("Ready", "False", "UpgradeInitializing")
    env.at(10)
    status = env.wait_condition("Ready", "Unknown", "UnrecognizedPhase")
    assert status["phase"] == "Hibernating"
    assert {t["type"]: t["status"] for t in status["tasks"]} == {"PreCheck": "Init", "NodePoolDrain": "Deferred"}
    assert env.operator is not None
    assert env.operator.alive()
    env.wait_events(lambda ev: {"TaskStatusChanged", "PhaseChanged"} <= {e["reason"] for e in ev}, what="the Events")


def test_connection_refused_then_the_endpoint_comes_up(env: Env) -> None:
    port = free_port()
    env.create_secret()
    env.start_operator(*FAST)
    env.create_upgrade(endpoint=f"http://127.0.0.1:{port}")
    status = env.wait_condition("Ready", "Unknown", "CloudAPIUnavailable", timeout=60)
    assert "cannot connect" in next(c for c in status["conditions"] if c["type"] == "Ready")["message"]
    late = start_simulator(env.workdir, port, ["--aksk", f"{AK}:{SK}"])
    try:
        late_control = type(env.control)(late.url)
        late_control.load(env.project, env.cluster, "standard", paused=True)
        env.wait_condition("Ready", "False", "UpgradeInitializing", timeout=90)
        env.wait_events(lambda ev: {"CloudAPIError", "CloudAPIRecovered"} <= {e["reason"] for e in ev}, what="both")
    finally:
        late.stop()


def test_api_server_restart_mid_upgrade(env: Env) -> None:
    plane = env.kube.control_plane
    if plane is None:
        pytest.skip("restarts the local control plane")
    _running(env)
    plane.stop_apiserver()
    env.at(46)  # changes while the API server is down
    time.sleep(6)
    plane.start_apiserver()
    seen_at(env, 46, timeout=90)
    assert env.operator is not None
    assert env.operator.alive()
    _finish(env)


def test_secret_deleted_recreated_and_rotated(env: Env) -> None:
    _running(env)
    env.kube.core.delete_namespaced_secret("cce-credentials", env.namespace)
    env.wait_condition("Stalled", "True", "SecretNotFound", timeout=60)
    env.create_secret()
    env.wait_condition("Stalled", "False", timeout=90)
    new_ak, new_sk = f"ROTATED{uuid.uuid4().hex[:12].upper()}", "rotated-" + uuid.uuid4().hex
    env.control.credentials(accessKeys=[{"accessKey": new_ak, "secretKey": new_sk}])
    env.kube.core.replace_namespaced_secret(
        "cce-credentials",
        env.namespace,
        {"metadata": {"name": "cce-credentials"}, "stringData": {"accessKey": new_ak, "secretKey": new_sk}},
    )
    time.sleep(2)
    env.control.credentials(revokeAccessKeys=[AK])
    try:
        _finish(env, Counter({"SecretNotFound": 1}))
        recent = env.control.requests(env.project, env.cluster, limit=5)["log"]
        assert all(e["status"] == 200 for e in recent)
    finally:
        env.control.credentials(accessKeys=[{"accessKey": AK, "secretKey": SK}])
