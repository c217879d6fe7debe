"""kind leaves the machine exactly as it was, even when its owner is SIGKILLed with a Pod running.

(Runs before test_in_cluster.py, whose session-wide cluster would hold the one-per-machine lock.)
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.kind.conftest import processes_mentioning, require_kind, wait_for
from tests.support.kube import use_existing_cluster

pytestmark = [pytest.mark.kind, pytest.mark.timeout(1800)]


def difference(before: dict[str, object], after: dict[str, object]) -> dict[str, tuple[object, object]]:
    """What differs between two host snapshots, key by key (empty: the machine is as it was)."""
    return {key: (before[key], after.get(key)) for key in before if before[key] != after.get(key)}


def test_a_sigkilled_owner_leaves_the_machine_as_it_was() -> None:
    if use_existing_cluster():
        pytest.skip("creates and kills its own kind cluster; not with USE_EXISTING_CLUSTER")
    require_kind()
    from ccupgrade.testbed import hostrecord, kind

    before = hostrecord.snapshot(kind.CGROUP_PARENT)
    up = [sys.executable, "-m", "ccupgrade.testbed", "kind"]
    owner = subprocess.Popen([*up, "up"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert owner.stdout is not None
        output = []
        for line in owner.stdout:
            output.append(line)
            if line.startswith("kind cluster"):
                break
        else:
            pytest.fail(f"`kind up` exited {owner.wait()}:\n{''.join(output)[-4000:]}")
        kubeconfig = str(kind.default_workdir() / "kubeconfig")
        from ccupgrade.testbed.binaries import ensure_binaries

        kubectl = str(ensure_binaries().kubectl)

        def kubectl_ok(*args: str) -> None:
            done = subprocess.run(
                [kubectl, "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, check=False, timeout=180
            )
            assert done.returncode == 0, done.stderr

        # A Pod, so there are containers, mounts and cgroups inside the node to go too.
        kubectl_ok("run", "sleeper", "--image=registry.k8s.io/pause:3.10.2", "--image-pull-policy=Never")
        kubectl_ok("wait", "--for=condition=Ready", "pod/sleeper", "--timeout=180s")
        during = hostrecord.snapshot(kind.CGROUP_PARENT)
        changed = difference(before, during)
        assert {"sysctls", "links", "mounts", "cgroups", "ruleset"} <= set(changed), changed  # what teardown undoes

        second = subprocess.run([*up, "up"], capture_output=True, text=True, timeout=120, check=False)
        assert second.returncode == 1
        assert f"already up (pid {owner.pid})" in second.stderr
        kubectl_ok("wait", "--for=condition=Ready", "pod/sleeper", "--timeout=10s")  # the refused run touched nothing

        owner.kill()  # SIGKILL: none of the owner's cleanup runs; its watchdog must do all of it
        owner.wait()
        wait_for(lambda: not difference(before, hostrecord.snapshot(kind.CGROUP_PARENT)), 300, "the machine as before")
        assert difference(before, hostrecord.snapshot(kind.CGROUP_PARENT)) == {}
        wait_for(lambda: not processes_mentioning(str(kind.RUN_DIR)), 60, "no process of kind's dockerd left")
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        subprocess.run([*up, "down"], capture_output=True, check=False, timeout=600)
