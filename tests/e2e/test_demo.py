"""The README's first command keeps working: the demo, sped up."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]  # starts its own control plane


def test_demo_runs_an_upgrade_to_success_and_cleans_up() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ccupgrade.testbed.demo", "--speed", "6"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "the upgrade succeeded" in done.stdout
    assert "UpgradeSucceeded" in done.stdout
    leftovers = subprocess.run(["pgrep", "-f", "ccupgrade-demo-"], capture_output=True, text=True, check=False)
    assert leftovers.stdout.strip() == ""
