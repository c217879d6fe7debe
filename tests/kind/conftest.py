"""The operator as Pods on a kind cluster, installed with the commands of docs/install/kind.md.

By default the test bed creates the cluster (`ccupgrade.testbed.kind`, root only: its own dockerd,
the node image built here, the host put back afterwards) by running the page's `kind create
cluster` block. With USE_EXISTING_CLUSTER=true the cluster in $KUBECONFIG is used, as the page
creates it (`kind create cluster --name cce-upgrade --config hack/kind/cluster.yaml`), with the
images in the Docker that $DOCKER_HOST names.

Either way the page's blocks then load the images, start the simulator and install the operator
with Helm, exactly as written. Where kind cannot run (not root, commands missing), every test here
skips with one line saying why; CCUPGRADE_REQUIRE_KIND=1 (set by .ci/run) makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
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
from tests.support.kube import use_existing_cluster

REQUIRE_ENV = "CCUPGRADE_REQUIRE_KIND"
SYSTEM_NS = "ccupgrade-system"
DEPLOYMENT = "cce-upgrade-operator"
SELECTOR = "app.kubernetes.io/name=cce-upgrade-operator"
SIMULATOR_NS = "cce-simulator"
SIMULATOR_URL = "http://cce-simulator.cce-simulator.svc:8443"  # as the operator's Pods reach it
# The access key pair hack/kind/simulator.yaml starts the simulator with; the secret key doubles as
# the canary no log may contain.
AK, SK = "DEMOACCESSKEY0000001", "demo-secret-key-5d1e"


def skip_or_fail(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"kind tests are required here ({REQUIRE_ENV}=1) but cannot run: {reason}", pytrace=False)
    pytest.skip(f"kind tests skipped: {reason} (set {REQUIRE_ENV}=1 to make this a failure)")


def require_kind() -> None:
    """Skips (or, in CI, fails) unless this machine can run the test bed's kind."""
    from ccupgrade.testbed import kind

    reasons = kind.missing_prerequisites()
    if reasons:
        skip_or_fail("; ".join(reasons))


@dataclass
class Cluster:
    """A kind cluster: the environment its commands need (kubeconfig, Docker, tools on PATH)."""

    env: dict[str, str]
    api: client.ApiClient

    def kubectl(
        self, *args: str, check: bool = True, timeout: float = 180, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["kubectl", *args], env=self.env, capture_output=True, text=True, check=False, timeout=timeout, input=input
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


def _existing_cluster_env() -> dict[str, str]:
    from ccupgrade.testbed.binaries import ensure_binaries
    from ccupgrade.testbed.kindimage import ensure_kind
    from ccupgrade.testbed.tools import ensure_helm

    if not os.environ.get("KUBECONFIG"):
        pytest.fail("USE_EXISTING_CLUSTER=true needs KUBECONFIG (the kind cluster's)")
    tools = [ensure_kind(), ensure_binaries().kubectl, ensure_helm()]
    return dict(
        os.environ,
        PATH=os.pathsep.join([*(str(t.parent) for t in tools), os.environ["PATH"]]),
        DOCKER_HOST=os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock",  # where `kind load` reads
    )


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """The kind cluster, with the operator's and the simulator's images in its Docker."""
    from ccupgrade.testbed import kind
    from ccupgrade.testbed.image import ensure_in_daemon

    if use_existing_cluster():
        env = _existing_cluster_env()
        docker = kind.Daemon()
        docker.host = env["DOCKER_HOST"]
        ensure_in_daemon(docker)
        ensure_in_daemon(docker, testkit=True)
        api = config.new_client_from_config(env["KUBECONFIG"])
        yield Cluster(env, api)
        api.close()
        return
    require_kind()
    started = time.monotonic()
    with kind.KindCluster() as running:
        print(f"\n[kind] images and cluster ready in {time.monotonic() - started:.0f}s")
        api = config.new_client_from_config(str(running.kubeconfig))
        yield Cluster(running.env, api)
        api.close()


@pytest.fixture(scope="session")
def installed(cluster: Cluster) -> Iterator[None]:
    """The page's steps: images loaded, the simulator up, the operator installed with Helm."""
    from ccupgrade.testbed import kind

    started = time.monotonic()
    for step in ("load", "simulator", "helm"):
        kind.run_documented(step, cluster.env)
    wait_rollout(cluster)
    print(f"\n[kind] installed from docs/install/kind.md in {time.monotonic() - started:.0f}s")
    yield
    subprocess.run(
        ["helm", "uninstall", DEPLOYMENT, "--namespace", SYSTEM_NS, "--wait"], env=cluster.env, check=False, timeout=300
    )
    cluster.kubectl("delete", "namespace", SYSTEM_NS, SIMULATOR_NS, "--ignore-not-found", check=False, timeout=300)


@dataclass
class PortForward:
    """`kubectl port-forward` to the simulator's Service on a loopback port: how the test drives it."""

    process: subprocess.Popen[str]
    url: str

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="session")
def simulator(cluster: Cluster, installed: None) -> Iterator[SimulatorControl]:
    """The in-cluster simulator's control API, through a port-forward on 127.0.0.1."""
    forward = subprocess.Popen(
        ["kubectl", "-n", SIMULATOR_NS, "port-forward", "--address", "127.0.0.1", "service/cce-simulator", ":8443"],
        env=cluster.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert forward.stdout is not None
    line = forward.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> 8443"
    found = re.search(r"127\.0\.0\.1:(\d+)", line)
    if found is None:
        forward.kill()
        raise AssertionError(f"kubectl port-forward said: {line}{forward.stdout.read()[-2000:]}")
    control = SimulatorControl(f"http://127.0.0.1:{found.group(1)}")
    wait_for(control.healthy, 60, "the simulator through the port-forward")
    yield control
    PortForward(forward, control.base_url).stop()


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
    """One CceClusterUpgrade in its own namespace, against its own cluster in the in-cluster simulator."""

    cluster: Cluster
    control: SimulatorControl
    namespace: str = ""
    name: str = "prod"
    project: str = ""
    cluster_id: str = ""
    epoch: str = ""

    def create(self) -> None:
        self.namespace = f"kind-{uuid.uuid4().hex[:8]}"
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
                "endpoint": SIMULATOR_URL,
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


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
