"""Why blocked, how far, when done, end to end: the operator as its own process against the real API
server and the simulator's pre-check, upgrade task and history endpoints."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Env

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


def _start(env: Env, scenario: str, second: float, **spec: object) -> None:
    loaded = env.load(scenario)
    env.epoch = loaded["epoch"]
    env.at(second)
    env.create_secret()
    env.start_operator()
    env.create_upgrade(**spec)


def _warnings(env: Env, reason: str) -> list[dict[str, object]]:
    return [e for e in env.events() if e["reason"] == reason and e["type"] == "Warning"]


def test_failing_precheck_shows_its_findings_in_status_events_and_describe(env: Env) -> None:
    _start(env, "precheck-failed", 12)  # the pre-check runs
    env.wait_status(lambda s: (s.get("preCheck") or {}).get("phase") == "Running", what="pre-check running")
    env.at(20)  # and fails
    status = env.wait_condition("Stalled", "True", "UpgradeTaskFailed")
    pre = env.wait_status(lambda s: bool((s.get("preCheck") or {}).get("findings")), what="findings")["preCheck"]
    assert pre["phase"] == "Failed"
    assert [(f["name"], f["kind"], f["level"], f["where"]) for f in pre["findings"]] == [
        ("ClusterResourceQuotaCheck", "Exception", "Fatal", "cluster"),
        ("NodeDiskCheck", "Exception", "Fatal", "node node-a-1"),
        ("DeprecatedAPICheck", "Risk", "Warning", "cluster"),
        ("AddonVersionCheck", "Risk", "Warning", "add-on coredns"),
        ("NodeKernelCheck", "Risk", "Info", "node node-a-2"),
    ]
    stalled = next(c for c in env.get()["status"]["conditions"] if c["type"] == "Stalled")
    assert "pre-check failed: 2 Exceptions, 3 Risks: ClusterResourceQuotaCheck (cluster, Fatal)" in stalled["message"]
    assert status["phase"] == "Pending"

    env.wait_events(lambda ev: any(e["reason"] == "PreCheckFailed" for e in ev), what="PreCheckFailed")
    failed = _warnings(env, "PreCheckFailed")
    assert len(failed) == 1, env.events()
    assert "ClusterResourceQuotaCheck (cluster, Fatal); NodeDiskCheck (node node-a-1, Fatal)" in str(
        failed[0]["message"]
    )

    ns = ("-n", env.namespace)
    described = env.kube.kubectl("describe", "cceclusterupgrade", "prod", *ns).stdout
    assert "Pre Check:" in described
    assert "ClusterResourceQuotaCheck" in described
    assert "node node-a-1" in described
    assert "PreCheckFailed" in described.split("Events:", 1)[1]

    # Blocked: the final result is kept; from now on each poll reads the workflow list alone.
    def detail_calls() -> int:
        log = env.control.requests(env.project, env.cluster, limit=500)["log"]
        return sum("/precheck/tasks/" in e["path"] for e in log)

    fetched, requests = detail_calls(), env.requests()
    env.wait_status(lambda s: env.requests() >= requests + 2, what="two more polls", timeout=60)
    assert detail_calls() == fetched


def test_progress_and_eta_move_during_the_cluster_task_and_a_stuck_task_is_slow_once(env: Env) -> None:
    _start(env, "slow", 60, stallAfter="12s")
    first = env.wait_status(lambda s: (s.get("taskProgress") or {}).get("percent") == 6, what="6%")
    assert first["progress"] == "2/4 · 6%"
    eta = first["eta"]
    assert eta["basis"] == "history"  # yesterday's upgrade of this cluster
    assert eta["task"] == "Cluster"
    env.at(150)
    moved = env.wait_status(lambda s: (s.get("taskProgress") or {}).get("percent") == 25, what="25%")
    assert moved["progress"] == "2/4 · 25%"
    assert moved["eta"]["taskEnd"] != eta["taskEnd"]  # the percentage moved the estimate
    ready = next(c for c in moved["conditions"] if c["type"] == "Ready")
    assert "Cluster at 25%; ETA " in ready["message"]
    columns = env.kube.kubectl("get", "cceclusterupgrade", "prod", "-n", env.namespace).stdout
    assert "2/4 · 25%" in columns
    assert moved["eta"]["text"] in columns

    env.at(360)  # 63%, and it stays there
    env.wait_status(lambda s: (s.get("taskProgress") or {}).get("percent") == 63, what="63%")
    slow = env.wait_status(lambda s: s.get("slow") is not None, what="slow", timeout=60)
    assert "task Cluster has stayed at 63% since" in slow["slow"]["message"]
    reconciling = next(c for c in slow["conditions"] if c["type"] == "Reconciling")
    assert reconciling["status"] == "True"  # slow is not a failure
    ready = next(c for c in slow["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    env.wait_status(lambda s: len(_warnings(env, "UpgradeSlow")) == 1, what="one UpgradeSlow Event")
    # Still slow a few polls later: no second Event.
    synced = env.get()["status"]["lastSyncTime"]
    requests = env.requests()
    env.wait_status(lambda s: env.requests() >= requests + 6, what="three more polls", timeout=60)
    assert len(_warnings(env, "UpgradeSlow")) == 1
    assert env.get()["status"]["lastSyncTime"] == synced  # nothing changed: no status write either
