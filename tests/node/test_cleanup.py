"""The node mode leaves nothing behind, even when its owner is SIGKILLed with a Pod running.

(Runs before test_in_cluster.py, whose session-wide cluster would hold the one-per-machine lock.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.node.conftest import wait_for

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]


def machine_state() -> dict[str, object]:
    """What a node run may change on the machine, as comparable values."""

    def run(*args: str) -> str:
        return subprocess.run(args, capture_output=True, text=True, check=False).stdout

    chains = {
        table: sorted(line.split()[0] for line in run("iptables-save", "-t", table).splitlines() if line[:1] == ":")
        for table in ("filter", "nat", "mangle")
    }
    return {
        "links": sorted(line.split()[0] for line in run("ip", "-br", "link").splitlines()),
        "routes": sorted(run("ip", "route").splitlines()),
        "chains": chains,
        "forward": run("iptables", "-S", "FORWARD").splitlines()[:1],
        "netns": sorted(run("ip", "netns", "list").splitlines()),
        "mounts": sorted(line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()),
        "cgroups": sorted(str(p) for p in Path("/sys/fs/cgroup").glob("*/ccupgrade-node")),
        "sysctls": [
            Path("/proc/sys/net/ipv4/ip_forward").read_text(),
            Path("/proc/sys/net/bridge/bridge-nf-call-iptables").read_text(),
        ],
    }


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


@pytest.mark.usefixtures("node_machine")
def test_a_sigkilled_owner_leaves_nothing_behind(tmp_path: Path) -> None:
    before = machine_state()
    workdir = tmp_path / "node"
    up = [sys.executable, "-m", "ccupgrade.testbed", "node"]
    owner = subprocess.Popen(
        [*up, "up", "--node-workdir", str(workdir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert owner.stdout is not None
        output = []
        for line in owner.stdout:
            output.append(line)
            if line.startswith("node cluster ready"):
                break
        else:
            pytest.fail(f"`node up` exited {owner.wait()}:\n{''.join(output)[-4000:]}")
        kubectl = next(line.split()[1].rstrip(";") for line in owner.stdout if line.startswith("kubectl:"))
        env = dict(os.environ, KUBECONFIG=str(workdir / "kubeconfig"))

        def kubectl_ok(*args: str) -> subprocess.CompletedProcess[str]:
            done = subprocess.run([kubectl, *args], env=env, capture_output=True, text=True, check=False, timeout=120)
            assert done.returncode == 0, done.stderr
            return done

        # A Pod, so there are containers, a network namespace, veths, mounts and cgroups to clean up.
        kubectl_ok("run", "sleeper", "--image=ccupgrade.local/pause:1", "--image-pull-policy=Never")
        kubectl_ok("wait", "--for=condition=Ready", "pod/sleeper", "--timeout=120s")
        assert machine_state() != before

        second = subprocess.run(
            [*up, "up", "--node-workdir", str(workdir)], capture_output=True, text=True, timeout=120, check=False
        )
        assert second.returncode == 1
        assert f"already running (pid {owner.pid})" in second.stderr
        during = machine_state()  # the refused run touched nothing of the running one
        kubectl_ok("wait", "--for=condition=Ready", "pod/sleeper", "--timeout=10s")
        assert during != before
        assert (workdir / "state.json").exists()

        owner.kill()  # SIGKILL: no cleanup code of the owner runs; the watchdog must do it all
        owner.wait()
        wait_for(lambda: machine_state() == before, 120, "the machine as it was before the node")
        wait_for(lambda: not processes_mentioning(str(workdir)), 30, "no process of the node left")
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        subprocess.run([*up, "down", "--node-workdir", str(workdir)], capture_output=True, check=False, timeout=300)
