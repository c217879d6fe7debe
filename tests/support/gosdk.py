"""Builds (once, cached) the tiny Go program in hack/gosdk that calls CCE through the official Go SDK.

The SDK version is pinned by hack/gosdk/go.mod and checksummed by its go.sum; the binary is cached
under the same directory as the control-plane binaries (~/.cache/ccupgrade/bin), keyed by the SDK
version and a hash of the module's files, so a warm machine reuses it and a changed pin rebuilds.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ccupgrade.testbed.binaries import cache_dir
from tests.cce.conftest import AK, CLUSTER, PROJECT, SK
from tests.support.paths import REPO

MODULE = REPO / "hack" / "gosdk"
PROGRAM = "cce-list-workflows"
SDK = "github.com/huaweicloud/huaweicloud-sdk-go-v3"


class GoSdkUnavailable(RuntimeError):
    """Neither a cached build nor a Go toolchain to make one."""


def sdk_version() -> str:
    found = re.search(rf"^\s*(?:require\s+)?{re.escape(SDK)}\s+(v\S+)", (MODULE / "go.mod").read_text(), re.MULTILINE)
    if found is None:
        raise GoSdkUnavailable(f"hack/gosdk/go.mod does not pin {SDK}")
    return found.group(1)


def cache_key() -> str:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update(name.encode() + b"\0" + (MODULE / name).read_bytes() + b"\0")
    return f"gosdk-{sdk_version()}-{digest.hexdigest()[:12]}"


def ensure_program() -> Path:
    """The built program: from the cache, else built now (a minute or two on a cold module cache)."""
    target = cache_dir() / "bin" / cache_key()
    program = target / PROGRAM
    if os.access(program, os.X_OK):
        return program
    go = shutil.which("go")
    if go is None:
        raise GoSdkUnavailable("no Go toolchain on PATH to build hack/gosdk (the official Go SDK client)")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-gosdk-", dir=target.parent))
    try:
        subprocess.run(
            [go, "build", "-trimpath", "-ldflags", "-s -w", "-o", str(staging / PROGRAM), "."],
            cwd=MODULE,
            env=dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=readonly -buildvcs=false"),
            check=True,
            timeout=900,
        )
        try:
            staging.rename(target)
        except OSError:  # a parallel run cached it first: use theirs
            if not os.access(program, os.X_OK):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return program


async def run_call(program: Path, url: str, call: str, task: str = "") -> tuple[int, dict[str, Any]]:
    """Runs one call of the Go SDK program against the simulator at `url`: its exit code and JSON answer."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUAWEICLOUD_SDK_") and "proxy" not in k.lower()}
    env.update(HUAWEICLOUD_SDK_AK=AK, HUAWEICLOUD_SDK_SK=SK, HUAWEICLOUD_SDK_PROJECT_ID=PROJECT)
    process = await asyncio.create_subprocess_exec(
        str(program),
        "-endpoint",
        url,
        "-cluster",
        CLUSTER,
        "-call",
        call,
        "-task",
        task,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert stdout, f"no output from the Go SDK program; stderr: {stderr.decode()[-2000:]}"
    return int(process.returncode or 0), json.loads(stdout.decode().strip().splitlines()[-1])
