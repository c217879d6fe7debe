"""The kind command and its node image, built on this machine from pinned sources, with no registry.

kind comes from its Go module (`hack/kind/go.mod`). The node image is a debootstrapped Debian with
systemd, containerd and runc, kind's own base files (from the same kind module), and kubeadm,
kubelet and kubectl from the pinned `k8s.io/kubernetes` the control plane uses. Everything kubeadm
would pull (the control-plane components, etcd, kube-proxy, CoreDNS from its Go module, pause) is
built here as images and imported into the node's containerd, so creating a cluster pulls nothing.

The image is tagged with a digest of every input, so it is built once and rebuilt only when one of
them changes; it lives in the test bed's own Docker data root under ~/.cache/ccupgrade.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ccupgrade.testbed.binaries import (
    BinariesError,
    cache_dir,
    ensure_binaries,
    ensure_node_binaries,
    go_build,
    pinned_versions,
    repo_root,
)

NODE_REPOSITORY = "ccupgrade.local/kind-node"
REGISTRY = "registry.k8s.io"  # the names kubeadm asks containerd for; they are never pulled
# Debian packages of the node (what kind's base image installs, from Debian instead of upstream).
NODE_PACKAGES = (
    "systemd,systemd-sysv,dbus,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,"
    "libseccomp2,pigz,ca-certificates,jq,procps,containerd,runc,containernetworking-plugins,socat,curl"
)
PROXY_PACKAGES = "iptables,nftables,conntrack"
POD_SUBNET = "10.244.0.0/16"  # kind's default; the node's static bridge uses its first /24
# Pulls go nowhere: every registry containerd might be asked for points at a closed loopback port.
_MIRRORED = ("docker.io", "registry.k8s.io", "k8s.gcr.io", "gcr.io", "quay.io", "ghcr.io")


class Docker(Protocol):
    """What the image build needs of a Docker daemon (see `ccupgrade.testbed.kind.Daemon`)."""

    host: str | None

    def __call__(self, *args: str, check: bool = True, **kwargs: object) -> subprocess.CompletedProcess[bytes]: ...


def _log(message: str) -> None:
    print(f"[kind] {message}", file=sys.stderr, flush=True)


def hack_dir() -> Path:
    """hack/kind: the kind pin, the node Dockerfile, the cluster config, the runc wrapper."""
    return repo_root() / "hack" / "kind"


def _module_version(module_dir: Path, module: str) -> str:
    text = (module_dir / "go.mod").read_text()
    found = re.search(rf"^\s*{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    if not found:
        raise BinariesError(f"{module_dir / 'go.mod'} does not pin {module}")
    return found.group(1)


def kind_version() -> str:
    """The kind version hack/kind/go.mod pins."""
    return _module_version(hack_dir(), "sigs.k8s.io/kind")


def coredns_version() -> str:
    """The CoreDNS version hack/coredns/go.mod pins."""
    return _module_version(repo_root() / "hack" / "coredns", "github.com/coredns/coredns")


def ensure_kind() -> Path:
    """The pinned kind command: cached, else built from its Go module (half a minute)."""
    version = kind_version()
    target = cache_dir() / "bin" / f"kind-{version}"
    if not (target / "kind").exists():
        go_build({"kind": "sigs.k8s.io/kind"}, target, hack_dir(), "-s -w", f"kind {version}", "install kind")
    return target / "kind"


def ensure_coredns() -> Path:
    """The pinned CoreDNS: cached, else built from its Go module (two minutes)."""
    version = coredns_version()
    target = cache_dir() / "bin" / f"coredns-{version}"
    if not (target / "coredns").exists():
        module = repo_root() / "hack" / "coredns"
        go_build({"coredns": "github.com/coredns/coredns"}, target, module, "-s -w", f"CoreDNS {version}", "")
    return target / "coredns"


def kind_module_dir() -> Path:
    """kind's module source (its base image files), downloaded by the Go toolchain if needed."""
    done = subprocess.run(
        ["go", "mod", "download", "-json", f"sigs.k8s.io/kind@{kind_version()}"],
        cwd=hack_dir(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BinariesError(f"go mod download sigs.k8s.io/kind failed: {done.stderr[-2000:]}")
    return Path(json.loads(done.stdout)["Dir"])


def _digest_files(digest: hashlib._Hash, root: Path, paths: list[Path]) -> None:
    for path in paths:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())


def node_image_tag() -> str:
    """`ccupgrade.local/kind-node:<kubernetes>-<digest of every input>`."""
    root = repo_root()
    digest = hashlib.sha256()
    inputs = [
        root / "hack/controlplane/go.mod",
        root / "hack/controlplane/go.sum",
        root / "hack/controlplane/pause/main.go",
        root / "hack/coredns/go.mod",
        root / "hack/coredns/go.sum",
        root / "hack/kind/go.mod",
        root / "hack/kind/go.sum",
        root / "hack/kind/node.Dockerfile",
        root / "hack/kind/import-rootfs.sh",
        Path(__file__),
    ]
    _digest_files(digest, root, inputs)
    return f"{NODE_REPOSITORY}:{pinned_versions().kubernetes}-{digest.hexdigest()[:12]}"


@dataclass(frozen=True)
class ComponentImage:
    """One image kubeadm (or the node) asks containerd for, built FROM a base with one binary."""

    name: str  # as kubeadm names it, e.g. registry.k8s.io/kube-apiserver:v1.37.2
    binary: Path
    path: str  # where the binary goes in the image
    base: str = "scratch"
    entrypoint: tuple[str, ...] = ()
    user: str = ""


def _component_images(kubeadm: Path, version: str, proxy_base: str) -> list[ComponentImage]:
    """The images `kubeadm config images list` names, mapped to the binaries built here."""
    listed = subprocess.run(
        [str(kubeadm), "config", "images", "list", "--kubernetes-version", version],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    control = ensure_binaries()
    node = ensure_node_binaries()
    binaries = {
        "kube-apiserver": control.kube_apiserver,
        "kube-controller-manager": node.kube_controller_manager,
        "kube-scheduler": node.kube_scheduler,
        "kube-proxy": node.kube_proxy,
        "etcd": control.etcd,
        "coredns": ensure_coredns(),
        "pause": node.pause,
    }
    images = []
    for name in listed:
        component = name.rsplit("/", 1)[1].split(":")[0]
        if component not in binaries:
            raise BinariesError(f"kubeadm asks for {name}, which this build does not make")
        if component == "coredns":
            images.append(ComponentImage(name, binaries[component], "/coredns", entrypoint=("/coredns",)))
        elif component == "pause":
            images.append(ComponentImage(name, binaries[component], "/pause", entrypoint=("/pause",), user="65535"))
        elif component == "kube-proxy":  # it programs iptables: it needs the iptables commands
            images.append(ComponentImage(name, binaries[component], "/usr/local/bin/kube-proxy", base=proxy_base))
        else:
            images.append(ComponentImage(name, binaries[component], f"/usr/local/bin/{component}"))
    return images


def _build_component(docker: Docker, image: ComponentImage, scratch: Path) -> None:
    context = scratch / image.name.replace("/", "_").replace(":", "_")
    context.mkdir()
    shutil.copy(image.binary, context / "binary")
    lines = [
        f"FROM {image.base}",
        f"COPY binary {image.path}",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ]
    if image.entrypoint:
        lines.append(f"ENTRYPOINT {json.dumps(list(image.entrypoint))}")
    if image.user:
        lines.append(f"USER {image.user}")
    (context / "Dockerfile").write_text("\n".join(lines) + "\n")
    docker("build", "--network", "none", "--tag", image.name, str(context), env=_buildkit_off())


def _buildkit_off() -> dict[str, str]:
    return dict(os.environ, DOCKER_BUILDKIT="0")


def _import_rootfs(docker: Docker, name: str, packages: str) -> None:
    """A debootstrapped base image `name`, unless the daemon has it already (cached with the daemon)."""
    if docker("image", "inspect", name, check=False).returncode == 0:
        return
    started = time.monotonic()
    _log(f"making {name} with debootstrap (a minute or two)")
    env = _buildkit_off()
    if docker.host:
        env["DOCKER_HOST"] = docker.host
    done = subprocess.run(
        [str(hack_dir() / "import-rootfs.sh"), name, packages], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BinariesError(f"import-rootfs.sh {name} failed: {done.stderr[-3000:]}")
    _log(f"{name} made in {time.monotonic() - started:.0f}s")


def _containerd_config(kind_config: str, pause: str) -> str:
    """kind's containerd config with our pause image and every registry pointed at loopback."""
    config = kind_config.replace('sandbox_image = "registry.k8s.io/pause:3.10"', f'sandbox_image = "{pause}"')
    if pause not in config:
        raise BinariesError("kind's containerd config no longer names its sandbox image as expected")
    mirrors = "".join(
        f'[plugins."io.containerd.grpc.v1.cri".registry.mirrors."{host}"]\n  endpoint = ["http://127.0.0.1:1"]\n'
        for host in _MIRRORED
    )
    return config + "\n# No registry is ever reached: pulls go to a closed loopback port.\n" + mirrors


_BRIDGE_CONFLIST = {
    "cniVersion": "0.4.0",
    "name": "ccupgrade-kind",
    "plugins": [
        {
            "type": "bridge",
            "bridge": "cni0",
            "isGateway": True,
            "ipMasq": False,
            "hairpinMode": True,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]},
        },
        {"type": "portmap", "capabilities": {"portMappings": True}},
        {"type": "firewall"},
    ],
}
# kind applies /kind/manifests/default-cni.yaml (kindnetd, pulled from a registry) unless the
# config disables it; a single node needs no overlay, so the image brings a static bridge and this
# manifest only records that, so the same cluster config works with kind's own node images too.
_DEFAULT_CNI = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: ccupgrade-node-cni
  namespace: kube-system
data:
  note: "This node image uses a static bridge (/etc/cni/net.d/10-ccupgrade-bridge.conflist); no CNI Pods."
"""


def _node_context(scratch: Path, pause: str) -> Path:
    """The node image's build context: kind's base files, the three binaries, our extras."""
    context = scratch / "node"
    kind_files = kind_module_dir() / "images" / "base" / "files"
    shutil.copytree(kind_files, context / "kind", ignore=shutil.ignore_patterns("LICENSES"))
    config = context / "kind/etc/containerd/config.toml"
    config.chmod(0o644)
    config.write_text(_containerd_config(config.read_text(), pause))
    for path in (context / "kind").rglob("*"):  # the module cache is read-only
        path.chmod(path.stat().st_mode | 0o200)
    bins = context / "bin"
    bins.mkdir()
    node = ensure_node_binaries()
    for binary in (node.kubeadm, node.kubelet, ensure_binaries().kubectl):
        shutil.copy(binary, bins / binary.name)
    extra = context / "extra"
    (extra / "etc/cni/net.d").mkdir(parents=True)
    (extra / "etc/cni/net.d/10-ccupgrade-bridge.conflist").write_text(json.dumps(_BRIDGE_CONFLIST, indent=1))
    (extra / "kind/manifests").mkdir(parents=True)
    (extra / "kind/manifests/default-cni.yaml").write_text(_DEFAULT_CNI)
    (extra / "kind/version").write_text(pinned_versions().kubernetes)
    shutil.copy(hack_dir() / "node.Dockerfile", context / "Dockerfile")
    return context


def _preload(docker: Docker, built: str, archive: Path, tag: str) -> None:
    """Imports the component images into the node's containerd (/var/lib/containerd), then commits."""
    name = f"ccupgrade-preload-{tag.rsplit(':', 1)[1]}"
    docker("rm", "--force", name, check=False)
    docker("run", "--detach", "--name", name, "--network", "none", "--entrypoint", "sleep", built, "infinity")
    try:
        docker("cp", str(archive), f"{name}:/images.tar")
        docker("exec", "--detach", name, "containerd")
        deadline = time.monotonic() + 60
        while docker("exec", name, "ctr", "version", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise BinariesError("containerd in the preload container did not start")
            time.sleep(0.5)
        docker(
            "exec", name, "ctr", "-n", "k8s.io", "images", "import", "--all-platforms", "--no-unpack", "--digests",
            "/images.tar",
        )  # fmt: skip
        listed = docker("exec", name, "ctr", "-n", "k8s.io", "images", "list", "-q").stdout.decode()
        _log(f"preloaded: {' '.join(sorted(n for n in listed.split() if not n.startswith('sha256')))}")
        docker("exec", name, "sh", "-c", "pkill containerd; while pgrep containerd >/dev/null; do sleep 0.2; done")
        docker("exec", name, "rm", "-rf", "/images.tar", "/run/containerd", "/tmp/*")
        docker(
            "commit",
            "--change", 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',
            "--change", "CMD []",
            name, tag,
        )  # fmt: skip
    finally:
        docker("rm", "--force", name, check=False)


def ensure_node_image(docker: Docker, rebuild: bool = False) -> str:
    """The node image's tag in `docker`: there already, else built (minutes cold, seconds cached)."""
    tag = node_image_tag()
    if not rebuild and docker("image", "inspect", tag, check=False).returncode == 0:
        return tag
    started = time.monotonic()
    node = ensure_node_binaries()
    version = pinned_versions().kubernetes
    script = (hack_dir() / "import-rootfs.sh").read_bytes()
    key = hashlib.sha256(script + NODE_PACKAGES.encode() + PROXY_PACKAGES.encode()).hexdigest()[:12]
    base, proxy_base = f"ccupgrade.local/kind-base:{key}", f"ccupgrade.local/kind-proxy-base:{key}"
    _import_rootfs(docker, base, NODE_PACKAGES)
    _import_rootfs(docker, proxy_base, PROXY_PACKAGES)
    components = _component_images(node.kubeadm, version, proxy_base)
    pause = next(c.name for c in components if "/pause:" in c.name)
    with tempfile.TemporaryDirectory(prefix="ccupgrade-kind-image-", dir=cache_dir()) as tmp:
        scratch = Path(tmp)
        for component in components:
            _build_component(docker, component, scratch)
        archive = scratch / "images.tar"
        docker("save", "--output", str(archive), *(c.name for c in components))
        built = f"{base}-node"
        docker(
            "build", "--network", "none", "--tag", built, "--build-arg", f"BASE_IMAGE={base}",
            str(_node_context(scratch, pause)), env=_buildkit_off(),
        )  # fmt: skip
        _preload(docker, built, archive, tag)
    for old in docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", NODE_REPOSITORY).stdout.decode().split():
        if old != tag:
            docker("image", "rm", old, check=False)
    _log(f"node image {tag} built in {time.monotonic() - started:.0f}s")
    return tag
