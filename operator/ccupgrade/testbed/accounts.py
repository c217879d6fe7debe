"""Kubeconfigs for ServiceAccounts, so RBAC is tested as the operator would really run."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ccupgrade.testbed.controlplane import ControlPlane


def mint_service_account_kubeconfig(
    api: client.ApiClient,
    control_plane: ControlPlane,
    namespace: str,
    name: str,
    path: Path,
    expiration_seconds: int = 3600,
) -> Path:
    """Creates the ServiceAccount if needed and writes a kubeconfig holding a fresh token for it."""
    core = client.CoreV1Api(api)
    try:
        core.create_namespaced_service_account(
            namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
        )
    except ApiException as exc:
        if exc.status != 409:
            raise
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=expiration_seconds)
    )
    status = core.create_namespaced_service_account_token(name, namespace, request).status
    if status is None or not status.token:
        raise RuntimeError(f"the API server issued no token for {namespace}/{name}")
    token: str = status.token
    return control_plane.write_token_kubeconfig(path, f"system:serviceaccount:{namespace}:{name}", token)
