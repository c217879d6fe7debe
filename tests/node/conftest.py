"""The operator as Pods on a real node, installed from manifests/ with `kubectl apply -k`.

By default a single-node cluster is brought up on this machine (`ccupgrade.testbed.node`, root only)
with the operator's image built here and loaded into its containerd. With USE_EXISTING_CLUSTER=true
the cluster in $KUBECONFIG is used (kind: load the image with `kind load docker-image
cce-upgrade-operator:e2e`, and set CCUPGRADE_SIMULATOR_HOST to a host address its Pods reach).

Where the node cannot run (not root, packages missing), every test here skips with one line that
says why; CCUPGRADE_REQUIRE_NODE=1 (set by .ci/run) turns that skip into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes import client, config

from ccupgrade.models.resource import GROUP, PLURAL, VERSION
from ccupgrade.simulator.control import SimulatorControl
from ccupgrade.testbed.services import Service, start_simulator

REPO = Path(__file__).resolve().parents[2]
OVERLAY = REPO / "tests" / "node" / "overlay"
CRD_PATH = REPO / "crds" / "ccupgrade.dev_cceclusterupgrades.yaml"
REQUIRE_ENV = "CCUPGRADE_REQUIRE_NODE"
SYSTEM_NS = "ccupgrade-system"
DEPLOYMENT = "cce-upgrade-operator"
SELECTOR = "app.kubernetes.io/name=cce-upgrade-operator"
AK, SK = "NODEACCESSKEY0000001", "node-secret-key-canary-5d1e"


def _use_existing_cluster() -> bool:
    return os.environ.get("USE_EXISTING_CLUSTER", "").lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"node tests are required here ({REQUIRE_ENV}=1) but cannot run: {reason}", pytrace=False)
    pytest.skip(f"node tests skipped: {reason} (set {REQUIRE_ENV}=1 to make this a failure)")


def require_node() -> None:
    """Skips (or, in CI, fails) unless this machine can run the node mode."""
    from ccupgrade.testbed import node

    reasons = node.missing_prerequisites()
    if reasons:
        skip_or_fail("; ".join(reasons))


@pytest.fixture(scope="session")
def node_machine() -> None:
    """This machine can run the node mode (else the one skip line, or a failure in CI)."""
    require_node()


@dataclass
class Cluster:
    """A cluster with a node, its kubeconfig and kubectl, and where its Pods reach the host."""

    kubeconfig: Path
    kubectl_path: str
    simulator_host: str
    api: client.ApiClient

    def kubectl(
        self, *args: str, check: bool = True, timeout: float = 180, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        done = subprocess.run(
            [self.kubectl_path, *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            input=input,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[:3000]}")
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if _use_existing_cluster():
        kubeconfig = Path(os.environ.get("KUBECONFIG", os.path.expanduser("~/.kube/config")))
        kubectl = shutil.which("kubectl")
        host = os.environ.get("CCUPGRADE_SIMULATOR_HOST")
        if kubectl is None or not host:
            pytest.fail("USE_EXISTING_CLUSTER=true needs kubectl on PATH and CCUPGRADE_SIMULATOR_HOST")
        api = config.new_client_from_config(str(kubeconfig))
        yield Cluster(kubeconfig, kubectl, host, api)
        api.close()
        return
    from ccupgrade.testbed import image, node

    require_node()
    if shutil.which("docker") is None:
        skip_or_fail("no docker client to build the image (run hack/node/install-packages.sh)")
    started = time.monotonic()
    built = image.ensure_image()
    print(f"\n[node] image {built.tag}: {built.size / 1e6:.0f} MB ({time.monotonic() - started:.0f}s)")
    started = time.monotonic()
    with node.NodeCluster(tmp_path_factory.mktemp("node-unused").parent / "node", [built.archive]) as running:
        print(f"[node] cluster up in {time.monotonic() - started:.0f}s")
        api = config.new_client_from_config(str(running.kubeconfig))
        yield Cluster(running.kubeconfig, str(running.kubectl), node.NODE_IP, api)
        api.close()


@pytest.fixture(scope="session")
def simulator(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = start_simulator(
        tmp_path_factory.mktemp("simulator"), host=cluster.simulator_host, extra=["--aksk", f"{AK}:{SK}"]
    )
    yield service
    service.stop()


@pytest.fixture(scope="session")
def installed(cluster: Cluster, simulator: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """manifests/ through tests/node/overlay, with the simulator's address; both replicas Ready."""
    overlay = tmp_path_factory.mktemp("overlay")
    (overlay / "kustomization.yaml").write_text(
        json.dumps(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(OVERLAY, overlay)],
                "patches": [
                    {
                        "target": {"kind": "ConfigMap", "name": DEPLOYMENT},
                        "patch": json.dumps(
                            [
                                {
                                    "op": "replace",
                                    "path": "/data/CCUPGRADE_ALLOWED_ENDPOINTS",
                                    "value": f"http://{cluster.simulator_host}:*",
                                }
                            ]
                        ),
                    }
                ],
            }
        )
    )
    cluster.kubectl("apply", "-k", str(overlay))
    wait_rollout(cluster)
    yield overlay
    cluster.kubectl("delete", "-k", str(overlay), "--wait=true", "--ignore-not-found", check=False)


