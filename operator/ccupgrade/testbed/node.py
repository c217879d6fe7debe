"""A real single-node Kubernetes cluster on this machine, for running the operator as Pods.

etcd and kube-apiserver as in the loopback test bed, but set up for in-cluster clients (ServiceAccount
admission, Node+RBAC authorization, the `kubernetes` Service), plus kube-controller-manager,
kube-scheduler, kubelet and kube-proxy from the same pinned Kubernetes release, and containerd, runc
and the standard CNI plugins from Debian's packages. Needs root. See /work/shared/real-node.md for why
each setting below is what it is.

The network rule: the API server is advertised on an address this run creates (a `dummy` interface),
never on the machine's outward interface; the pod and service ranges get blackhole routes, the bridge
does no masquerading and a FORWARD rule drops anything from the pod range that would leave through
another interface. Everything created is recorded in `state.json` first, and `teardown()` removes it
all: on a normal stop, from a watchdog process when the owner dies (even by SIGKILL), or at the next
start.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any

import yaml

from ccupgrade.testbed import processes
from ccupgrade.testbed.binaries import Binaries, NodeBinaries, cache_dir, ensure_binaries, ensure_node_binaries
from ccupgrade.testbed.controlplane import (
    ControlPlane,
    ControlPlaneError,
    base64_file,
    free_port,
    write_kubeconfig,
)
from ccupgrade.testbed.pki import issue_client_pair

NODE_NAME = "ccupgrade-node"
NODE_IP = "10.213.0.1"  # on the dummy interface below; the API server, kubelet and simulator use it
DUMMY = "ccup-node0"  # the node's own interface: `dummy` type, or a port-less bridge
BRIDGE = "ccup-br0"
CLUSTER_CIDR = "10.214.0.0/16"  # every Pod address; blackholed except the node's own subnet
POD_SUBNET = "10.214.0.0/24"
POD_GATEWAY = "10.214.0.1"
SERVICE_CIDR = "10.215.0.0/24"  # ClusterIPs; blackholed (kube-proxy DNATs them before routing)
KUBERNETES_SERVICE_IP = "10.215.0.1"
APISERVER_PORT = 6443
CGROUP_ROOT = "ccupgrade-node"  # the kubelet's --cgroup-root: every Pod process lives under it
FORWARD_CHAIN = "CCUP-NODE-FORWARD"
PAUSE_IMAGE = "ccupgrade.local/pause:1"
REQUIRED_COMMANDS = ("containerd", "runc", "ctr", "iptables", "iptables-save", "ip", "conntrack", "mount")
CNI_BIN_DIR = Path("/usr/lib/cni")
_CHAIN_PREFIXES = ("KUBE-", "CNI-", "CCUP-")
_SYSCTLS = ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables")


class NodeError(RuntimeError):
    """The node cannot start here, or did not come up; the message says why and which log to read."""


def _log(message: str) -> None:
    print(f"[node] {message}", file=sys.stderr, flush=True)


def default_workdir() -> Path:
    """Where the node cluster keeps its state and logs (one node per machine)."""
    return cache_dir() / "node"


def missing_prerequisites() -> list[str]:
    """Why a node cannot run on this machine (empty when it can): root, commands, CNI plugins, cgroups."""
    reasons = []
    if os.geteuid() != 0:
        reasons.append("not root")
    missing = [c for c in REQUIRED_COMMANDS if shutil.which(c) is None]
    if missing:
        reasons.append(f"missing commands {', '.join(missing)} (run hack/node/install-packages.sh)")
    if not all((CNI_BIN_DIR / p).exists() for p in ("bridge", "host-local", "portmap", "firewall", "loopback")):
        reasons.append(f"no CNI plugins in {CNI_BIN_DIR} (run hack/node/install-packages.sh)")
    if not Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
        reasons.append("no br_netfilter in this kernel")
    return reasons


def _run(*args: str, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(list(args), capture_output=True, check=False, input=input, timeout=60)
    if check and done.returncode != 0:
        raise NodeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.decode(errors='replace').strip()}")
    return done


def _quiet(*args: str) -> bool:
    """Runs a teardown step; failure is fine (the thing may already be gone)."""
    return subprocess.run(list(args), capture_output=True, check=False, timeout=60).returncode == 0


# -- the state record --------------------------------------------------------------------------------


@dataclass
class State:
    """What a run changed on the machine, written before it changes it, so anyone can undo it."""

    workdir: Path
    owner: int
    sysctls: dict[str, str]
    forward_policy: str
    netns_before: list[str]

    @property
    def path(self) -> Path:
        """Where the state is written (in the work directory, for `node down` and the watchdog)."""
        return self.workdir / "state.json"

    def save(self) -> None:
        """Writes the state atomically, before the run changes what it records."""
        data = {
            "owner": self.owner,
            "sysctls": self.sysctls,
            "forwardPolicy": self.forward_policy,
            "netnsBefore": self.netns_before,
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.path)

    @classmethod
    def load(cls, workdir: Path) -> State | None:
        """The state a run left in `workdir`; None if there is none (or it is unreadable)."""
        try:
            data = json.loads((workdir / "state.json").read_text())
        except (FileNotFoundError, ValueError):
            return None
        return cls(
            workdir,
            int(data.get("owner", 0)),
            dict(data.get("sysctls", {})),
            str(data.get("forwardPolicy", "ACCEPT")),
            list(data.get("netnsBefore", [])),
        )


def _netns_names() -> list[str]:
    with contextlib.suppress(FileNotFoundError):
        return sorted(os.listdir("/run/netns"))
    return []


def _forward_policy() -> str:
    for line in _run("iptables", "-S", "FORWARD").stdout.decode().splitlines():
        if line.startswith("-P FORWARD "):
            return line.split()[2]
    return "ACCEPT"


# -- teardown ----------------------------------------------------------------------------------------


def _cgroup_dirs() -> list[Path]:
    root = Path("/sys/fs/cgroup")
    found = []
    with contextlib.suppress(FileNotFoundError):
        for controller in root.iterdir():
            if (controller / CGROUP_ROOT).is_dir():
                found.append(controller / CGROUP_ROOT)
    if (root / CGROUP_ROOT).is_dir():  # cgroup v2 (unified) layout
        found.append(root / CGROUP_ROOT)
    return found


def _cgroup_pids() -> set[int]:
    pids: set[int] = set()
    for top in _cgroup_dirs():
        for procs in top.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(p) for p in procs.read_text().split())
    return pids


def _pids_mentioning(needle: str) -> set[int]:
    """Processes whose command line names `needle` (containerd's shims carry our socket path)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if needle.encode() in (entry / "cmdline").read_bytes():
                    found.add(int(entry.name))
    found.discard(os.getpid())
    return found


def _kill_all(pids_of: Any, what: str, rounds: int = 50) -> None:
    for _ in range(rounds):
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
    with contextlib.suppress(FileNotFoundError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if any(point == p or point.startswith(p.rstrip("/") + "/") for p in prefixes):
                points.append(point)
    return sorted(set(points), key=len, reverse=True)


def _remove_chains() -> None:
    """Every iptables chain named KUBE-*, CNI-* or CCUP-*, and every rule that jumps to one."""
    for table in ("filter", "nat", "mangle"):
        done = _run("iptables-save", "-t", table, check=False)
        if done.returncode != 0:
            continue
        chains: list[str] = []
        for line in done.stdout.decode().splitlines():
            if line.startswith(":") and line[1:].startswith(_CHAIN_PREFIXES):
                chains.append(line[1:].split()[0])
            elif line.startswith("-A ") and not line.split()[1].startswith(_CHAIN_PREFIXES):
                words = line.split()
                jumps = any(
                    words[i] in ("-j", "-g") and words[i + 1].startswith(_CHAIN_PREFIXES) for i in range(len(words) - 1)
                )
                # The rule as iptables-save wrote it (comments quoted), turned from -A into -D.
                if jumps and not _quiet("iptables", "-t", table, "-D", *shlex.split(line)[1:]):
                    _log(f"teardown: could not delete rule in {table}: {line}")
        for chain in chains:
            _quiet("iptables", "-t", table, "-F", chain)
        for chain in chains:
            _quiet("iptables", "-t", table, "-X", chain)


def teardown(workdir: Path) -> list[str]:
    """Removes everything a node run recorded in `workdir`; safe to repeat, safe after a crash."""
    state = State.load(workdir)
    if state is None:
        return []
    _log(f"tearing down the node recorded in {workdir}")
    undone = []
    # Stop the kubelet first, so it restarts nothing, then every Pod process, then the runtime.
    for name in ("kubelet", "kube-proxy", "kube-scheduler", "kube-controller-manager"):
        if processes.kill_from_pid_file(workdir / f"{name}.pid", grace=5):
            undone.append(name)
    _kill_all(_cgroup_pids, "the Pods' cgroups")
    if processes.kill_from_pid_file(workdir / "containerd.pid", grace=5):
        undone.append("containerd")
    socket = str(workdir / "containerd" / "containerd.sock")
    _kill_all(lambda: _pids_mentioning(socket), "containerd's shims")
    for name in ("kube-apiserver", "etcd"):
        if processes.kill_from_pid_file(workdir / f"{name}.pid", grace=5):
            undone.append(name)
    for netns in sorted(set(_netns_names()) - set(state.netns_before)):
        if netns.startswith("cni-") and _quiet("ip", "netns", "delete", netns):
            undone.append(f"netns {netns}")
    for point in _mounts_under([str(workdir), "/run/netns/cni-"]):
        if _quiet("umount", "-l", point):
            undone.append(f"mount {point}")
    for cached in Path("/var/lib/cni/results").glob("ccupgrade-*"):  # libcni's cache, named after our network
        cached.unlink(missing_ok=True)
        undone.append(f"CNI cache {cached.name}")
    for link in (BRIDGE, DUMMY):
        if _quiet("ip", "link", "delete", link):
            undone.append(f"link {link}")
    for cidr in (CLUSTER_CIDR, SERVICE_CIDR):
        if _quiet("ip", "route", "delete", "blackhole", cidr):
            undone.append(f"route {cidr}")
    _remove_chains()
    _quiet("iptables", "-P", "FORWARD", state.forward_policy)
    for key, value in state.sysctls.items():
        with contextlib.suppress(OSError):
            Path("/proc/sys", key).write_text(value)
    for top in _cgroup_dirs():
        for directory in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()
    state.path.unlink(missing_ok=True)
    _log(f"teardown done: {', '.join(undone) or 'nothing was left'}")
    return undone


# -- the owner-death watchdog --------------------------------------------------------------------------


def start_watchdog(workdir: Path) -> Popen[bytes]:
    """A detached process that tears the node down once this process dies, however it dies."""
    log = (workdir / "watchdog.log").open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "ccupgrade.testbed.node", "watchdog", str(workdir), str(os.getpid())],
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
        state = State.load(workdir)
        if state is not None and state.owner == owner:
            _log(f"owner {owner} is gone; cleaning up")
            teardown(workdir)
    finally:
        lock.release()
    return 0


# -- the cluster ---------------------------------------------------------------------------------------


class NodeControlPlane(ControlPlane):
    """kube-apiserver for in-cluster clients, on the run-made node address."""

    address = NODE_IP

    def __init__(self, workdir: Path, binaries: Binaries | None = None) -> None:
        super().__init__(workdir, binaries)
        self.apiserver_port = APISERVER_PORT

    def serving_names(self) -> list[str]:
        """The node address, the `kubernetes` Service IP and its DNS name: what in-cluster clients dial."""
        return [NODE_IP, KUBERNETES_SERVICE_IP, "kubernetes.default.svc.cluster.local"]

    def apiserver_args(self) -> list[str]:
        """kube-apiserver's flags for a real node: on the node address, with ServiceAccounts and kubelets."""
        pki = self.pki
        return [
            str(self.binaries.kube_apiserver),
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            f"--bind-address={NODE_IP}",
            f"--advertise-address={NODE_IP}",
            f"--secure-port={APISERVER_PORT}",
            f"--cert-dir={self.workdir / 'apiserver-certs'}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--kubelet-client-certificate={pki.admin_cert}",
            f"--kubelet-client-key={pki.admin_key}",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            # Reach the kubelet (logs, exec) at the node's address: its name would go to DNS, off the machine.
            "--kubelet-preferred-address-types=InternalIP",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--v=1",
        ]


class NodeCluster(processes.Started):
    """The whole single-node cluster. Use as a context manager; `teardown()` undoes it all."""

    def __init__(self, workdir: Path | None = None, images: list[Path] | None = None) -> None:
        self.workdir = workdir or default_workdir()
        self.images = images or []
        self._lock = processes.OwnerLock(self.workdir)
        self._watchdog: Popen[bytes] | None = None
        self._processes: dict[str, Popen[bytes]] = {}
        self.plane: NodeControlPlane | None = None
        self.binaries: Binaries | None = None
        self.node_binaries: NodeBinaries | None = None

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig of the node cluster."""
        return self.workdir / "kubeconfig"

    @property
    def kubectl(self) -> Path:
        """The pinned kubectl (after `start()`)."""
        assert self.binaries is not None
        return self.binaries.kubectl

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, timeout: float = 180.0) -> None:
        """Brings up the whole node (network, control plane, containerd, kubelet, proxy) until it is Ready."""
        reasons = missing_prerequisites()
        if reasons:
            raise NodeError(f"cannot run a node here: {'; '.join(reasons)}")
        self.binaries = ensure_binaries()
        self.node_binaries = ensure_node_binaries()
        if not self._lock.acquire():
            raise NodeError(
                f"a node cluster from {self.workdir} is already running (pid {self._lock.owner()}); "
                "stop it with `python -m ccupgrade.testbed node down` (one node per machine)"
            )
        self._lock.claim()
        started = time.monotonic()
        teardown(self.workdir)  # whatever a killed earlier owner left, should its watchdog have died too
        self._clean_workdir()
        State(
            self.workdir,
            os.getpid(),
            {k: Path("/proc/sys", k).read_text().strip() for k in _SYSCTLS},
            _forward_policy(),
            _netns_names(),
        ).save()
        self._watchdog = start_watchdog(self.workdir)
        self._network()
        self.plane = NodeControlPlane(self.workdir, self.binaries)
        self.plane.start(timeout)
        self._component_credentials()
        self._start_containerd()
        self._import_images()
        self._start_controllers()
        self._start_kubelet()
        self._start_proxy()
        self._wait_node_ready(timeout)
        _log(f"node {NODE_NAME} Ready at {self.plane.url} after {time.monotonic() - started:.0f}s")

    def stop(self) -> None:
        """Stops what this run started and undoes its changes to the machine; leaves a node it does not own."""
        if not self._lock.held:
            return  # never ours (another run owns the node): touch nothing of it
        for name in reversed(list(self._processes)):
            processes.stop(self._processes.pop(name), self.workdir / f"{name}.pid", grace=5)
        if self.plane is not None:
            self.plane.stop()
            self.plane = None
        teardown(self.workdir)
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()
            self._watchdog = None
        self._lock.release()

    def dead_components(self) -> list[str]:
        """Components that exited (an `up` stops when its cluster is stopped underneath it)."""
        dead = [name for name, p in self._processes.items() if p.poll() is not None]
        return dead + (self.plane.dead() if self.plane is not None else ["kube-apiserver"])

    # -- steps -------------------------------------------------------------------------------------

    def _clean_workdir(self) -> None:
        for child in self.workdir.iterdir():
            if child.name in ("lock", "owner.pid"):
                continue
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)

    def _network(self) -> None:
        for route in json.loads(_run("ip", "-j", "route", "show").stdout or b"[]"):
            dst = str(route.get("dst", ""))
            if dst.startswith(("10.213.", "10.214.", "10.215.")):
                raise NodeError(f"this machine already routes {dst}; the node's ranges would collide")
        # A `dummy` interface where the kernel has one; else a bridge with no ports, which holds a local
        # address just as well (some VM kernels are built without the dummy driver).
        if _run("ip", "link", "add", DUMMY, "type", "dummy", check=False).returncode != 0:
            _run("ip", "link", "add", DUMMY, "type", "bridge")
        _run("ip", "addr", "add", f"{NODE_IP}/32", "dev", DUMMY)
        _run("ip", "link", "set", DUMMY, "up")
        # A packet for a Pod or Service address that no rule claims is dropped here, never routed out.
        _run("ip", "route", "add", "blackhole", CLUSTER_CIDR)
        _run("ip", "route", "add", "blackhole", SERVICE_CIDR)
        # Nothing from the Pod range leaves through another interface (the bridge does no masquerade).
        _run("iptables", "-N", FORWARD_CHAIN)
        _run("iptables", "-A", FORWARD_CHAIN, "-s", CLUSTER_CIDR, "!", "-o", BRIDGE, "-j", "DROP")
        _run("iptables", "-A", FORWARD_CHAIN, "-d", CLUSTER_CIDR, "!", "-o", BRIDGE, "-j", "DROP")
        _run("iptables", "-I", "FORWARD", "1", "-j", FORWARD_CHAIN)
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1")
        Path("/proc/sys/net/bridge/bridge-nf-call-iptables").write_text("1")

    def _component_credentials(self) -> None:
        assert self.plane is not None
        pki = self.plane.pki
        ca = base64_file(pki.ca_cert)
        for name, user, group in (
            ("kube-controller-manager", "system:kube-controller-manager", None),
            ("kube-scheduler", "system:kube-scheduler", None),
            ("kubelet", f"system:node:{NODE_NAME}", "system:nodes"),
            ("kube-proxy", "system:kube-proxy", None),
        ):
            cert, key = pki.ca_cert.parent / f"{name}.crt", pki.ca_cert.parent / f"{name}.key"
            issue_client_pair(pki.ca_cert, pki.ca_key, user, group, cert, key)
            write_kubeconfig(
                self.workdir / f"{name}.kubeconfig",
                self.plane.url,
                ca,
                user,
                {"client-certificate": str(cert), "client-key": str(key)},
            )

    def _spawn(self, name: str, args: list[str]) -> None:
        self._processes[name] = processes.spawn(args, self.workdir / f"{name}.log", self.workdir / f"{name}.pid")

    def _check_alive(self) -> None:
        for name, process in self._processes.items():
            if process.poll() is not None:
                log = self.workdir / f"{name}.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise NodeError(f"{name} exited with {process.returncode}; see {log}\n{tail}")

    def _start_containerd(self) -> None:
        base = self.workdir / "containerd"
        cni = self.workdir / "cni"
        (cni / "net.d").mkdir(parents=True, exist_ok=True)
        conflist = {
            "cniVersion": "1.0.0",
            "name": "ccupgrade",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_SUBNET, "gateway": POD_GATEWAY}]],
                        # Routes to Services and the node only, no default: anything else is unreachable.
                        "routes": [{"dst": SERVICE_CIDR}, {"dst": f"{NODE_IP}/32"}],
                        "dataDir": str(cni / "ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
                # dockerd leaves FORWARD at DROP; this plugin lets Pod traffic through explicitly.
                {"type": "firewall"},
            ],
        }
        (cni / "net.d" / "10-ccupgrade.conflist").write_text(json.dumps(conflist, indent=1))
        config = f"""version = 2
root = "{base / "root"}"
state = "{base / "state"}"
[grpc]
  address = "{base / "containerd.sock"}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # root here lacks CAP_SYS_RESOURCE: without this, runc fails setting the pause container's oom_score_adj.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{cni / "net.d"}"
"""
        base.mkdir(parents=True, exist_ok=True)
        (base / "config.toml").write_text(config)
        self._spawn("containerd", ["containerd", "--config", str(base / "config.toml")])
        deadline = time.monotonic() + 60
        while not self._ctr_ok():
            self._check_alive()
            if time.monotonic() > deadline:
                raise NodeError(f"containerd did not answer; see {self.workdir / 'containerd.log'}")
            time.sleep(0.2)

    def _ctr(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        sock = str(self.workdir / "containerd" / "containerd.sock")
        return _run("ctr", "--address", sock, "--namespace", "k8s.io", *args, input=input)

    def _ctr_ok(self) -> bool:
        try:
            self._ctr("version")
        except NodeError:
            return False
        return True

    def _import_images(self) -> None:
        assert self.node_binaries is not None
        pause = self.workdir / "pause.tar"
        pause.write_bytes(pause_image_archive(self.node_binaries.pause))
        for archive in [pause, *self.images]:
            self._ctr("images", "import", str(archive))
            _log(f"imported {archive.name} into containerd")

    def _start_controllers(self) -> None:
        assert self.node_binaries is not None
        assert self.plane is not None
        pki = self.plane.pki
        self._spawn(
            "kube-controller-manager",
            [
                str(self.node_binaries.kube_controller_manager),
                f"--kubeconfig={self.workdir / 'kube-controller-manager.kubeconfig'}",
                f"--authentication-kubeconfig={self.workdir / 'kube-controller-manager.kubeconfig'}",
                f"--authorization-kubeconfig={self.workdir / 'kube-controller-manager.kubeconfig'}",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca_cert}",
                "--use-service-account-credentials=true",
                "--controllers=*,-nodeipam",  # no cloud IPAM: the CNI config holds the node's subnet
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--v=1",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                str(self.node_binaries.kube_scheduler),
                f"--kubeconfig={self.workdir / 'kube-scheduler.kubeconfig'}",
                f"--authentication-kubeconfig={self.workdir / 'kube-scheduler.kubeconfig'}",
                f"--authorization-kubeconfig={self.workdir / 'kube-scheduler.kubeconfig'}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--v=1",
            ],
        )

    def _cgroup_root(self) -> None:
        """The kubelet's --cgroup-root must exist in every hierarchy (cgroup v1) before it starts."""
        root = Path("/sys/fs/cgroup")
        hierarchies = [d for d in root.iterdir() if d.is_dir() and not d.is_symlink()]
        if (root / "cgroup.controllers").exists():  # cgroup v2: one unified hierarchy
            hierarchies = [root]
        for hierarchy in hierarchies:
            mine = hierarchy / CGROUP_ROOT
            mine.mkdir(exist_ok=True)
            for name in ("cpuset.cpus", "cpuset.mems"):  # a new cpuset is empty until given its parent's
                if (mine / name).exists() and not (mine / name).read_text().strip():
                    (mine / name).write_text((hierarchy / name).read_text())

    def _start_kubelet(self) -> None:
        assert self.node_binaries is not None
        assert self.plane is not None
        self._cgroup_root()
        root = self.workdir / "kubelet"
        root.mkdir(parents=True, exist_ok=True)
        resolv = self.workdir / "resolv.conf"
        resolv.write_text("# no name servers: Pods resolve nothing outside (the network rule)\n")
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "failCgroupV1": False,  # kubelet 1.37 refuses cgroup v1 hosts otherwise
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{CGROUP_ROOT}",
            "address": NODE_IP,
            "port": 10250,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": free_port(),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.plane.pki.ca_cert)},
            },
            "authorization": {"mode": "Webhook"},
            "containerRuntimeEndpoint": f"unix://{self.workdir / 'containerd' / 'containerd.sock'}",
            "resolvConf": str(resolv),
            "podLogsDir": str(self.workdir / "pod-logs"),  # not /var/log/pods: everything stays in the workdir
            "clusterDomain": "cluster.local",
            "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "serializeImagePulls": False,
            "rotateCertificates": False,
            "staticPodPath": "",
        }
        (root / "config.yaml").write_text(yaml.safe_dump(config))
        self._spawn(
            "kubelet",
            [
                str(self.node_binaries.kubelet),
                f"--config={root / 'config.yaml'}",
                f"--kubeconfig={self.workdir / 'kubelet.kubeconfig'}",
                f"--root-dir={root}",
                f"--cert-dir={root / 'pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
                "--v=1",
            ],
        )

    def _start_proxy(self) -> None:
        assert self.node_binaries is not None
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.workdir / "kube-proxy.kubeconfig")},
            "mode": "iptables",
            "clusterCIDR": CLUSTER_CIDR,
            "hostnameOverride": NODE_NAME,
            "bindAddress": NODE_IP,
            "healthzBindAddress": f"127.0.0.1:{free_port()}",
            "metricsBindAddress": f"127.0.0.1:{free_port()}",
            "nodePortAddresses": [f"{NODE_IP}/32"],
            # 0 = leave the machine's conntrack sysctls alone.
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        }
        path = self.workdir / "kube-proxy.yaml"
        path.write_text(yaml.safe_dump(config))
        self._spawn("kube-proxy", [str(self.node_binaries.kube_proxy), f"--config={path}", "--v=1"])

    def _wait_node_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            self._check_alive()
            done = subprocess.run(
                [
                    str(self.kubectl),
                    "--kubeconfig",
                    str(self.kubeconfig),
                    "get",
                    "node",
                    NODE_NAME,
                    "-o",
                    "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                ],
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
            )
            last = done.stdout.strip() or done.stderr.strip()
            # Ready for Pods: the node, and the default ServiceAccount (admission refuses Pods without it).
            if last == "True" and self._has_default_service_account():
                return
            time.sleep(0.5)
        raise NodeError(f"node not Ready after {timeout:.0f}s ({last}); see {self.workdir / 'kubelet.log'}")

    def _has_default_service_account(self) -> bool:
        done = subprocess.run(
            [
                str(self.kubectl),
                "--kubeconfig",
                str(self.kubeconfig),
                "-n",
                "default",
                "get",
                "serviceaccount",
                "default",
            ],
            capture_output=True,
            check=False,
            timeout=30,
        )
        return done.returncode == 0


def pause_image_archive(binary: Path, name: str = PAUSE_IMAGE) -> bytes:
    """A `docker save`-format archive of a FROM-scratch image holding only the static pause binary."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tar.gettarinfo(str(binary), arcname="pause")
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        info.mode = 0o755
        with binary.open("rb") as handle:
            tar.addfile(info, handle)
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "ccupgrade testbed: static pause binary"}],
        }
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [name], "Layers": ["layer.tar"]}]).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for member, data in (("layer.tar", layer_bytes), (config_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    """`python -m ccupgrade.testbed.node watchdog WORKDIR OWNER_PID` (started by NodeCluster)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 3 and args[0] == "watchdog":
        return _watch(Path(args[1]), int(args[2]))
    print("usage: python -m ccupgrade.testbed.node watchdog WORKDIR OWNER_PID", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["NODE_IP", "ControlPlaneError", "NodeCluster", "NodeError", "missing_prerequisites", "teardown"]
