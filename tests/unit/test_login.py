"""One login for kopf's watch and the operator's writes: the kubeconfig given, not whatever else is around.

The end-to-end proof with two API servers is tests/e2e/test_kubeconfig.py; these are the fast checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from ccupgrade.app.handlers import connection_info
from ccupgrade.app.main import _kubernetes_client


def _kubeconfig(path: Path, server: str, token: str) -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "ns"}}],
        "current-context": "x",
    }
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def two_kubeconfigs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A in $KUBECONFIG, B only on the command line."""
    a = _kubeconfig(tmp_path / "a", "https://127.0.0.1:6441", "token-a")
    b = _kubeconfig(tmp_path / "b", "https://127.0.0.1:6442", "token-b")
    monkeypatch.setenv("KUBECONFIG", str(a))
    return a, b


def test_kopf_login_comes_from_the_configuration_the_writes_use(two_kubeconfigs: tuple[Path, Path]) -> None:
    _, b = two_kubeconfigs
    api = _kubernetes_client(str(b))
    try:
        info = connection_info(api.configuration)
    finally:
        api.close()
    assert info.server == "https://127.0.0.1:6442"
    assert (info.scheme, info.token) == ("Bearer", "token-b")
    assert info.insecure is True


def test_named_kubeconfig_wins_over_the_in_cluster_account(
    two_kubeconfigs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside a pod, `--kubeconfig B` still means B (as with kubectl); without one, in-cluster comes first."""

    def in_cluster(client_configuration: client.Configuration, **_: Any) -> None:
        client_configuration.host = "https://10.0.0.1:443"

    monkeypatch.setattr(config, "load_incluster_config", in_cluster)
    _, b = two_kubeconfigs
    named = _kubernetes_client(str(b))
    unnamed = _kubernetes_client(None)
    try:
        assert connection_info(named.configuration).server == "https://127.0.0.1:6442"
        assert connection_info(unnamed.configuration).server == "https://10.0.0.1:443"
    finally:
        named.close()
        unnamed.close()
