"""`simulator.bench.start_simulator` leaves no temporary directory behind."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from ccupgrade.simulator.bench import start_simulator
from ccupgrade.simulator.control import SimulatorControl


def test_the_port_file_directory_is_removed_once_the_simulator_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    process, url = start_simulator([])
    try:
        assert SimulatorControl(url).healthy()
        assert list(tmp_path.iterdir()) == []
    finally:
        process.kill()
        process.wait()
