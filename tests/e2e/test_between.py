"""Between upgrades, end to end: the operator as its own process against the real API server and the
simulator's upgrade info, upgrade paths and pre-check list. What's next in status, kubectl and the
plugin; each new version announced once (restarts included); a console pre-check with its
deprecated-API risks; the cost in CCE requests."""

from __future__ import annotations

import time
import urllib.request
from typing import Any

import pytest

from tests.e2e.conftest import Env
from tests.support.integrations import argocd_health, botkube_notifies_event_created, exporter_receivers, kstatus
from tests.support.plugin import plugin_ok as plugin

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

VERSIONS = {"release": "v1.28.15", "patch": "r20", "suggestPatch": "r20", "targetVersions": ["v1.29.13-r0"]}
CONSOLE_CHECK = {
    "uid": "console-check-1",
    "at": 0,
    "phase": "Failed",
    "targetVersion": "v1.29.13-r0",
    "check": {
        "message": "pre-check failed: 2 check items failed",
        "cluster": [
            {
                "name": "DeprecatedAPICheck",
                "kind": "Risk",
                "group": "MasterCheck",
                "level": "Warning",
                "message": "Deprecated APIs were called in the last 7 days.",
                "deprecatedApis": [
                    {"url": "/apis/batch/v1beta1/cronjobs", "userAgent": "kubectl/v1.20.4"},
                    {"url": "/apis/policy/v1beta1/podsecuritypolicies", "userAgent": "helm/v3.8.0"},
                    {"url": "/apis/policy/v1beta1/podsecuritypolicies", "userAgent": "helm/v3.8.0"},
                ],
            }
        ],
        "nodes": [
            {
                "node": {"name": "node-a-1"},
                "items": [{"name": "NodeDiskCheck", "kind": "Exception", "level": "Fatal", "message": "disk full"}],
            }
        ],
    },
}


def _idle(env: Env, **details: Any) -> None:
    env.epoch = env.load("idle")["epoch"]
    env.control.task_details(env.project, env.cluster, details)
    env.create_secret()


def _calls(env: Env, ending: str) -> int:
    log = env.control.requests(env.project, env.cluster, limit=5000)["log"]
    return sum(e["path"].endswith(ending) for e in log)


def _available_events(env: Env) -> list[dict[str, Any]]:
    return [e for e in env.events() if e["reason"] == "UpgradeAvailable"]


def test_an_object_with_no_workflow_shows_whats_next_and_announces_each_version_once(env: Env) -> None:
    _idle(env, versions=VERSIONS)
    env.start_operator("--resync", "5s")
    env.create_upgrade()
    status = env.wait_status(lambda s: (s.get("available") or {}).get("newestVersion") == "v1.31", what="newest")
    available = status["available"]
    assert available["currentVersion"] == "v1.28.15-r20"
    assert available["targetVersions"] == ["v1.29.13-r0"]
    assert (available["stepsToNewest"], available["minorVersionsBehind"]) == (2, 3)
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "NoWorkflow"
    assert ready["message"].endswith("the cluster runs v1.28.15-r20; newest reachable v1.31 in 2 upgrades")

    ns = ("-n", env.namespace)
    wide = env.kube.kubectl("get", "ccupgrades", "-o", "wide", *ns).stdout.splitlines()
    header, row = wide[0], wide[1]  # columns are aligned; MESSAGE has spaces, so cut at the header's offsets
    assert row[header.index(" VERSION ") + 1 :].split()[0] == "v1.28.15-r20"
    assert row[header.index(" NEWEST ") + 1 :].split()[0] == "v1.31"
    explained = env.kube.kubectl("explain", "cceclusterupgrade.status.available.newestVersion").stdout
    assert "The newest version reachable along the endpoint's upgrade paths." in explained

    events = env.wait_events(lambda ev: len(_available_events(env)) >= 1, what="UpgradeAvailable")
    announced = [e for e in events if e["reason"] == "UpgradeAvailable"]
    assert [(e["type"], e["message"]) for e in announced] == [
        ("Normal", f"Upgrade available for cluster {env.cluster}: v1.28.15-r20 -> v1.29.13-r0")
    ]
    assert exporter_receivers({**announced[0], "apiVersion": "ccupgrade.dev/v1alpha1", "namespace": env.namespace}) == [
        "cce-upgrade-news"
    ]
    assert botkube_notifies_event_created({**announced[0], "namespace": env.namespace})

    # A new target and a suggested patch: each announced once, naming current -> target.
    newer = {**VERSIONS, "suggestPatch": "r30", "targetVersions": ["v1.29.13-r0", "v1.30.10-r0"]}
    env.control.task_details(env.project, env.cluster, {"versions": newer})
    env.wait_events(lambda ev: len(_available_events(env)) >= 3, what="two more UpgradeAvailable")
    assert sorted(e["message"].split(" -> ", 1)[1] for e in _available_events(env)) == [
        "v1.28.15-r30 (suggested patch)",
        "v1.29.13-r0",
        "v1.30.10-r0",
    ]

    # A restarted operator (and its first polls) announces nothing again: the versions are in status.
    assert env.operator is not None
    env.operator.stop()
    env.start_operator("--resync", "5s")
    reads = _calls(env, "/upgradeinfo")
    env.wait_status(lambda s: _calls(env, "/upgradeinfo") >= reads + 2, what="two more reads", timeout=60)
    assert len(_available_events(env)) == 3
    assert sorted(env.get()["status"]["available"]["announced"]) == ["v1.28.15-r30", "v1.29.13-r0", "v1.30.10-r0"]

    assert env.operator is not None
    metrics = urllib.request.urlopen(f"{env.operator.url}/metrics", timeout=5).read().decode()
    labels = f'{{name="prod",namespace="{env.namespace}"}}'
    assert f"ccupgrade_versions_available{labels} 3.0" in metrics
    assert f"ccupgrade_minor_versions_behind{labels} 3.0" in metrics

    listed = plugin(env.kube, "list", "-n", env.namespace, COLUMNS="220").stdout
    assert "NEXT" in listed
    assert "v1.31 (2 steps)" in listed
    shown = plugin(env.kube, "status", "prod", "-n", env.namespace, COLUMNS="160").stdout
    assert "Between upgrades" in shown
    assert "Newest           v1.31   2 upgrades away, 3 minor versions behind" in shown


