"""The other install the page shows: `kubectl apply -k manifests/` instead of Helm, on the same cluster.

Runs last (the Helm release of the session is uninstalled first); one upgrade through it is enough:
the manifests and the chart render the same objects (a unit test compares them).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ccupgrade.simulator.control import SimulatorControl
from tests.kind.conftest import DEPLOYMENT, SYSTEM_NS, Cluster, Upgrade, ready_pods, wait_for, wait_rollout
from tests.kind.test_in_cluster import finish, seen

pytestmark = [pytest.mark.kind, pytest.mark.timeout(1200)]


def test_installed_with_kubectl_apply_k_manifests_it_mirrors_an_upgrade(
    cluster: Cluster, simulator: SimulatorControl
) -> None:
    from ccupgrade.testbed import kind

    uninstall = ["helm", "uninstall", DEPLOYMENT, "--namespace", SYSTEM_NS, "--wait", "--timeout", "300s"]
    subprocess.run(uninstall, env=cluster.env, check=True, capture_output=True, timeout=360)
    wait_for(lambda: not ready_pods(cluster), 180, "the Helm release's Pods gone")
    kind.run_documented("kustomize", cluster.env)
    try:
        wait_rollout(cluster)
        namespace = cluster.json("get", "namespace", SYSTEM_NS)
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        rendered = cluster.kubectl("-n", SYSTEM_NS, "get", "deployment", DEPLOYMENT, "-o", "yaml").stdout
        assert "helm" not in rendered.lower()  # not a leftover of the Helm release
        upgrade = Upgrade(cluster, simulator)
        upgrade.create()
        try:
            seen(upgrade, 0)
            seen(upgrade, 31)
            finish(upgrade)
        finally:
            upgrade.delete()
    finally:
        manifests = str(Path(__file__).resolve().parents[2] / "manifests")
        cluster.kubectl("delete", "-k", manifests, "--ignore-not-found", "--wait=true", check=False, timeout=300)
