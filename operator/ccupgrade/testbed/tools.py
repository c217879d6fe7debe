"""Finds, builds or fetches the real tools the chart and alert tests run: helm and promtool.

Same mechanism as the control-plane binaries (`binaries.py`): pinned versions, one build or
download, cached under the same cache directory keyed by version, staged and renamed so an
interrupted build is never cached.
- helm: the version lives in `hack/helm/go.mod` (checksummed by its go.sum), built with the local
  Go toolchain as helm's own Makefile does.
- promtool: Debian's `prometheus` package. `apt-get download` + `dpkg-deb -x` (no root, and no
  Prometheus service installed or started); apt verifies the package against the signed archive.
- the Prometheus Operator's CRDs (ServiceMonitor, PrometheusRule), for server-side dry runs: from
  its Go module, which the Go toolchain verifies against the checksum database.
- kstatus: a tiny command (hack/kstatus) around sigs.k8s.io/cli-utils' kstatus library, the status
  rules Flux and kpt apply; its version lives in `hack/kstatus/go.mod` (checksummed by its go.sum).
`python -m ccupgrade.testbed.tools` gets them all and prints where they are.
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
from pathlib import Path

from ccupgrade.testbed.binaries import BinariesError, cache_dir, go_build, repo_root

HELM_ENV = "CCUPGRADE_HELM"
_PACKAGE = "helm.sh/helm/v4/cmd/helm"


def helm_module_dir() -> Path:
    """The Go module (hack/helm) whose go.mod pins helm's version."""
    return repo_root() / "hack" / "helm"


def helm_version(directory: Path | None = None) -> str:
    """The helm version go.mod pins (the tag, e.g. v4.3.1)."""
    text = (directory or helm_module_dir()).joinpath("go.mod").read_text()
    found = re.search(r"^\s*(?:require\s+)?helm\.sh/helm/v4\s+(v\S+)", text, re.MULTILINE)
    if not found:
        raise BinariesError("hack/helm/go.mod does not pin helm.sh/helm/v4")
    return found.group(1)


def build_helm(version: str, target: Path, directory: Path | None = None) -> Path:
    """Builds helm into `target/helm` with the version stamped as helm's own Makefile does."""
    ldflags = (
        f"-s -w -X helm.sh/helm/v4/internal/version.version={version} -X helm.sh/helm/v4/internal/version.metadata="
    )
    go_build(
        {"helm": _PACKAGE},
        target,
        directory or helm_module_dir(),
        ldflags,
        f"helm {version}",
        f"set {HELM_ENV} to a helm binary",
    )
    return target / "helm"


def ensure_helm() -> Path:
    """The helm to run: $CCUPGRADE_HELM if set, else the cache, else a fresh build."""
    given = os.environ.get(HELM_ENV)
    if given:
        return Path(given)
    version = helm_version()
    target = cache_dir() / "bin" / f"helm-{version}"
    if os.access(target / "helm", os.X_OK):
        return target / "helm"
    return build_helm(version, target)


KSTATUS_ENV = "CCUPGRADE_KSTATUS"
_KSTATUS_MODULE = "sigs.k8s.io/cli-utils"


def kstatus_module_dir() -> Path:
    """The Go module (hack/kstatus) whose go.mod pins cli-utils' version."""
    return repo_root() / "hack" / "kstatus"


def kstatus_version(directory: Path | None = None) -> str:
    """The cli-utils version go.mod pins (the tag, e.g. v0.37.2)."""
    text = (directory or kstatus_module_dir()).joinpath("go.mod").read_text()
    found = re.search(rf"^\s*(?:require\s+)?{re.escape(_KSTATUS_MODULE)}\s+(v\S+)", text, re.MULTILINE)
    if not found:
        raise BinariesError(f"hack/kstatus/go.mod does not pin {_KSTATUS_MODULE}")
    return found.group(1)


