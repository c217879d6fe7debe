"""A kind cluster on this machine, run by the test bed's own dockerd, leaving the machine as it was.

Our dockerd has its own socket, data root (under ~/.cache/ccupgrade, so built images stay cached),
cgroup parent and runc wrapper (`hack/kind/runc-without-sys-resource`: kind's privileged node
cannot start where root lacks CAP_SYS_RESOURCE). It manages no iptables, no default bridge and no
forwarding; the `kind` network is created here on a bridge of our name, and an nftables table of
ours drops whatever the kind network sends to anything but itself and loopback. Images are never
pulled: kubeadm's are preloaded in the node image (`kindimage`), ours are `kind load`ed, and the
node's containerd sends any pull to a closed loopback port.

Before dockerd starts, what a run may change on the host is recorded (`hostrecord`); `teardown()`
puts it back from that record alone: after a normal stop, from a watchdog process when the owner
dies (even by SIGKILL), and at the next start.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from subprocess import Popen

from ccupgrade.testbed import hostrecord, processes
from ccupgrade.testbed.binaries import BinariesError, cache_dir, ensure_binaries, repo_root
from ccupgrade.testbed.image import Docker, ImageError, ensure_in_daemon
from ccupgrade.testbed.kindimage import ensure_kind, ensure_node_image, hack_dir

CLUSTER = "cce-upgrade"  # the name the install documentation uses
RUN_DIR = Path("/run/ccupgrade-kind")
SOCKET = RUN_DIR / "docker.sock"
DOCKER_HOST = f"unix://{SOCKET}"
CGROUP_PARENT = "ccupgrade-kind"
NETWORK = "kind"  # kind's own network name, created here first so we choose its bridge and subnet
BRIDGE = "ccup-kind0"
SUBNET = "10.219.0.0/24"
NFT_TABLE = ("inet", "ccupgrade_kind")
REQUIRED_COMMANDS = ("dockerd", "docker", "runc", "jq", "nft", "ip", "debootstrap", "go")


class KindError(RuntimeError):
    """kind cannot run here or did not come up; the message says why and which log to read."""


def _log(message: str) -> None:
    print(f"[kind] {message}", file=sys.stderr, flush=True)


def default_workdir() -> Path:
    """State, logs, kubeconfig and lock of the machine's one test-bed kind cluster."""
    return cache_dir() / "kind"


def data_root() -> Path:
    """Our dockerd's data root: its images (node image, operator, simulator) survive runs."""
    return cache_dir() / "docker-kind"


def missing_prerequisites() -> list[str]:
    """Why kind cannot run here (empty when it can): root, commands, a kernel with overlayfs."""
    reasons = []
    if os.geteuid() != 0:
        reasons.append("not root (kind's node is a privileged container started by our own dockerd)")
    missing = [c for c in REQUIRED_COMMANDS if shutil.which(c) is None]
    if missing:
        reasons.append(f"missing commands: {', '.join(missing)} (run hack/kind/install-packages.sh)")
    return reasons


def _quiet(*args: str, timeout: float = 120) -> bool:
    return subprocess.run(list(args), capture_output=True, check=False, timeout=timeout).returncode == 0


# -- our dockerd -------------------------------------------------------------------------------------


