"""Builds the operator's container image from the repository's Dockerfile, with no registry.

The base image comes from `hack/image/make-base.sh` (debootstrap + `docker import`), and pip in the
build installs only wheels built here on the host (`--no-index`): pip inside a build cannot be
trusted to reach an index (proxies that intercept TLS, air gaps), and this machine's CA must never be
baked into an image. The result is saved as a `docker save` archive, cached by the hash of what went
into it, so the node mode can load it into containerd without docker running.

When no Docker daemon answers, one is started for the build only, with its own data root and with
its networking off (no bridge, no iptables, no ip_forward change); the build itself runs with
`--network none`, which proves the image installs offline.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ccupgrade.testbed import processes
from ccupgrade.testbed.binaries import cache_dir, repo_root

IMAGE = "cce-upgrade-operator"
TAG = "e2e"  # what the in-cluster tests install (never pulled)
SIMULATOR = "cce-simulator"  # the testkit's image: the CCE simulator as a Pod
BASE_IMAGE = "ccupgrade-base:bookworm"
CONTENT_LABEL = "dev.ccupgrade.content"
_INPUTS = (
    "Dockerfile",
    ".dockerignore",
    "pyproject.toml",
    "README.md",
    "hack/image/make-base.sh",
    "testkit/Dockerfile",
    "testkit/pyproject.toml",
)


class ImageError(RuntimeError):
    """The image could not be built; the message says which step failed and why."""


@dataclass(frozen=True)
class BuiltImage:
    """The image's tag, its `docker save` archive and its uncompressed size in bytes."""

    tag: str
    archive: Path
    size: int


def _log(message: str) -> None:
    print(f"[image] {message}", file=sys.stderr, flush=True)


def content_key(root: Path | None = None) -> str:
    """A hash of every file the image is made from: a change to any of them means a rebuild."""
    root = root or repo_root()
    digest = hashlib.sha256()
    files = [root / name for name in _INPUTS]
    files += sorted(p for p in (root / "operator").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes() if path.exists() else b"-")
    return digest.hexdigest()[:16]


class Docker:
    """A Docker daemon to talk to: the machine's, or one started (and stopped) for this build."""

    def __init__(self) -> None:
        self.host: str | None = None
        self._daemon: subprocess.Popen[bytes] | None = None
        self._run_dir = Path("/run/ccupgrade-docker")

    def __call__(self, *args: str, check: bool = True, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        command = ["docker", *(["-H", self.host] if self.host else []), *args]
        done = subprocess.run(command, capture_output=True, check=False, **kwargs)  # type: ignore[call-overload]
        if check and done.returncode != 0:
            raise ImageError(f"{' '.join(args[:3])} exited {done.returncode}: {done.stderr.decode()[-3000:]}")
        return done  # type: ignore[no-any-return]

    def _answers(self) -> bool:
        return self("version", "--format", "{{.Server.Version}}", check=False, timeout=20).returncode == 0

    def __enter__(self) -> Docker:
        if shutil.which("docker") is None:
            raise ImageError("no docker client: run hack/kind/install-packages.sh")
        if self._answers():
            return self
        if shutil.which("dockerd") is None or os.geteuid() != 0:
            raise ImageError("no Docker daemon answers, and this user cannot start one (needs root and dockerd)")
        self._run_dir.mkdir(parents=True, exist_ok=True)
        data_root = cache_dir() / "docker"
        data_root.mkdir(parents=True, exist_ok=True)
        self.host = f"unix://{self._run_dir / 'docker.sock'}"
        self._daemon = processes.spawn(
            [
                "dockerd",
                f"--host={self.host}",
                f"--data-root={data_root}",
                f"--exec-root={self._run_dir / 'exec'}",
                f"--pidfile={self._run_dir / 'dockerd.pid'}",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--bridge=none",
                "--storage-driver=overlay2",
            ],
            cache_dir() / "dockerd.log",
            self._run_dir / "dockerd.managed-pid",
        )
        deadline = time.monotonic() + 60
        while not self._answers():
            if self._daemon.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise ImageError(f"dockerd did not start; see {cache_dir() / 'dockerd.log'}")
            time.sleep(0.3)
        _log(f"started dockerd (pid {self._daemon.pid}) for this build")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._daemon is not None:
            processes.stop(self._daemon, self._run_dir / "dockerd.managed-pid", grace=20)
            self._daemon = None
            _log("stopped dockerd")


@contextlib.contextmanager
def _wheelhouse(root: Path, testkit: bool = False) -> Iterator[Path]:
    """The operator's wheel (and the testkit's) with their dependencies', built by the host's pip."""
    if sys.version_info[:2] != (3, 11):
        raise ImageError(f"the image runs Python 3.11; wheels built by Python {sys.version.split()[0]} may not fit")
    house = root / ".wheelhouse"
    shutil.rmtree(house, ignore_errors=True)
    house.mkdir()
    try:
        with tempfile.TemporaryDirectory(prefix="ccupgrade-wheel-") as scratch:
            # From a clean copy: setuptools' build/ directory in a checkout can carry stale modules.
            source = Path(scratch) / "checkout"
            source.mkdir()
            for name in ("pyproject.toml", "README.md"):
                shutil.copy(root / name, source / name)
            skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
            shutil.copytree(root / "operator", source / "operator", ignore=skip)
            sources = [str(source)]
            if testkit:
                (source / "testkit").mkdir()
                shutil.copy(root / "testkit" / "pyproject.toml", source / "testkit" / "pyproject.toml")
                sources.append(str(source / "testkit"))
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "wheel",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--wheel-dir",
                    str(house),
                    *sources,
                ],
                capture_output=True,
                check=False,
            )
        if done.returncode != 0:
            raise ImageError(f"pip wheel failed: {done.stderr.decode()[-3000:]}")
        yield house
    finally:
        shutil.rmtree(house, ignore_errors=True)


