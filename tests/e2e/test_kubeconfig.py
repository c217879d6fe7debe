"""`ccupgrade run --kubeconfig B` with KUBECONFIG=A: kopf's watch and the operator's writes both use B.

Two real API servers, each with its own etcd, state and ports: A is the session's control plane
(and $KUBECONFIG of the operator process), B a second one started for this test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes import config

from ccupgrade.models.resource import GROUP, PLURAL, VERSION
from ccupgrade.simulator.control import SimulatorControl
from ccupgrade.testbed import ControlPlane
from ccupgrade.testbed.services import Service, start_operator
from tests.e2e.conftest import AK, SK
from tests.support.kube import Kube, wait_for
from tests.support.paths import CRD_PATH

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


@pytest.fixture
def cluster_b(kube: Kube, tmp_path: Path) -> Iterator[Kube]:
    if kube.control_plane is None:
        pytest.skip("a second API server needs the local control plane's binaries")
    with ControlPlane(tmp_path / "cluster-b", kube.control_plane.binaries) as plane:
        api = config.new_client_from_config(str(plane.kubeconfig))
        try:
            yield Kube(plane.kubeconfig, api, kube.kubectl_path, plane)
        finally:
            api.close()


def _install(side: Kube, namespace: str, name: str, simulator_url: str, project: str, cluster: str) -> None:
    secret = {"metadata": {"name": "cce"}, "stringData": {"accessKey": AK, "secretKey": SK}}
    side.core.create_namespaced_secret(namespace, secret)
    spec = {
        "endpoint": simulator_url,
        "projectId": project,
        "clusterId": cluster,
        "credentialsSecretRef": {"name": "cce"},
        "pollInterval": "5s",
    }
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "CceClusterUpgrade", "metadata": {"name": name}, "spec": spec}
    side.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)


def _get(side: Kube, namespace: str, name: str) -> dict[str, Any]:
    return cast(dict[str, Any], side.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name))


def _workflow_uid(side: Kube, namespace: str, name: str) -> str | None:
    return cast(str | None, ((_get(side, namespace, name).get("status") or {}).get("workflow") or {}).get("uid"))


def test_watch_and_writes_follow_the_kubeconfig_flag_not_the_environment(
    kube: Kube, crd: str, namespace: str, cluster_b: Kube, simulator: Service, tmp_path: Path
) -> None:
    control = SimulatorControl(simulator.url)
    project = uuid.uuid4().hex
    clusters = {name: str(uuid.uuid4()) for name in ("b-first", "b-second", "a-decoy")}
    uids = {
        name: control.load(project, cid, "standard", paused=True)["workflowUids"]["upgrade-1"]
        for name, cid in clusters.items()
    }

    cluster_b.kubectl("apply", "--server-side", "-f", str(CRD_PATH))
    cluster_b.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd}")
    cluster_b.core.create_namespace({"metadata": {"name": namespace}})
    _install(cluster_b, namespace, "prod", simulator.url, project, clusters["b-first"])
    _install(kube, namespace, "decoy", simulator.url, project, clusters["a-decoy"])  # A: only a decoy

    operator = start_operator(
        tmp_path,
        kube.kubeconfig,  # KUBECONFIG=A in the operator's environment
        [
            "--kubeconfig",
            str(cluster_b.kubeconfig),
            "--namespace",
            namespace,
            "--allowed-endpoints",
            "http://127.0.0.1:*",
        ],
        name="operator-kubeconfig",
        log_level="DEBUG",
    )
    try:
        # Listed from B, polled, written to B.
        wait_for(lambda: _workflow_uid(cluster_b, namespace, "prod") == uids["b-first"], 60, message="B's status")
        # A later change on B reaches the operator through the watch stream, not only the first listing.
        cluster_b.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "prod", {"spec": {"clusterId": clusters["b-second"]}}
        )
        wait_for(lambda: _workflow_uid(cluster_b, namespace, "prod") == uids["b-second"], 60, message="B's change")
        observed = _get(cluster_b, namespace, "prod")
        assert observed["status"]["observedGeneration"] == observed["metadata"]["generation"] == 2
        # A was never watched: its object was never polled nor written.
        assert control.requests(project, clusters["a-decoy"], limit=1)["total"] == 0
        assert "status" not in _get(kube, namespace, "decoy")
        assert operator.alive()
    finally:
        operator.stop()
