"""manifests/notifications/botkube-rbac.yaml on the real API server: the group Botkube's source
impersonates may read Events and CceClusterUpgrades, and nothing else."""

from __future__ import annotations

import pytest

from tests.support.kube import Kube, wait_for
from tests.support.paths import REPO

pytestmark = [pytest.mark.cluster]

RBAC = REPO / "manifests/notifications/botkube-rbac.yaml"
AS = ["--as=botkube-plugin", "--as-group=botkube-ccupgrade-source"]


def _can(kube: Kube, *args: str) -> bool:
    done = kube.kubectl("auth", "can-i", *args, *AS, check=False)
    return done.stdout.strip() == "yes"


def test_botkube_group_reads_events_and_upgrades_only(kube: Kube, crd: str) -> None:
    kube.kubectl("apply", "--server-side", "-f", str(RBAC))
    try:  # the authorizer learns of new RBAC objects through a watch: wait for it, then check
        wait_for(lambda: _can(kube, "list", "events", "--all-namespaces"), message="the binding to take effect")
        for verb in ("get", "list", "watch"):
            assert _can(kube, verb, "events", "--all-namespaces")
            assert _can(kube, verb, "cceclusterupgrades.ccupgrade.dev", "--all-namespaces")
        for forbidden in (
            ["get", "secrets"],
            ["list", "pods"],
            ["patch", "cceclusterupgrades.ccupgrade.dev"],
            ["create", "events"],
            ["delete", "cceclusterupgrades.ccupgrade.dev"],
        ):
            assert not _can(kube, *forbidden, "--all-namespaces"), forbidden
    finally:
        kube.kubectl("delete", "-f", str(RBAC), "--wait=false")
    # the grant came from the file: it goes with it
    wait_for(lambda: not _can(kube, "list", "events", "--all-namespaces"), message="the binding to go")
