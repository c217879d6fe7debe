"""Keeps the benchmark from rotting: a tiny run of both designs end to end (figures not judged)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]  # starts its own control plane


def test_benchmark_runs_both_designs(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "run.py"),
            "--sizes",
            "10",
            "--windows",
            "2",
            "2",
            "--no-plots",
            "--ceiling-objects",
            "20",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "latest.json").read_text())
    results = {r["design"]: r for r in summary["results"]}
    assert set(results) == {"ours", "naive"}
    assert all(r["cold_start_s"] is not None and r["staleness_s"] for r in results.values())
    assert results["ours"]["quiet_status_writes"] == 0  # counted by the API server, not timed
    # ours' staleness split object by object: first CCE read after the change + read -> status seen
    ours = results["ours"]
    assert len(ours["detection_s"]) == len(ours["delivery_s"]) == len(ours["staleness_s"])
    assert all(seen >= read for seen, read in zip(ours["staleness_s"], ours["detection_s"], strict=True))
    assert results["naive"]["detection_s"] == []  # its ten objects per cluster poll apart
    assert "| ours " in done.stdout
    assert [c["writes"] for c in summary["api_server_write_ceiling"]] == [40, 40]  # 20 status patches + 20 Events
