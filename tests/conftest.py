"""Shared fixtures: one real Kubernetes API per test session, a fresh namespace per test.

By default the project's own control plane (etcd + kube-apiserver on loopback) is started.
With USE_EXISTING_CLUSTER=true the tests run against the cluster in $KUBECONFIG (a kind
cluster, for example) and nothing is started.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import config
from kubernetes.client.exceptions import ApiException

from ccupgrade.models import resource
from ccupgrade.testbed import ControlPlane, ensure_binaries
from tests.support.kube import Kube, use_existing_cluster
from tests.support.paths import CRD_PATH


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    if use_existing_cluster():
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


# Each tier's folder and the markers its tests must carry: a test that needs an API server, the
# operator as a process, a kind cluster or an external tool says so, and the unit tier needs none of them.
_NEEDS = frozenset({"cluster", "e2e", "kind", "tools"})
_TIER_MARKERS = {
    "unit": (frozenset(), frozenset()),
    "artifacts": (frozenset({"tools"}), _NEEDS),
    "cluster": (frozenset(), frozenset({"cluster", "tools"})),
    "e2e": (frozenset({"e2e", "cluster"}), _NEEDS),
    "kind": (frozenset({"kind"}), _NEEDS),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuses a test whose markers do not match its tier: `make test-unit` stays offline and fast."""
    tests = Path(__file__).resolve().parent
    wrong = []
    for item in items:
        path = item.path.resolve()
        if not path.is_relative_to(tests):
            continue
        tier = path.relative_to(tests).parts[0]
        required, allowed = _TIER_MARKERS.get(tier, (frozenset(), _NEEDS))
        marks = {mark.name for mark in item.iter_markers()} & _NEEDS
        if not required <= marks or not marks <= allowed or (tier == "cluster" and not marks):
            wrong.append(f"{item.nodeid}: {sorted(marks)}")
    if wrong:
        raise pytest.UsageError("tests whose markers do not match their tier:\n" + "\n".join(wrong))
