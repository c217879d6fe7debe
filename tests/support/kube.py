"""A handle on the Kubernetes API the tests run against, and waiting on a condition."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config

from ccupgrade.models.resource import GROUP, VERSION
from ccupgrade.testbed import ControlPlane


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


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2, message: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}; last value: {last!r}")


def use_existing_cluster() -> bool:
    """USE_EXISTING_CLUSTER=true: the tests run against the cluster in $KUBECONFIG, nothing is started."""
    return os.environ.get("USE_EXISTING_CLUSTER", "").lower() in {"1", "true", "yes"}


def configuration_of(kubeconfig: Path) -> client.Configuration:
    """The official client's configuration from a kubeconfig: what the operator's `KubeApi` is
    built from."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return configuration


def upgrade_body(name: str = "prod") -> dict[str, Any]:
    """A minimal valid CceClusterUpgrade, for tests that write it directly (nothing polls it)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "CceClusterUpgrade",
        "metadata": {"name": name},
        "spec": {"region": "ap-southeast-1", "projectId": "p", "clusterId": "c", "credentialsSecretRef": {"name": "s"}},
    }