def ensure_kstatus() -> Path:
    """The kstatus command: $CCUPGRADE_KSTATUS if set, else the cache, else a fresh build.

    Keyed by the cli-utils version and a digest of the module's files (its main.go is ours), so
    an edited command or a changed pin builds again."""
    given = os.environ.get(KSTATUS_ENV)
    if given:
        return Path(given)
    module = kstatus_module_dir()
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update(name.encode() + b"\0" + (module / name).read_bytes() + b"\0")
    target = cache_dir() / "bin" / f"kstatus-{kstatus_version(module)}-{digest.hexdigest()[:12]}"
    if not os.access(target / "kstatus", os.X_OK):
        go_build({"kstatus": "."}, target, module, "-s -w", "kstatus", f"set {KSTATUS_ENV} to a kstatus binary")
    return target / "kstatus"


PROMTOOL_ENV = "CCUPGRADE_PROMTOOL"
PROMETHEUS_PACKAGE = "prometheus"


def ensure_promtool() -> Path:
    """promtool: $CCUPGRADE_PROMTOOL, else on PATH, else extracted from Debian's package into the cache."""
    given = os.environ.get(PROMTOOL_ENV) or shutil.which("promtool")
    if given:
        return Path(given)
    apt_get, dpkg_deb = shutil.which("apt-get"), shutil.which("dpkg-deb")
    if apt_get is None or dpkg_deb is None:
        raise BinariesError(f"no promtool: install Debian's `{PROMETHEUS_PACKAGE}` package or set {PROMTOOL_ENV}")
    base = cache_dir() / "bin"
    cached = sorted(base.glob("prometheus-*/usr/bin/promtool"))
    if cached:
        return cached[-1]
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=base))
    print(f"[testbed] fetching promtool (Debian package {PROMETHEUS_PACKAGE})", file=sys.stderr, flush=True)
    try:
        subprocess.run([apt_get, "download", "-q", PROMETHEUS_PACKAGE], cwd=staging, check=True)
        (deb,) = staging.glob("*.deb")
        version = deb.name.split("_")[1]
        subprocess.run([dpkg_deb, "-x", str(deb), str(staging / "root")], check=True)
        target = base / f"prometheus-{version}"
        if target.exists():
            shutil.rmtree(target)
        (staging / "root").rename(target)
    except (subprocess.CalledProcessError, ValueError) as exc:
        raise BinariesError(f"could not fetch Debian's {PROMETHEUS_PACKAGE} package: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / "usr" / "bin" / "promtool"


PROMETHEUS_OPERATOR = "github.com/prometheus-operator/prometheus-operator"
PROMETHEUS_OPERATOR_VERSION = "v0.85.0"
PROMETHEUS_OPERATOR_SUM = "h1:M5xLCLEoaW2IJfnuCwFzzpL+jSVQu3KGT84Pye+fW8s="


def monitoring_crds() -> list[Path]:
    """The ServiceMonitor and PrometheusRule CRDs of the pinned Prometheus Operator release."""
    go = shutil.which("go")
    if go is None:
        raise BinariesError("no Go toolchain on PATH to fetch the Prometheus Operator's CRDs")
    done = subprocess.run(
        [go, "mod", "download", "-json", f"{PROMETHEUS_OPERATOR}@{PROMETHEUS_OPERATOR_VERSION}"],
        cwd=tempfile.gettempdir(),
        env=dict(os.environ, GOFLAGS="-mod=mod"),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BinariesError(f"go mod download {PROMETHEUS_OPERATOR}: {done.stdout.strip()} {done.stderr.strip()}")
    info = json.loads(done.stdout)
    if info.get("Sum") != PROMETHEUS_OPERATOR_SUM:
        raise BinariesError(f"{PROMETHEUS_OPERATOR} {PROMETHEUS_OPERATOR_VERSION}: checksum {info.get('Sum')}")
    crds = Path(info["Dir"]) / "example" / "prometheus-operator-crd"
    return [crds / f"monitoring.coreos.com_{plural}.yaml" for plural in ("servicemonitors", "prometheusrules")]


if __name__ == "__main__":
    print(ensure_helm())
    print(ensure_kstatus())
    print(ensure_promtool())
    print(*monitoring_crds(), sep="\n")
