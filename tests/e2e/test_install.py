"""The shipped manifests: accepted by the API server, and the operator works under exactly their RBAC."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ccupgrade.models.resource import GROUP, PLURAL, VERSION
from ccupgrade.testbed.accounts import mint_service_account_kubeconfig
from ccupgrade.testbed.services import start_operator
from tests.e2e.conftest import Env
from tests.support.paths import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

MANIFESTS = REPO / "manifests"


def test_manifests_pass_server_side_dry_run(env: Env) -> None:
    # A dry run cannot create the namespace its other objects live in: that one is applied for real.
    env.kube.kubectl("apply", "--server-side", "-f", str(MANIFESTS / "namespace.yaml"))
    result = env.kube.kubectl("apply", "-k", str(MANIFESTS), "--dry-run=server", "--server-side", "--force-conflicts")
    created = result.stdout
    for kind in (
        "namespace/ccupgrade-system",
        "serviceaccount/cce-upgrade-operator",
        "clusterrole.rbac",
        "clusterrolebinding.rbac",
        "configmap/cce-upgrade-operator",
        "deployment.apps/cce-upgrade-operator",
        "customresourcedefinition.apiextensions.k8s.io/cceclusterupgrades.ccupgrade.dev",
    ):
        assert kind in created, created
    rendered = env.kube.kubectl("kustomize", str(MANIFESTS)).stdout
    assert "runAsNonRoot: true" in rendered
    assert "readOnlyRootFilesystem: true" in rendered
    assert "RuntimeDefault" in rendered


def test_operator_works_under_the_shipped_rbac_and_nothing_more(env: Env, tmp_path: Path) -> None:
    if env.kube.control_plane is None:
        pytest.skip("minting a ServiceAccount kubeconfig needs the local control plane")
    env.kube.kubectl("apply", "-k", str(MANIFESTS), "--server-side", "--force-conflicts")
    kubeconfig = mint_service_account_kubeconfig(
        env.kube.api, env.kube.control_plane, "ccupgrade-system", "cce-upgrade-operator", tmp_path / "sa-kubeconfig"
    )
    loaded = env.load()
    env.epoch = loaded["epoch"]
    env.create_secret()
    env.operator = start_operator(
        env.workdir,
        kubeconfig,
        ["--namespace", env.namespace, "--allowed-endpoints", "http://127.0.0.1:*"],
        name="operator-as-serviceaccount",
    )
    env.started.append(env.operator)  # stopped at the end
    env.create_upgrade()
    env.wait_condition("Ready", "False", "UpgradeInitializing")
    env.at(31)
    env.wait_condition("Reconciling", "True", "UpgradeInProgress")
    env.at(56)
    env.wait_condition("Ready", "True", "UpgradeSucceeded")
    expected = {"WorkflowDetected", "UpgradeStarted", "UpgradeSucceeded"}
    deadline = time.monotonic() + 30  # the Events follow the status
    while not expected <= {e["reason"] for e in env.events()} and time.monotonic() < deadline:
        time.sleep(0.3)
    assert expected <= {e["reason"] for e in env.events()}
    log = env.operator.log_text()
    assert "403" not in log
    assert "Forbidden" not in log
    # A restart lists the operator's Events once (to post only what a crash cut off): allowed too.
    env.operator.stop()
    env.operator = start_operator(
        env.workdir,
        kubeconfig,
        ["--namespace", env.namespace, "--allowed-endpoints", "http://127.0.0.1:*"],
        name="operator-as-serviceaccount-again",
    )
    env.started.append(env.operator)
    listed = re.compile(rf"{env.namespace}: \d+ Events of ours listed; 0 journal entries")
    deadline = time.monotonic() + 60
    while not listed.search(env.operator.log_text()) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert listed.search(env.operator.log_text()), env.operator.log_text()[-3000:]

    # What the ServiceAccount may not do.
    as_operator = config.new_client_from_config(str(kubeconfig))
    core = client.CoreV1Api(as_operator)
    custom = client.CustomObjectsApi(as_operator)
    forbidden = [
        lambda: core.list_namespaced_secret(env.namespace),
        lambda: core.create_namespaced_pod(
            env.namespace, {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "x", "image": "x"}]}}
        ),
        lambda: custom.patch_namespaced_custom_object(
            GROUP, VERSION, env.namespace, PLURAL, "prod", {"spec": {"suspend": True}}
        ),
        lambda: custom.delete_namespaced_custom_object(GROUP, VERSION, env.namespace, PLURAL, "prod"),
        lambda: core.delete_namespaced_event(env.events()[0]["name"], env.namespace),
        lambda: client.RbacAuthorizationV1Api(as_operator).list_cluster_role(),
    ]
    for attempt in forbidden:
        with pytest.raises(ApiException) as caught:
            attempt()
        assert caught.value.status == 403, json.loads(caught.value.body).get("message")