def wait_rollout(cluster: Cluster) -> None:
    cluster.kubectl("-n", SYSTEM_NS, "rollout", "status", f"deployment/{DEPLOYMENT}", "--timeout=240s", timeout=260)
    wait_for(lambda: len(ready_pods(cluster)) == 2, 120, "two Ready replicas")


def pods(cluster: Cluster) -> list[dict[str, Any]]:
    """The operator's Pods that are not being deleted."""
    items = cluster.json("-n", SYSTEM_NS, "get", "pods", "-l", SELECTOR)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def ready_pods(cluster: Cluster) -> list[str]:
    return [
        p["metadata"]["name"]
        for p in pods(cluster)
        if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    ]


def leader(cluster: Cluster) -> str | None:
    """The Pod holding the Lease (its identity is `<hostname>-<suffix>`; a Pod's hostname is its name)."""
    lease = cluster.json("-n", SYSTEM_NS, "get", "lease", DEPLOYMENT)
    holder = lease["spec"].get("holderIdentity") or ""
    return next((name for name in ready_pods(cluster) if holder.startswith(f"{name}-")), None)


def metric(cluster: Cluster, pod: str, name: str) -> float:
    """A counter summed over its series, read through the API server's proxy to the Pod."""
    text = cluster.kubectl("get", "--raw", f"/api/v1/namespaces/{SYSTEM_NS}/pods/{pod}:8080/proxy/metrics").stdout
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


@dataclass
class Upgrade:
    """One CceClusterUpgrade in its own namespace, against its own simulated cluster."""

    cluster: Cluster
    control: SimulatorControl
    simulator_url: str
    namespace: str = ""
    name: str = "prod"
    project: str = ""
    cluster_id: str = ""
    epoch: str = ""

    def create(self) -> None:
        self.namespace = f"node-{uuid.uuid4().hex[:8]}"
        self.project, self.cluster_id = uuid.uuid4().hex, str(uuid.uuid4())
        self.epoch = self.control.load(self.project, self.cluster_id, "standard", paused=True)["epoch"]
        self.cluster.core.create_namespace({"metadata": {"name": self.namespace}})
        self.cluster.core.create_namespaced_secret(
            self.namespace, {"metadata": {"name": "cce-credentials"}, "stringData": {"accessKey": AK, "secretKey": SK}}
        )
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "CceClusterUpgrade",
            "metadata": {"name": self.name},
            "spec": {
                "endpoint": self.simulator_url,
                "projectId": self.project,
                "clusterId": self.cluster_id,
                "credentialsSecretRef": {"name": "cce-credentials"},
                "pollInterval": "5s",
            },
        }
        self.cluster.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)

    def delete(self) -> None:
        self.cluster.core.delete_namespace(self.namespace)
        self.control.remove(self.project, self.cluster_id)

    def status(self) -> dict[str, Any]:
        got = self.cluster.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, self.name)
        return cast(dict[str, Any], got).get("status") or {}

    def requests(self) -> int:
        return int(self.control.requests(self.project, self.cluster_id, limit=1)["total"])

    def events(self) -> list[dict[str, Any]]:
        listed = self.cluster.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={self.name}"
        )
        return [{"type": e.type, "reason": e.reason, "name": e.metadata.name, "count": e.count} for e in listed.items]