def test_a_precheck_run_from_the_console_shows_its_findings_and_deprecated_apis(env: Env) -> None:
    _idle(env, versions=VERSIONS, prechecks=[CONSOLE_CHECK])
    env.start_operator("--resync", "5s")
    env.create_upgrade()
    status = env.wait_status(lambda s: bool((s.get("latestPreCheck") or {}).get("findings")), what="findings")
    latest = status["latestPreCheck"]
    assert (latest["taskId"], latest["phase"], latest["targetVersion"]) == ("console-check-1", "Failed", "v1.29.13-r0")
    assert [(f["name"], f["where"]) for f in latest["findings"]] == [
        ("NodeDiskCheck", "node node-a-1"),
        ("DeprecatedAPICheck", "cluster"),
    ]
    apis = latest["findings"][1]["deprecatedApis"]
    assert [(a["url"], a["userAgent"], a["calls"]) for a in apis] == [
        ("/apis/policy/v1beta1/podsecuritypolicies", "helm/v3.8.0", 2),
        ("/apis/batch/v1beta1/cronjobs", "kubectl/v1.20.4", 1),
    ]
    env.wait_events(lambda ev: any(e["reason"] == "PreCheckFailed" for e in ev), what="PreCheckFailed")
    reads = _calls(env, "/operation/precheck/tasks")
    env.wait_status(lambda s: _calls(env, "/operation/precheck/tasks") >= reads + 2, what="two more reads", timeout=60)
    failed = [e for e in env.events() if e["reason"] == "PreCheckFailed"]
    assert len(failed) == 1
    assert failed[0]["type"] == "Warning"
    assert "console-check-1" in failed[0]["message"]
    shown = plugin(env.kube, "status", "prod", "-n", env.namespace, COLUMNS="200").stdout
    assert "Latest pre-check for v1.29.13-r0: Failed" in shown
    assert "/apis/policy/v1beta1/podsecuritypolicies  by helm/v3.8.0  2 calls" in shown


def test_a_finished_upgrade_with_a_newer_version_stays_healthy_and_current(env: Env) -> None:
    env.epoch = env.load("standard")["epoch"]
    env.at(60)  # Success
    env.control.task_details(
        env.project,
        env.cluster,
        {"versions": {**VERSIONS, "release": "v1.29.13", "patch": "r0", "targetVersions": ["v1.30.10-r0"]}},
    )
    env.create_secret()
    env.start_operator("--resync", "5s")
    env.create_upgrade()
    env.wait_status(lambda s: (s.get("available") or {}).get("targetVersions") == ["v1.30.10-r0"], what="targets")
    obj = env.get()
    assert argocd_health(obj)["status"] == "Healthy"
    assert kstatus(obj) == "Current"


def test_cost_once_per_resync_at_rest_none_while_active_or_refused(env: Env) -> None:
    env.epoch = env.load("standard")["epoch"]
    env.at(60)  # at rest: the upgrade succeeded
    env.create_secret()
    env.start_operator("--resync", "5s")
    env.create_upgrade()
    env.wait_status(lambda s: bool(s.get("available")), what="available")
    start = {path: _calls(env, path) for path in ("/upgradeworkflows", "/upgradeinfo", "/operation/precheck/tasks")}
    began = time.monotonic()
    env.wait_status(lambda s: _calls(env, "/upgradeworkflows") >= start["/upgradeworkflows"] + 6, timeout=90)
    resyncs = (time.monotonic() - began) / 5.0
    info = _calls(env, "/upgradeinfo") - start["/upgradeinfo"]
    prechecks = _calls(env, "/operation/precheck/tasks") - start["/operation/precheck/tasks"]
    assert 1 <= info <= resyncs + 1
    assert 1 <= prechecks <= resyncs + 1
    paths = env.control.requests(env.project, "-", limit=100)["total"]
    assert paths == 1  # once an hour per endpoint: once in this test

    # An upgrade under way: the workflow list and the running task's detail only.
    env.at(32)  # the Cluster task runs
    env.wait_status(lambda s: s.get("phase") == "Running", what="Running")
    before = {path: _calls(env, path) for path in ("/upgradeworkflows", "/upgradeinfo", "/operation/precheck/tasks")}
    env.wait_status(lambda s: _calls(env, "/upgradeworkflows") >= before["/upgradeworkflows"] + 4, timeout=60)
    assert _calls(env, "/upgradeinfo") == before["/upgradeinfo"]
    assert _calls(env, "/operation/precheck/tasks") == before["/operation/precheck/tasks"]


def test_nothing_between_upgrades_is_asked_with_refused_credentials(env: Env) -> None:
    _idle(env, versions=VERSIONS)
    env.kube.core.patch_namespaced_secret("cce-credentials", env.namespace, {"stringData": {"secretKey": "wrong"}})
    env.start_operator("--resync", "5s")
    env.create_upgrade()
    env.wait_condition("Stalled", "True", "AuthenticationFailed")
    assert _calls(env, "/upgradeinfo") == 0
    assert _calls(env, "/operation/precheck/tasks") == 0
    assert "available" not in env.get()["status"]
