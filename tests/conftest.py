"""Shared fixtures: one real Kubernetes API per test session, a fresh namespace per test.

By default the project's own control plane (etcd + kube-apiserver on loopback) is started.
With USE_EXISTING_CLUSTER=true the tests run against the cluster in $KUBECONFIG (a kind
cluster, for example) and nothing is started.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ccupgrade.models import resource
from ccupgrade.testbed import ControlPlane, ensure_binaries

REPO = Path(__file__).resolve().parents[1]
CRD_PATH = REPO / "crds" / "ccupgrade.dev_cceclusterupgrades.yaml"


@dataclass
class Kube:
    kubeconfig: Path
    api: client.ApiClient
    kubectl_path: str
    control_plane: ControlPlane | None

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        done = subprocess.run(
            [self.kubectl_path, *args], env=env, capture_output=True, text=True, check=False, input=input, timeout=120
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[:2000]}")
        return done

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)


def _use_existing_cluster() -> bool:
    return os.environ.get("USE_EXISTING_CLUSTER", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    if _use_existing_cluster():
        kubeconfig = Path(os.environ.get("KUBECONFIG", os.path.expanduser("~/.kube/config")))
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            pytest.fail("USE_EXISTING_CLUSTER=true needs kubectl on PATH")
        api = config.new_client_from_config(str(kubeconfig))
        yield Kube(kubeconfig, api, kubectl, None)
        api.close()
        return
    binaries = ensure_binaries()
    with ControlPlane(tmp_path_factory.mktemp("controlplane"), binaries) as plane:
        api = config.new_client_from_config(str(plane.kubeconfig))
        yield Kube(plane.kubeconfig, api, str(binaries.kubectl), plane)
        api.close()


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2, message: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}; last value: {last!r}")


@pytest.fixture(scope="session")
def crd(kube: Kube) -> str:
    """The CRD from crds/, applied server-side and Established."""
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_PATH))
    name = f"{resource.PLURAL}.{resource.GROUP}"
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{name}")
    return name


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    kube.core.create_namespace({"metadata": {"name": name}})
    yield name
    try:
        kube.core.delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise
