"""What Argo CD, Flux (kstatus), kubernetes-event-exporter, Botkube and Prometheus make of the
objects, Events and metrics the operator really produces, in every state.

The Argo CD fixtures in manifests/argocd/.../testdata come from this run: with
CCUPGRADE_UPDATE_FIXTURES=1 it rewrites them; otherwise it fails when they drift from what the
operator writes.
"""

from __future__ import annotations

import os
import subprocess
import urllib.request
import uuid
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import Env
from tests.support.integrations import (
    EXPECTED,
    HEALTH_DIR,
    argocd_health,
    botkube_notifies,
    exporter_receivers,
    kstatuses,
    normalize,
)
from tests.support.tools import promtool

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


def _cluster(env: Env, scenario: str, second: float) -> str:
    cluster = str(uuid.uuid4())
    env.control.load(env.project, cluster, scenario, paused=True)
    env.control.time(env.project, cluster, set=second)
    return cluster


def test_every_state_reads_right_in_argocd_flux_and_notification_tools(env: Env) -> None:
    env.create_secret()
    objects: dict[str, dict[str, Any]] = {}

    env.create_upgrade("no-status", clusterId=_cluster(env, "standard", 0))
    objects["no-status"] = env.get("no-status")
    env.kube.custom.delete_namespaced_custom_object(
        "ccupgrade.dev", "v1alpha1", env.namespace, "cceclusterupgrades", "no-status"
    )

    env.start_operator("--outage-announce-after", "0s")  # cloud-unreachable's CloudAPIError at once
    plan = {
        "init": ("standard", 0, ("Ready", "False", "UpgradeInitializing")),
        "running": ("standard", 31, ("Reconciling", "True", "UpgradeInProgress")),
        "pending": ("failing", 41, ("Stalled", "True", "UpgradeTaskFailed")),
        "success": ("standard", 56, ("Ready", "True", "UpgradeSucceeded")),
        "cancel": ("cancelled", 25, ("Stalled", "True", "UpgradeCancelled")),
        "cloud-unreachable": ("standard", 31, ("Reconciling", "True", "UpgradeInProgress")),
        "suspended": ("standard", 0, ("Ready", "False", "UpgradeInitializing")),
        "precheck-failed": ("precheck-failed", 20, ("Stalled", "True", "UpgradeTaskFailed")),
        "slow": ("slow", 400, ("Reconciling", "True", "UpgradeInProgress")),
    }
    first_seen_at = {
        "pending": 30,
        "cancel": 15,
        "precheck-failed": 12,
    }  # failures must be seen happening, so their Events exist
    clusters = {}
    for name, (scenario, second, _) in plan.items():
        clusters[name] = _cluster(env, scenario, first_seen_at.get(name, second))
        env.create_upgrade(name, clusterId=clusters[name], **({"stallAfter": "5s"} if name == "slow" else {}))
    env.create_upgrade(
        "secret-missing", clusterId=_cluster(env, "standard", 0), credentialsSecretRef={"name": "missing"}
    )
    for name in first_seen_at:
        env.wait_condition("Reconciling", "True", "UpgradeInProgress", name=name)
        env.control.time(env.project, clusters[name], set=plan[name][1])
    for name, (_, _, (kind, status, reason)) in plan.items():
        env.wait_condition(kind, status, reason, name=name)
    env.wait_condition("Stalled", "True", "SecretNotFound", name="secret-missing")
    env.wait_status(lambda s: bool((s.get("preCheck") or {}).get("findings")), name="precheck-failed")
    env.wait_status(lambda s: s.get("slow") is not None, name="slow", timeout=60)

    env.control.faults(env.project, clusters["cloud-unreachable"], {"kind": "status", "status": 503})
    env.wait_condition("Ready", "Unknown", "CloudAPIUnavailable", name="cloud-unreachable", timeout=60)
    env.patch_spec("suspended", suspend=True)
    env.wait_condition("Reconciling", "False", "Suspended", name="suspended")
    for name in [*plan, "secret-missing"]:
        objects[name] = env.get(name)
    # The Events follow the statuses (once the status writes have settled): the last ones are
    # still on their way when the last status is seen, and the operator stops below.
    warned = {
        "pending": "UpgradeBlocked",
        "cancel": "UpgradeCancelled",
        "cloud-unreachable": "CloudAPIError",
        "secret-missing": "SecretNotFound",
        "precheck-failed": "PreCheckFailed",
        "slow": "UpgradeSlow",
    }
    for name, reason in warned.items():
        env.wait_events(lambda ev, r=reason: any(e["reason"] == r for e in ev), name, what=reason)  # type: ignore[misc]

    metrics = urllib.request.urlopen(f"{env.operator.url}/metrics", timeout=5).read().decode()  # type: ignore[union-attr]
    env.operator.stop()  # type: ignore[union-attr]
    env.patch_spec("success", historyLimit=3)  # nobody observes generation 2
    objects["stale-generation"] = env.get("success")

    # -- Argo CD and kstatus ---------------------------------------------------------------------
    verdicts = dict(zip(EXPECTED, kstatuses([objects[name] for name in EXPECTED]), strict=True))
    for name, (health, flux) in EXPECTED.items():
        assert argocd_health(objects[name])["status"] == health, name
        assert verdicts[name].status == flux, name
    # Flux shows the Stalled condition's message with a Failed verdict: it must say what failed.
    for name in ("pending", "cancel", "secret-missing", "precheck-failed"):
        stalled = next(c for c in objects[name]["status"]["conditions"] if c["type"] == "Stalled")
        assert verdicts[name].message == stalled["message"] != "", name
    assert "Cluster (Running)" in argocd_health(objects["running"])["message"]
    assert "UpgradeTaskFailed" in argocd_health(objects["pending"])["message"]
    assert "CCE API unreachable" in argocd_health(objects["cloud-unreachable"])["message"]
    assert "pre-check failed: 2 Exceptions, 3 Risks" in argocd_health(objects["precheck-failed"])["message"]
    assert argocd_health(objects["slow"])["message"].startswith("UpgradeSlow: ")
    _fixtures_match(objects, env.namespace)

    # -- notifications ----------------------------------------------------------------------------
    events = [
        {
            "apiVersion": e.involved_object.api_version,
            "kind": e.involved_object.kind,
            "namespace": e.metadata.namespace,
            "reason": e.reason,
            "type": e.type,
            "message": e.message,
            "component": e.source.component if e.source else None,
        }
        for e in env.kube.core.list_namespaced_event(env.namespace).items
    ]
    warnings = {e["reason"] for e in events if e["type"] == "Warning"}
    assert {
        "TaskFailed",
        "UpgradeBlocked",
        "UpgradeCancelled",
        "CloudAPIError",
        "SecretNotFound",
        "PreCheckFailed",
        "UpgradeSlow",
    } <= warnings
    for event in events:
        routed = exporter_receivers(event)
        if event["type"] == "Warning":
            assert routed == ["cce-upgrade-alerts"], event
            assert botkube_notifies(event), event
        else:
            assert routed == [], event
            assert not botkube_notifies(event), event

    # -- metrics ----------------------------------------------------------------------------------
    for name in (
        "ccupgrade_polls_total",
        "ccupgrade_cce_requests_total",
        "ccupgrade_cce_request_duration_seconds",
        "ccupgrade_status_writes_total",
        "ccupgrade_events_total",
        "ccupgrade_upgrade_phase",
        "ccupgrade_last_successful_poll_timestamp_seconds",
        "ccupgrade_task_duration_seconds",
        "ccupgrade_task_progress_percent",
        "ccupgrade_precheck_findings",
    ):
        assert f"# TYPE {name}" in metrics, name
    assert 'ccupgrade_upgrade_phase{name="pending",namespace="' in metrics
    assert 'phase="Pending"} 1.0' in metrics
    assert 'ccupgrade_events_total{reason="TaskFailed",type="Warning"}' in metrics
    assert 'ccupgrade_task_progress_percent{name="slow",namespace="' in metrics
    assert 'ccupgrade_precheck_findings{kind="Exception",level="Fatal",name="precheck-failed",namespace="' in metrics
    # Prometheus' own linter on the live scrape (names, suffixes, HELP, TYPE).
    checked = subprocess.run(
        [str(promtool()), "check", "metrics"], input=metrics, capture_output=True, text=True, timeout=60, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _fixtures_match(objects: dict[str, dict[str, Any]], namespace: str) -> None:
    testdata = HEALTH_DIR / "testdata"
    normalized = {name: normalize(obj, namespace) for name, obj in objects.items()}
    for name in normalized:
        normalized[name]["metadata"]["name"] = "example"
    if os.environ.get("CCUPGRADE_UPDATE_FIXTURES") == "1":
        testdata.mkdir(parents=True, exist_ok=True)
        for old in testdata.glob("*.yaml"):
            old.unlink()
        cases = []
        for name, obj in normalized.items():
            (testdata / f"{name}.yaml").write_text(yaml.safe_dump(obj, sort_keys=False))
            cases.append({"healthStatus": argocd_health(obj), "inputPath": f"testdata/{name}.yaml"})
        (HEALTH_DIR / "health_test.yaml").write_text(yaml.safe_dump({"tests": cases}, sort_keys=False, width=200))
        return
    for name, obj in normalized.items():
        stored = yaml.safe_load((testdata / f"{name}.yaml").read_text())
        assert stored == obj, (
            f"testdata/{name}.yaml drifted from the operator's output: run with CCUPGRADE_UPDATE_FIXTURES=1"
        )
