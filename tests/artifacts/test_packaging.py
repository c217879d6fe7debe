"""The operator's wheel (what the image installs) holds the operator only; the simulator, the test
bed and the demo ship as the second distribution, testkit/."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.paths import REPO

pytestmark = pytest.mark.tools

NOT_THE_OPERATOR = ("ccupgrade/simulator/", "ccupgrade/testbed/", "ccupgrade/demo.py")


def _wheel(tmp_path: Path, project: str) -> tuple[list[str], str]:
    """Builds a project's wheel from a clean copy (a checkout's build/ could carry stale modules)."""
    source = tmp_path / "checkout"
    if not source.exists():
        source.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(REPO / name, source / name)
        skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
        shutil.copytree(REPO / "operator", source / "operator", ignore=skip)
        shutil.copytree(REPO / "testkit", source / "testkit")
    out = tmp_path / f"wheels-{project.strip('./') or 'operator'}"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), project],
        cwd=source,
        capture_output=True,
        text=True,
        check=False,
        timeout=280,
    )
    if done.returncode != 0:
        pytest.fail(f"pip wheel {project} failed: {done.stderr[-2000:]}")
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next((archive.read(n).decode() for n in names if n.endswith("entry_points.txt")), "")
    return names, entry_points


def test_the_operators_wheel_holds_no_simulator_test_bed_or_demo(tmp_path: Path) -> None:
    names, entry_points = _wheel(tmp_path, ".")
    assert "ccupgrade/cli.py" in names
    assert "ccupgrade/mirror/core.py" in names
    shipped = [n for n in names if n.startswith(NOT_THE_OPERATOR)]
    assert shipped == []
    assert "simulator" not in entry_points
    assert "testbed" not in entry_points


def test_the_testkit_wheel_holds_them_and_nothing_of_the_operator(tmp_path: Path) -> None:
    names, entry_points = _wheel(tmp_path, "./testkit")
    assert "ccupgrade/simulator/app.py" in names
    assert "ccupgrade/simulator/scenarios/standard.yaml" in names
    assert "ccupgrade/simulator/scenarios/tasks/precheck-failed.yaml" in names  # the task details
    assert "ccupgrade/simulator/task_endpoints.py" in names
    assert "ccupgrade/testbed/kind.py" in names
    assert "ccupgrade/testbed/demo.py" in names
    # Installed beside the operator's wheel, it must not overwrite (or, uninstalled, remove) its files.
    assert [n for n in names if n.startswith("ccupgrade/") and not n.startswith(NOT_THE_OPERATOR)] == []
    assert "ccupgrade-simulator = ccupgrade.simulator.__main__:main" in entry_points
