"""Proof that the test bed is a real API server: schemas, CEL, RBAC and the status subresource
are enforced by kube-apiserver itself, and its processes never outlive their owner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ccupgrade.models.resource import GROUP, PLURAL, VERSION
from ccupgrade.testbed.accounts import mint_service_account_kubeconfig
from tests.support.kube import Kube, wait_for

pytestmark = pytest.mark.cluster


def _upgrade(name: str, **spec: Any) -> dict[str, Any]:
    body_spec = {
        "region": "ap-southeast-1",
        "projectId": "0123456789abcdef0123456789abcdef",
        "clusterId": "b4b9e60f-8aa2-11ee-af09-0255ac10004f",
        "credentialsSecretRef": {"name": "cce-credentials"},
    }
    body_spec.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "CceClusterUpgrade",
        "metadata": {"name": name},
        "spec": {k: v for k, v in body_spec.items() if v is not None},
    }


def _get(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    return cast(dict[str, Any], kube.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name))


def test_object_round_trips_with_server_defaults(kube: Kube, crd: str, namespace: str) -> None:
    kube.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _upgrade("prod"))

    stored = _get(kube, namespace, "prod")
    # Defaults come from the generated schema and are applied by the server, not by us.
    assert stored["spec"]["pollInterval"] == "30s"
    assert stored["spec"]["historyLimit"] == 5
    assert stored["spec"]["suspend"] is False

    for short_name in ("ccupgrades", "ccupgrade", "cceclusterupgrades"):
        listed = json.loads(kube.kubectl("get", short_name, "-n", namespace, "-o", "json").stdout)
        assert [item["metadata"]["name"] for item in listed["items"]] == ["prod"]
    table = kube.kubectl("get", "ccupgrades", "-n", namespace).stdout
    assert table.split("\n")[0].split() == ["NAME", "CLUSTER", "TARGET", "PHASE", "PROGRESS", "ETA", "READY", "AGE"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"projectId": None}, "projectId: Required value"),
        ({"region": "Not A Region"}, "spec.region"),
        ({"endpoint": "https://cce.example.test"}, "set exactly one of region"),
        ({"region": None}, "set exactly one of region"),
        ({"pollInterval": "1s"}, "pollInterval must be at least 5s"),
        ({"pollInterval": "soon"}, "spec.pollInterval"),
        ({"historyLimit": 500}, "spec.historyLimit"),
        ({"workflow": {"uid": "a", "targetVersion": "v1.19.16-r80"}}, "at most one of workflow.uid"),
        ({"pollInterval": "25h"}, "pollInterval must be at most 24h"),
        ({"region": None, "endpoint": "https://cce.example.test/api?x=1"}, "spec.endpoint"),
        ({"credentialsSecretRef": {"name": "Not_A_Name"}}, "spec.credentialsSecretRef.name"),
        ({"credentialsSecretRef": {}}, "credentialsSecretRef.name: Required value"),
        ({"projectId": "has spaces"}, "spec.projectId"),
        ({"suspend": "yes"}, "spec.suspend"),
        ({"workflow": {"targetVersion": "latest"}}, "spec.workflow.targetVersion"),
    ],
)
def test_server_rejects_invalid_objects_with_a_clear_message(
    kube: Kube, crd: str, namespace: str, spec: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ApiException) as caught:
        kube.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _upgrade("bad", **spec))
    assert caught.value.status == 422
    assert expected in json.loads(caught.value.body)["message"]


def test_status_is_a_subresource(kube: Kube, crd: str, namespace: str) -> None:
    kube.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _upgrade("sub"))
    # A status sent to the main resource is dropped by the server...
    kube.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "sub", {"status": {"phase": "X"}})
    stored = _get(kube, namespace, "sub")
    assert "status" not in stored
    # ...and accepted through /status, without bumping the generation.
    kube.custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, "sub", {"status": {"phase": "Running"}}
    )
    stored = _get(kube, namespace, "sub")
    assert stored["status"]["phase"] == "Running"
    assert stored["metadata"]["generation"] == 1


def test_rbac_is_enforced_for_service_accounts(kube: Kube, crd: str, namespace: str, tmp_path: Path) -> None:
    if kube.control_plane is None:
        pytest.skip("minting kubeconfigs needs the local control plane's CA")
    path = mint_service_account_kubeconfig(kube.api, kube.control_plane, namespace, "reader", tmp_path / "kc")
    as_reader = client.CustomObjectsApi(config.new_client_from_config(str(path)))

    with pytest.raises(ApiException) as caught:
        as_reader.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    assert caught.value.status == 403

    rbac = client.RbacAuthorizationV1Api(kube.api)
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "reader"},
            "rules": [{"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["get", "list"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
    )

    def can_list() -> bool:
        """The API server's authorizer sees a new binding a moment later: 403 until then."""
        try:
            listed = cast(dict[str, Any], as_reader.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL))
        except ApiException as exc:
            if exc.status == 403:
                return False
            raise
        return bool(listed["items"] == [])

    wait_for(can_list, message="the role binding to take effect")
    with pytest.raises(ApiException) as caught:
        as_reader.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _upgrade("nope"))
    assert caught.value.status == 403


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose; its parent (init) will reap it.
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_killed_owner_leaves_no_process_behind(kube: Kube, tmp_path: Path) -> None:
    if kube.control_plane is None:
        pytest.skip("about the local control plane only")
    workdir = tmp_path / "plane"
    owner = subprocess.Popen(
        [sys.executable, "-m", "ccupgrade.testbed", "--workdir", str(workdir), "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert owner.stdout is not None
        for line in owner.stdout:
            if line.startswith("export KUBECONFIG="):
                break
        pids = [int((workdir / f"{name}.pid").read_text()) for name in ("etcd", "kube-apiserver")]
        assert all(_alive(pid) for pid in pids)
        owner.send_signal(signal.SIGKILL)  # no cleanup code can run: only PDEATHSIG can help
        owner.wait()
        wait_for(lambda: not any(_alive(pid) for pid in pids), timeout=15, message="children to die")
    finally:
        if owner.poll() is None:
            owner.kill()
        time.sleep(0)


def _start_up(workdir: Path) -> subprocess.Popen[str]:
    """`testbed up` in `workdir`, returned once it says its control plane is ready."""
    owner = subprocess.Popen(
        [sys.executable, "-m", "ccupgrade.testbed", "--workdir", str(workdir), "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert owner.stdout is not None
    for line in owner.stdout:
        if line.startswith("export KUBECONFIG="):
            return owner
    owner.wait()
    raise AssertionError(f"`up` exited {owner.returncode} before it was ready")


def test_a_second_up_in_the_same_workdir_refuses_and_down_stops_the_first(kube: Kube, tmp_path: Path) -> None:
    if kube.control_plane is None:
        pytest.skip("about the local control plane only")
    workdir = tmp_path / "plane"
    up = [sys.executable, "-m", "ccupgrade.testbed", "--workdir", str(workdir)]
    first = _start_up(workdir)
    try:
        apiserver = int((workdir / "kube-apiserver.pid").read_text())
        second = subprocess.run([*up, "up"], capture_output=True, text=True, timeout=60, check=False)
        assert second.returncode == 1, second
        assert f"already up (pid {first.pid})" in second.stderr
        assert _alive(apiserver), "the second `up` stopped the first one's control plane"
        assert first.poll() is None

        down = subprocess.run([*up, "down"], capture_output=True, text=True, timeout=90, check=False)
        assert down.returncode == 0, down
        assert f"up (pid {first.pid})" in down.stdout, down.stdout
        assert first.wait(timeout=30) == 0  # `up` stopped its own control plane and exited
        assert not _alive(apiserver)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()


def test_up_exits_when_its_control_plane_is_stopped_underneath(kube: Kube, tmp_path: Path) -> None:
    if kube.control_plane is None:
        pytest.skip("about the local control plane only")
    workdir = tmp_path / "plane"
    first = _start_up(workdir)
    try:
        os.kill(int((workdir / "kube-apiserver.pid").read_text()), signal.SIGKILL)
        assert first.wait(timeout=30) == 1
        assert first.stdout is not None
        assert "kube-apiserver stopped; exiting" in first.stdout.read()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
