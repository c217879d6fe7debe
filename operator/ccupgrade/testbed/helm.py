"""Finds or builds the pinned `helm` that the chart tests run.

Same mechanism as the control-plane binaries (`binaries.py`): the version lives in
`hack/helm/go.mod` (checksummed by its go.sum), the build uses the local Go toolchain, and the
result is cached under the same cache directory keyed by version, built atomically so an
interrupted build is never cached. `python -m ccupgrade.testbed.helm` builds it and prints its path.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ccupgrade.testbed.binaries import BinariesError, cache_dir, repo_root

HELM_ENV = "CCUPGRADE_HELM"
_PACKAGE = "helm.sh/helm/v4/cmd/helm"


def module_dir() -> Path:
    return repo_root() / "hack" / "helm"


def pinned_version(directory: Path | None = None) -> str:
    """The helm version go.mod pins (the tag, e.g. v4.3.1)."""
    text = (directory or module_dir()).joinpath("go.mod").read_text()
    found = re.search(r"^\s*(?:require\s+)?helm\.sh/helm/v4\s+(v\S+)", text, re.MULTILINE)
    if not found:
        raise BinariesError("hack/helm/go.mod does not pin helm.sh/helm/v4")
    return found.group(1)


def build(version: str, target: Path, directory: Path | None = None) -> Path:
    """Builds helm into `target/helm` with the version stamped as helm's own Makefile does."""
    go = shutil.which("go")
    if go is None:
        raise BinariesError(f"no Go toolchain on PATH: install Go, or set {HELM_ENV} to a helm binary")
    ldflags = (
        f"-s -w -X helm.sh/helm/v4/internal/version.version={version} -X helm.sh/helm/v4/internal/version.metadata="
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=readonly -buildvcs=false")
    print(f"[testbed] building helm {version} ({_PACKAGE}); a few minutes on a cold cache", file=sys.stderr, flush=True)
    try:
        subprocess.run(
            [go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(staging / "helm"), _PACKAGE],
            cwd=directory or module_dir(),
            env=env,
            check=True,
        )
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except subprocess.CalledProcessError as exc:
        raise BinariesError(f"go build of helm {version} failed: exit {exc.returncode}") from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target / "helm"


def ensure_helm() -> Path:
    """The helm to run: $CCUPGRADE_HELM if set, else the cache, else a fresh build."""
    given = os.environ.get(HELM_ENV)
    if given:
        return Path(given)
    version = pinned_version()
    target = cache_dir() / "bin" / f"helm-{version}"
    if os.access(target / "helm", os.X_OK):
        return target / "helm"
    return build(version, target)


if __name__ == "__main__":
    print(ensure_helm())
