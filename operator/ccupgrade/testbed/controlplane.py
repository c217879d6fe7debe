"""etcd + kube-apiserver on loopback: start, wait for /readyz, write kubeconfigs, stop."""

from __future__ import annotations

import base64
import shutil
import socket
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from subprocess import Popen
from typing import Any

import yaml

from ccupgrade.testbed import processes
from ccupgrade.testbed.binaries import Binaries, ensure_binaries
from ccupgrade.testbed.pki import Pki, create_pki


class ControlPlaneError(RuntimeError):
    """The control plane did not come up; the message points at the log to read."""


def free_port() -> int:
    """A loopback TCP port free right now, so parallel control planes do not collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base64_file(path: Path) -> str:
    """A file's bytes in base64, as kubeconfigs embed certificates and keys (`*-data`)."""
    return base64.b64encode(path.read_bytes()).decode()


class ControlPlane(processes.Started):
    """One etcd and one kube-apiserver with RBAC on, all state under `workdir`."""

    def __init__(self, workdir: Path, binaries: Binaries | None = None) -> None:
        self.workdir = workdir
        self.binaries = binaries or ensure_binaries()
        self.etcd_port = free_port()
        self.etcd_peer_port = free_port()
        self.apiserver_port = free_port()
        self._etcd: Popen[bytes] | None = None
        self._apiserver: Popen[bytes] | None = None
        self._pki: Pki | None = None

    #: Where kube-apiserver listens and what it advertises (the node mode uses a run-made address).
    address = "127.0.0.1"

    @property
    def url(self) -> str:
        """kube-apiserver's HTTPS URL."""
        return f"https://{self.address}:{self.apiserver_port}"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig, written once the control plane is up."""
        return self.workdir / "kubeconfig"

    @property
    def pki(self) -> Pki:
        """The certificates and keys of this run; ControlPlaneError before `start()`."""
        if self._pki is None:
            raise ControlPlaneError("the control plane has not been started")
        return self._pki

    def start(self, timeout: float = 120.0) -> None:
        """Starts etcd and kube-apiserver, waits until it is ready and writes the admin kubeconfig."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._pki = create_pki(self.workdir / "pki", self.serving_names())
        self._start_etcd()
        self.start_apiserver(timeout)
        self._write_admin_kubeconfig()

    def _start_etcd(self) -> None:
        data = self.workdir / "etcd-data"
        shutil.rmtree(data, ignore_errors=True)
        client = f"http://127.0.0.1:{self.etcd_port}"
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        self._etcd = processes.spawn(
            [
                str(self.binaries.etcd),
                "--name=testbed",
                f"--data-dir={data}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=testbed={peer}",
                "--unsafe-no-fsync",  # a throwaway test store: durability costs seconds per test
                "--log-level=warn",
            ],
            self.workdir / "etcd.log",
            self.workdir / "etcd.pid",
        )

    def serving_names(self) -> list[str]:
        """Extra names and addresses for the API server's serving certificate."""
        return []

    def apiserver_args(self) -> list[str]:
        """kube-apiserver's flags: node-less, loopback only, no ServiceAccount admission."""
        pki = self.pki
        return [
            str(self.binaries.kube_apiserver),
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.apiserver_port}",
            f"--cert-dir={self.workdir / 'apiserver-certs'}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--authorization-mode=RBAC",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            "--disable-admission-plugins=ServiceAccount",
            "--endpoint-reconciler-type=none",
            "--v=1",
        ]

    def start_apiserver(self, timeout: float = 120.0) -> None:
        """(Re)starts kube-apiserver on the same port, so clients reconnect to the same URL."""
        self._apiserver = processes.spawn(
            self.apiserver_args(),
            self.workdir / "kube-apiserver.log",
            self.workdir / "kube-apiserver.pid",
        )
        self._wait_ready(timeout)

    def dead(self) -> list[str]:
        """Which of etcd and kube-apiserver are not running (an `up` exits when they are stopped)."""
        pairs = (("etcd", self._etcd), ("kube-apiserver", self._apiserver))
        return [name for name, process in pairs if process is None or process.poll() is not None]

    def stop_apiserver(self) -> None:
        """Stops kube-apiserver alone (etcd keeps the data): what the operator does without it, in tests."""
        if self._apiserver is not None:
            processes.stop(self._apiserver, self.workdir / "kube-apiserver.pid")
            self._apiserver = None

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return context

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        context = self._ssl_context()
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            for name, process in (("etcd", self._etcd), ("kube-apiserver", self._apiserver)):
                if process is not None and process.poll() is not None:
                    raise ControlPlaneError(
                        f"{name} exited with {process.returncode}; see {self.workdir / (name + '.log')}"
                    )
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", context=context, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                last_error = str(exc)
            time.sleep(0.25)
        raise ControlPlaneError(
            f"kube-apiserver not ready after {timeout:.0f}s ({last_error}); see {self.workdir / 'kube-apiserver.log'}"
        )

    def _write_admin_kubeconfig(self) -> None:
        pki = self.pki
        user = {"client-certificate-data": base64_file(pki.admin_cert), "client-key-data": base64_file(pki.admin_key)}
        write_kubeconfig(self.kubeconfig, self.url, base64_file(pki.ca_cert), "testbed-admin", user)

    def write_token_kubeconfig(self, path: Path, user_name: str, token: str) -> Path:
        """A kubeconfig that authenticates with a bearer token (a ServiceAccount's, for RBAC tests)."""
        return write_kubeconfig(path, self.url, base64_file(self.pki.ca_cert), user_name, {"token": token})

    def stop(self) -> None:
        """Stops kube-apiserver and etcd; safe to call twice."""
        self.stop_apiserver()
        if self._etcd is not None:
            processes.stop(self._etcd, self.workdir / "etcd.pid")
            self._etcd = None


def write_kubeconfig(path: Path, server: str, ca_data: str, user_name: str, user: dict[str, Any]) -> Path:
    """Writes a one-cluster, one-user kubeconfig to `path` (a user entry as kubeconfig spells it)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "testbed", "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "users": [{"name": user_name, "user": user}],
        "contexts": [{"name": user_name, "context": {"cluster": "testbed", "user": user_name}}],
        "current-context": user_name,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def stop_recorded(workdir: Path) -> list[str]:
    """Stops whatever a previous (detached or killed) run recorded in `workdir`."""
    stopped = []
    for name in ("kube-apiserver", "etcd"):
        if processes.kill_from_pid_file(workdir / f"{name}.pid"):
            stopped.append(name)
    return stopped
