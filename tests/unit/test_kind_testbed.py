"""The kind test bed's pure parts: the install page's command blocks and the runc wrapper's edit."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ccupgrade.testbed import kind
from ccupgrade.testbed.kindimage import _containerd_config, hack_dir

WRAPPER = hack_dir() / "runc-without-sys-resource"


@pytest.mark.parametrize("step", ["create", "build", "load", "simulator", "helm", "kustomize", "upgrade", "delete"])
def test_every_step_the_tests_run_is_a_shell_block_of_the_install_page(step: str) -> None:
    block = kind.documented(step)
    assert block.strip()
    assert "```" not in block


def test_the_page_creates_the_cluster_the_test_bed_names_with_the_repositorys_config() -> None:
    create = kind.documented("create")
    assert f"--name {kind.CLUSTER}" in create
    assert "--config hack/kind/cluster.yaml" in create
    assert all(f"--name {kind.CLUSTER}" in line for line in kind.documented("load").splitlines())


def test_a_missing_step_is_a_clear_error() -> None:
    with pytest.raises(kind.KindError, match="no step 'nonesuch'"):
        kind.documented("nonesuch")


def _capabilities() -> dict[str, list[str]]:
    every = ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN"]
    return {"bounding": list(every), "effective": list(every), "permitted": list(every)}


@pytest.mark.skipif(shutil.which("jq") is None, reason="the wrapper needs jq")
def test_the_runc_wrapper_drops_cap_sys_resource_on_create_and_exec(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps({"process": {"capabilities": _capabilities(), "args": ["sh"]}}))
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"capabilities": _capabilities(), "args": ["sh"]}))
    env = {"REAL_RUNC": "true", "PATH": "/usr/bin:/bin"}
    common = ["--root", "/run/x", "--log-format", "json"]
    subprocess.run([str(WRAPPER), *common, "create", "--bundle", str(bundle), "id"], env=env, check=True)
    subprocess.run([str(WRAPPER), *common, "exec", "--process", str(process), "--detach", "id"], env=env, check=True)
    created = json.loads((bundle / "config.json").read_text())["process"]["capabilities"]
    executed = json.loads(process.read_text())["capabilities"]
    for capabilities in (created, executed):
        assert capabilities == {k: ["CAP_CHOWN", "CAP_SYS_ADMIN"] for k in ("bounding", "effective", "permitted")}


def test_the_node_containerd_uses_the_built_pause_image_and_pulls_from_nowhere() -> None:
    kind_config = '[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "registry.k8s.io/pause:3.10"\n'
    config = _containerd_config(kind_config, "registry.k8s.io/pause:3.10.2")
    assert 'sandbox_image = "registry.k8s.io/pause:3.10.2"' in config
    assert 'registry.mirrors."docker.io"]\n  endpoint = ["http://127.0.0.1:1"]' in config
