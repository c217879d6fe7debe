"""The benchmark's fixed settings: where results go, the simulated project and key, the poll interval."""

from __future__ import annotations

from ccupgrade.testbed.binaries import repo_root

ROOT = repo_root()
RESULTS = ROOT / "bench" / "results"
PROJECT = "be0c000000000000000000000000beef"
AK, SK = "BENCHACCESSKEY000001", "bench-secret-key"
INTERVAL = 5.0
OBJECTS_PER_CLUSTER = 10