def _ensure_base(docker: Docker, root: Path) -> None:
    if docker("image", "inspect", BASE_IMAGE, check=False).returncode == 0:
        return
    started = time.monotonic()
    _log(f"making the base image {BASE_IMAGE} with debootstrap (a minute or two)")
    env = dict(os.environ, **({"DOCKER_HOST": docker.host} if docker.host else {}))
    done = subprocess.run(
        [str(root / "hack/image/make-base.sh"), BASE_IMAGE], env=env, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise ImageError(f"make-base.sh failed: {done.stderr.decode()[-3000:]}")
    _log(f"base image made in {time.monotonic() - started:.0f}s")


def _build(docker: Docker, root: Path, tag: str, key: str, testkit: bool) -> None:
    """`docker build` offline from the host-built wheels; the image carries `key` as a label."""
    _ensure_base(docker, root)
    started = time.monotonic()
    project = f"{project_name(root)}-testkit" if testkit else project_name(root)
    with _wheelhouse(root, testkit):
        _log(f"wheelhouse built in {time.monotonic() - started:.0f}s; building {tag}")
        docker(
            "build",
            "--network",
            "none",
            "--tag",
            tag,
            "--label",
            f"{CONTENT_LABEL}={key}",
            *(["--file", str(root / "testkit" / "Dockerfile")] if testkit else []),
            "--build-arg",
            f"BASE_IMAGE={BASE_IMAGE}",
            "--build-arg",
            f"PIP_INSTALL=--no-index --find-links /src/.wheelhouse {project}",
            str(root),
            env=dict(os.environ, DOCKER_BUILDKIT="0"),
        )
    _log(f"{tag} built in {time.monotonic() - started:.0f}s")


def ensure_in_daemon(docker: Docker, testkit: bool = False) -> str:
    """The operator's image (or, with `testkit`, the simulator's) in `docker`, tagged with the version the
    chart and manifests name: there with this content already, else built."""
    root = repo_root()
    key = content_key(root)
    version = project_version(root)
    tag = f"{SIMULATOR}:{version}" if testkit else f"{IMAGE}:{version}"
    found = docker("image", "inspect", "--format", f'{{{{index .Config.Labels "{CONTENT_LABEL}"}}}}', tag, check=False)
    if found.returncode != 0 or found.stdout.decode().strip() != key:
        _build(docker, root, tag, key, testkit)
    return tag


def ensure_image(rebuild: bool = False) -> BuiltImage:
    """The operator's image as a `docker save` archive: cached, else built (base image included)."""
    root = repo_root()
    key = content_key(root)
    images = cache_dir() / "images"
    archive = images / f"{IMAGE}-{key}.tar"
    size_file = archive.with_suffix(".size")
    tag = f"{IMAGE}:{TAG}"
    if archive.exists() and size_file.exists() and not rebuild:
        return BuiltImage(tag, archive, int(size_file.read_text()))
    images.mkdir(parents=True, exist_ok=True)
    with Docker() as docker:
        _build(docker, root, tag, key, testkit=False)
        size = int(docker("image", "inspect", "--format", "{{.Size}}", tag).stdout.decode().strip())
        partial = archive.with_suffix(".partial")
        docker("save", "--output", str(partial), tag)
        for old in images.glob(f"{IMAGE}-*"):
            if old != partial:
                old.unlink(missing_ok=True)
        partial.rename(archive)
        size_file.write_text(str(size))
    _log(f"{tag}: {size / 1e6:.0f} MB, saved to {archive}")
    return BuiltImage(tag, archive, size)


def project_name(root: Path) -> str:
    """The operator's distribution name, from pyproject.toml."""
    import tomllib

    return str(tomllib.loads((root / "pyproject.toml").read_text())["project"]["name"])


def project_version(root: Path) -> str:
    """The operator's version, from pyproject.toml: the image tag the chart and manifests use."""
    import tomllib

    return str(tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"])
