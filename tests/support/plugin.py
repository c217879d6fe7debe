"""Running the real `kubectl ccupgrade` plugin: through the real kubectl, which finds it on PATH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.kube import Kube

PLUGIN_DIR = Path(sys.executable).parent  # the venv's bin/, where `pip install` put kubectl-ccupgrade


def plugin_env(kube: Kube, **extra: str) -> dict[str, str]:
    """The environment a user's shell gives kubectl: the plugin and kubectl on PATH, no colour or
    width settings inherited from the test run."""
    assert (PLUGIN_DIR / "kubectl-ccupgrade").exists(), "kubectl-ccupgrade is not installed: run `make venv`"
    env = {k: v for k, v in os.environ.items() if k not in {"NO_COLOR", "FORCE_COLOR", "COLUMNS", "TERM"}}
    kubectl_dir = str(Path(kube.kubectl_path).parent)
    return {
        **env,
        "PATH": f"{PLUGIN_DIR}:{kubectl_dir}:{env.get('PATH', '')}",
        "KUBECONFIG": str(kube.kubeconfig),
        **extra,
    }


def run_plugin(kube: Kube, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`kubectl ccupgrade ARGS`, its output captured (not a terminal); the caller checks the exit code."""
    return subprocess.run(
        [kube.kubectl_path, "ccupgrade", *args],
        env=plugin_env(kube, **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def plugin_ok(kube: Kube, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`run_plugin`, which must succeed (its stderr in the failure)."""
    done = run_plugin(kube, *args, **env)
    assert done.returncode == 0, f"kubectl ccupgrade {' '.join(args)}: {done.stderr}"
    return done
