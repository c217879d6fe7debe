"""How many examples a property test draws: its full count in the whole suite (`make test`), a tenth
in the unit tier alone (`make test-unit` sets CCUPGRADE_QUICK_PROPERTIES=1), so that tier stays a
matter of seconds while CI still draws every example."""

from __future__ import annotations

import os

QUICK = os.environ.get("CCUPGRADE_QUICK_PROPERTIES") == "1"


def examples(full: int) -> int:
    """`full`, or a tenth of it (at least 50) for the quick unit tier."""
    return max(50, full // 10) if QUICK else full