class Daemon(Docker):
    """The test bed's dockerd (one per machine): started if its socket does not answer."""

    def __init__(self, workdir: Path | None = None) -> None:
        super().__init__()
        self.host = DOCKER_HOST
        self.workdir = workdir or default_workdir()

    @property
    def env(self) -> dict[str, str]:
        """The environment kind and docker commands need to use this daemon."""
        return dict(os.environ, DOCKER_HOST=DOCKER_HOST)

    def __enter__(self) -> Daemon:
        if self._answers():
            return self
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        data_root().mkdir(parents=True, exist_ok=True)
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / "dockerd.log").open("ab")
        try:
            # Not tied to our life: when the owner dies the watchdog removes the containers through
            # it first, then stops it.
            self._daemon = Popen(
                [
                    "dockerd",
                    f"--host={DOCKER_HOST}",
                    f"--data-root={data_root()}",
                    f"--exec-root={RUN_DIR / 'exec'}",
                    f"--pidfile={RUN_DIR / 'dockerd.pid'}",
                    "--iptables=false",
                    "--ip-forward=false",
                    "--ip-masq=false",
                    "--bridge=none",
                    "--storage-driver=overlay2",
                    f"--cgroup-parent={CGROUP_PARENT}",
                    "--exec-opt=native.cgroupdriver=cgroupfs",
                    f"--add-runtime=ccupgrade-runc={hack_dir() / 'runc-without-sys-resource'}",
                    "--default-runtime=ccupgrade-runc",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + 60
        while not self._answers():
            if self._daemon.poll() is not None or time.monotonic() > deadline:
                raise KindError(f"dockerd did not start; see {self.workdir / 'dockerd.log'}")
            time.sleep(0.3)
        _log(f"started dockerd (pid {self._daemon.pid}) at {DOCKER_HOST}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Leaves the daemon running: `teardown()` stops it once the cluster is gone."""


def _dockerd_pid() -> int | None:
    try:
        pid = int((RUN_DIR / "dockerd.pid").read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _stop_dockerd() -> bool:
    pid = _dockerd_pid()
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


# -- teardown ------------------------------------------------------------------------------------------


def _cgroup_dirs() -> list[Path]:
    return sorted(p for p in Path("/sys/fs/cgroup").glob(f"*/{CGROUP_PARENT}") if p.is_dir())


def _cgroup_pids() -> set[int]:
    pids: set[int] = set()
    for top in _cgroup_dirs():
        for procs in top.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(p) for p in procs.read_text().split())
    return pids


def _pids_mentioning(needle: str) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if needle.encode() in (entry / "cmdline").read_bytes():
                    found.add(int(entry.name))
    found.discard(os.getpid())
    return found


def _kill_all(pids_of: Callable[[], set[int]], what: str) -> None:
    for _ in range(100):
        pids = pids_of()
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    _log(f"teardown: {what} still has processes: {sorted(pids_of())}")


def _mounts_under(prefixes: list[str]) -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any(point == p or point.startswith(p.rstrip("/") + "/") for p in prefixes):
            points.append(point)
    return sorted(set(points), key=len, reverse=True)


def _no_restarts() -> None:
    """Containers of a dockerd that died keep their restart policy; a restarted daemon would start them."""
    for config in (data_root() / "containers").glob("*/hostconfig.json"):
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(config.read_text())
            data["RestartPolicy"] = {"Name": "no", "MaximumRetryCount": 0}
            config.write_text(json.dumps(data))


def _remove_containers(docker: Docker) -> list[str]:
    """Every container and the kind network of our daemon (kind's volumes with them)."""
    ids = docker("ps", "--all", "--quiet", check=False).stdout.decode().split()
    if ids:
        docker("rm", "--force", "--volumes", *ids, check=False, timeout=180)
    if docker("network", "rm", NETWORK, check=False).returncode == 0:
        ids.append(f"network {NETWORK}")
    return ids


def teardown(workdir: Path) -> list[str]:
    """Removes everything a kind run recorded in `workdir`, and restores the host; safe to repeat."""
    record = hostrecord.HostRecord.load(workdir / "host.json")
    if record is None and _dockerd_pid() is None:
        return []
    _log(f"tearing down the kind run recorded in {workdir}")
    undone: list[str] = []
    if _dockerd_pid() is None and any((data_root() / "containers").glob("*")):
        _no_restarts()
        with contextlib.suppress(KindError, ImageError):
            Daemon(workdir).__enter__()  # to remove what the dead one left, through Docker itself
    if _dockerd_pid() is not None:
        with contextlib.suppress(ImageError, subprocess.TimeoutExpired):
            undone += [f"container {c[:12]}" for c in _remove_containers(Daemon(workdir))]
        if _stop_dockerd():
            undone.append("dockerd")
    _kill_all(_cgroup_pids, "the node's cgroups")
    _kill_all(lambda: _pids_mentioning(str(RUN_DIR)), "dockerd's containerd and shims")
    for point in _mounts_under([str(RUN_DIR), str(data_root())]):
        if _quiet("umount", "-l", point):
            undone.append(f"mount {point}")
    for top in _cgroup_dirs():
        for directory in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()
            undone.append(f"cgroup {top}")
    if record is not None:
        undone += hostrecord.restore(record, (BRIDGE,), NFT_TABLE)
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    (workdir / "host.json").unlink(missing_ok=True)
    _log(f"teardown done: {', '.join(undone) or 'nothing was left'}")
    return undone


# -- the owner-death watchdog ----------------------------------------------------------------------------


def start_watchdog(workdir: Path) -> Popen[bytes]:
    """A detached process that tears kind down once this process dies, however it dies."""
    log = (workdir / "watchdog.log").open("ab")
    try:
        return Popen(
            [sys.executable, "-m", "ccupgrade.testbed.kind", "watchdog", str(workdir), str(os.getpid())],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)),
        )
    finally:
        log.close()


def _watch(workdir: Path, owner: int) -> int:
    try:
        pidfd = os.pidfd_open(owner)
    except ProcessLookupError:
        pidfd = None
    if pidfd is not None:
        select.select([pidfd], [], [])
        os.close(pidfd)
    lock = processes.OwnerLock(workdir)
    lock.acquire(wait=True)  # the owner's lock goes with it; a new owner would have cleaned already
    try:
        owner_file = workdir / "state.json"
        with contextlib.suppress(FileNotFoundError, ValueError):
            if json.loads(owner_file.read_text()).get("owner") == owner:
                _log(f"owner {owner} is gone; cleaning up")
                teardown(workdir)
                owner_file.unlink(missing_ok=True)
    finally:
        lock.release()
    return 0


# -- the cluster ---------------------------------------------------------------------------------------


def _network(docker: Docker) -> None:
    """kind's network, on our bridge and subnet (kind uses one that exists), and the drop rule."""
    if docker("network", "inspect", NETWORK, check=False).returncode != 0:
        docker(
            "network", "create", "--driver", "bridge", "--subnet", SUBNET,
            "--opt", f"com.docker.network.bridge.name={BRIDGE}",
            "--opt", "com.docker.network.bridge.enable_ip_masquerade=false",
            NETWORK,
        )  # fmt: skip
    family, table = NFT_TABLE
    rules = f"""
table {family} {table} {{
  chain forward {{
    type filter hook forward priority -1; policy accept;
    iifname "{BRIDGE}" oifname != "{BRIDGE}" drop
  }}
  chain input {{
    type filter hook input priority -1; policy accept;
    iifname "{BRIDGE}" ip daddr != {SUBNET} drop
    iifname "{BRIDGE}" meta nfproto ipv6 drop
  }}
}}
"""
    subprocess.run(["nft", "delete", "table", *NFT_TABLE], capture_output=True, check=False)
    done = subprocess.run(["nft", "-f", "-"], input=rules, text=True, capture_output=True, check=False)
    if done.returncode != 0:
        raise KindError(f"nft refused the network rule: {done.stderr.strip()}")


def install_page() -> Path:
    """The install documentation whose marked command blocks the tests and the demo execute."""
    return repo_root() / "docs" / "install" / "kind.md"


def documented(step: str) -> str:
    """The shell block after `<!-- step: STEP -->` on the install page, exactly as a reader sees it."""
    text = install_page().read_text()
    marker = f"<!-- step: {step} -->"
    if marker not in text:
        raise KindError(f"{install_page()} has no step {step!r}")
    found = re.match(r"\s*```sh\n(.*?)```", text.split(marker, 1)[1], re.DOTALL)
    if found is None:
        raise KindError(f"step {step!r} of {install_page()} is not followed by a ```sh block")
    return found.group(1)


def run_documented(step: str, env: dict[str, str], timeout: float = 600) -> str:
    """Runs the page's block for `step` with bash (-e: the first failing command fails it); its output."""
    _log(f"running the install page's step {step!r}")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", documented(step)],
        cwd=repo_root(),
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise KindError(f"step {step!r} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done.stdout


class KindCluster(processes.Started):
    """The test bed's kind cluster: images built, cluster created and Ready; `teardown()` undoes it."""

    def __init__(self, workdir: Path | None = None, create: bool = True) -> None:
        self.workdir = workdir or default_workdir()
        self.name = CLUSTER
        self.create_cluster = create
        self.images: list[str] = []
        self.docker = Daemon(self.workdir)
        self.kind: Path | None = None
        self.node_image = ""
        self._lock = processes.OwnerLock(self.workdir)
        self._watchdog: Popen[bytes] | None = None

    @property
    def kubeconfig(self) -> Path:
        """The cluster's admin kubeconfig (never the user's ~/.kube/config)."""
        return self.workdir / "kubeconfig"

    @property
    def env(self) -> dict[str, str]:
        """What `kind`, `docker`, `kubectl` and `helm` need: our daemon, our kubeconfig, kind on PATH."""
        assert self.kind is not None
        from ccupgrade.testbed.tools import ensure_helm

        tools = [self.kind, ensure_binaries().kubectl, ensure_helm()]
        path = os.pathsep.join([*(str(t.parent) for t in tools), os.environ["PATH"]])
        return dict(self.docker.env, KUBECONFIG=str(self.kubeconfig), PATH=path, KIND_NODE_IMAGE=self.node_image)

    def kubectl(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """kubectl against the cluster; KindError with its stderr when it fails."""
        done = subprocess.run(
            ["kubectl", *args], env=self.env, capture_output=True, text=True, check=False, timeout=timeout
        )
        if done.returncode != 0:
            raise KindError(f"kubectl {' '.join(args)}: {done.stderr.strip()[-2000:]}")
        return done

    def start(self) -> None:
        """Daemon, images, network rule, `kind create cluster`, then waits: node, kube-proxy, DNS."""
        reasons = missing_prerequisites()
        if reasons:
            raise KindError(f"cannot run kind here: {'; '.join(reasons)}")
        if not self._lock.acquire():
            raise KindError(
                f"a kind cluster from {self.workdir} is already up (pid {self._lock.owner()}); stop it with "
                "`python -m ccupgrade.testbed kind down`"
            )
        self._lock.claim()
        self.kind = ensure_kind()
        started = time.monotonic()
        teardown(self.workdir)  # whatever a killed earlier owner left, should its watchdog have died too
        hostrecord.record().save(self.workdir / "host.json")
        (self.workdir / "state.json").write_text(json.dumps({"owner": os.getpid()}))
        self._watchdog = start_watchdog(self.workdir)
        self.docker.__enter__()
        self.node_image = ensure_node_image(self.docker)
        self.images = [ensure_in_daemon(self.docker), ensure_in_daemon(self.docker, testkit=True)]
        _log(f"images ready in {time.monotonic() - started:.0f}s: {self.node_image} {' '.join(self.images)}")
        _network(self.docker)
        if self.create_cluster:
            self.create()
            _log(f"cluster {self.name} ready in {time.monotonic() - started:.0f}s")

    def create(self) -> None:
        """The install page's `kind create cluster` (our node image), then the waits a test needs."""
        started = time.monotonic()
        self.kubeconfig.unlink(missing_ok=True)
        run_documented("create", self.env)
        _log(f"kind create cluster: {time.monotonic() - started:.0f}s")
        wait_ready(self.kubectl)
        _log(f"node Ready, kube-proxy and CoreDNS rolled out: {time.monotonic() - started:.0f}s")

    def stop(self) -> None:
        """Deletes the cluster and restores the host; leaves a cluster it does not own alone."""
        if not self._lock.held:
            return
        teardown(self.workdir)
        (self.workdir / "state.json").unlink(missing_ok=True)
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()
            self._watchdog = None
        self._lock.release()


def cluster_alive() -> bool:
    """Whether the kind node container of our daemon is running (an `up` exits when it is gone)."""
    done = subprocess.run(
        ["docker", "-H", DOCKER_HOST, "ps", "--quiet", "--filter", f"label=io.x-k8s.kind.cluster={CLUSTER}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0 and bool(done.stdout.strip())


def wait_ready(kubectl: Callable[..., object]) -> None:
    """Node Ready, then kube-proxy, then CoreDNS rolled out: the order each depends on."""
    kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=240s")
    kubectl("-n", "kube-system", "rollout", "status", "daemonset/kube-proxy", "--timeout=240s")
    kubectl("-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=240s")


def main(argv: list[str] | None = None) -> int:
    """`python -m ccupgrade.testbed.kind watchdog WORKDIR OWNER_PID` (started by KindCluster)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 3 and args[0] == "watchdog":
        return _watch(Path(args[1]), int(args[2]))
    print("usage: python -m ccupgrade.testbed.kind watchdog WORKDIR OWNER_PID", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["CLUSTER", "BinariesError", "KindCluster", "KindError", "missing_prerequisites", "teardown"]
