"""Finds or builds the pinned etcd, kube-apiserver and kubectl (and, for the node mode, the node's).

The versions live in `hack/controlplane/go.mod` (checksummed by its go.sum); this module only
reads them, builds once with the local Go toolchain and caches the result keyed by version, so a
second run (or CI on a warm machine) starts in seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ASSETS_ENV = "KUBEBUILDER_ASSETS"
CACHE_ENV = "CCUPGRADE_CACHE_DIR"
COMMANDS = ("etcd", "kube-apiserver", "kubectl")
_PACKAGES = {
    "etcd": "go.etcd.io/etcd/server/v3",
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kubectl": "k8s.io/kubernetes/cmd/kubectl",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "kubelet": "k8s.io/kubernetes/cmd/kubelet",
    "kubeadm": "k8s.io/kubernetes/cmd/kubeadm",
    "kube-proxy": "k8s.io/kubernetes/cmd/kube-proxy",
    "pause": "./pause",
}
# The kind node image's extra commands: cached in their own directory, so the fast loopback tests
# never wait for them (a cold build of these is ~10 minutes on 2 cores).
NODE_COMMANDS = ("kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "pause", "kubeadm")
NODE_ASSETS_ENV = "CCUPGRADE_NODE_ASSETS"


class BinariesError(RuntimeError):
    """The binaries are neither given, cached nor buildable; the message says what to do."""


def _executables(directory: Path, names: tuple[str, ...]) -> list[Path]:
    """`directory/name` for each name, in order; BinariesError naming every one missing or not executable."""
    paths = [directory / name for name in names]
    missing = [str(p) for p in paths if not os.access(p, os.X_OK)]
    if missing:
        raise BinariesError(f"missing or not executable: {', '.join(missing)}")
    return paths


@dataclass(frozen=True)
class Binaries:
    """The control plane's commands: etcd, kube-apiserver and kubectl."""

    etcd: Path
    kube_apiserver: Path
    kubectl: Path

    @classmethod
    def in_directory(cls, directory: Path) -> Binaries:
        """The three commands in `directory`; BinariesError if one is missing or not executable."""
        return cls(*_executables(directory, COMMANDS))


def repo_root() -> Path:
    """The checkout this package runs from (the helper module is not shipped in wheels)."""
    return Path(__file__).resolve().parents[3]


def helper_module_dir() -> Path:
    """The Go module (hack/controlplane) whose go.mod pins the control plane's versions."""
    return repo_root() / "hack" / "controlplane"


@dataclass(frozen=True)
class PinnedVersions:
    """The Kubernetes and etcd versions go.mod pins: what a cached build is keyed by."""

    kubernetes: str
    etcd: str

    @property
    def cache_key(self) -> str:
        """The cache directory's name for these versions."""
        return f"k8s-{self.kubernetes}_etcd-{self.etcd}"


def pinned_versions(module_dir: Path | None = None) -> PinnedVersions:
    """The versions hack/controlplane/go.mod pins; BinariesError if it pins none."""
    text = (module_dir or helper_module_dir()).joinpath("go.mod").read_text()
    k8s = re.search(r"^\s*k8s\.io/kubernetes\s+(v\S+)", text, re.MULTILINE)
    etcd = re.search(r"^\s*go\.etcd\.io/etcd/server/v3\s+(v\S+)", text, re.MULTILINE)
    if not k8s or not etcd:
        raise BinariesError("hack/controlplane/go.mod does not pin k8s.io/kubernetes and etcd server")
    return PinnedVersions(kubernetes=k8s.group(1), etcd=etcd.group(1))


def cache_dir() -> Path:
    """Where builds and downloads are cached: $CCUPGRADE_CACHE_DIR, else ~/.cache/ccupgrade (XDG)."""
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ccupgrade"
    )
    return Path(base)


def _log(message: str) -> None:
    print(f"[testbed] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class NodeBinaries:
    """The kind node's commands, built from the same pinned `k8s.io/kubernetes` as the control plane."""

    kube_controller_manager: Path
    kube_scheduler: Path
    kubelet: Path
    kube_proxy: Path
    pause: Path
    kubeadm: Path

    @classmethod
    def in_directory(cls, directory: Path) -> NodeBinaries:
        """The node commands in `directory`; BinariesError if one is missing or not executable."""
        return cls(*_executables(directory, NODE_COMMANDS))


def build(
    versions: PinnedVersions, target: Path, module_dir: Path | None = None, commands: tuple[str, ...] = COMMANDS
) -> Binaries:
    """Builds the three commands into `target`; atomic, so an interrupted build is never cached."""
    _build_commands(versions, target, module_dir, commands)
    return Binaries.in_directory(target)


def _build_commands(versions: PinnedVersions, target: Path, module_dir: Path | None, commands: tuple[str, ...]) -> None:
    minor = versions.kubernetes.lstrip("v").split(".")[1]
    ldflags = " ".join(
        [
            "-s -w",
            f"-X k8s.io/component-base/version.gitVersion={versions.kubernetes}",
            "-X k8s.io/component-base/version.gitMajor=1",
            f"-X k8s.io/component-base/version.gitMinor={minor}",
        ]
    )
    go_build(
        {name: _PACKAGES[name] for name in commands},
        target,
        module_dir or helper_module_dir(),
        ldflags,
        versions.cache_key,
        f"set {ASSETS_ENV} to a directory holding etcd, kube-apiserver and kubectl",
    )


def go_build(packages: dict[str, str], target: Path, module: Path, ldflags: str, what: str, instead: str) -> None:
    """Builds each `name: package` of `module` (its go.mod pins the versions) into `target/name`.

    Staged and renamed, so an interrupted build is never cached; `what` names the build in logs and
    errors, `instead` says what the user may do when there is no Go toolchain.
    """
    go = shutil.which("go")
    if go is None:
        raise BinariesError(f"no Go toolchain on PATH: install Go, or {instead}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=readonly -buildvcs=false")
    try:
        for name, package in packages.items():
            _log(f"building {name} ({package}) for {what}; minutes on a cold cache")
            subprocess.run(
                [go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(staging / name), package],
                cwd=module,
                env=env,
                check=True,
            )
            _log(f"built {name}")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except subprocess.CalledProcessError as exc:
        raise BinariesError(f"go build failed for {what}: exit {exc.returncode}") from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def ensure_binaries() -> Binaries:
    """The binaries to run: $KUBEBUILDER_ASSETS if set, else the cache, else a fresh build."""
    assets = os.environ.get(ASSETS_ENV)
    if assets:
        return Binaries.in_directory(Path(assets))
    versions = pinned_versions()
    target = cache_dir() / "bin" / versions.cache_key
    try:
        return Binaries.in_directory(target)
    except BinariesError:
        return build(versions, target)


def ensure_node_binaries() -> NodeBinaries:
    """The node mode's commands: $CCUPGRADE_NODE_ASSETS if set, else the cache, else a fresh build."""
    assets = os.environ.get(NODE_ASSETS_ENV)
    if assets:
        return NodeBinaries.in_directory(Path(assets))
    versions = pinned_versions()
    target = cache_dir() / "bin" / f"{versions.cache_key}_node"
    try:
        return NodeBinaries.in_directory(target)
    except BinariesError:
        _build_commands(versions, target, None, NODE_COMMANDS)
        return NodeBinaries.in_directory(target)
