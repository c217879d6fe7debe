"""The `standard` scenario as the end-to-end and node tests walk it: the moments its workflow
changes at, and the Events one walk from its first moment to its end posts (0 -> 31 -> 46 -> 56)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.e2e.conftest import Env

STEP_MOMENTS = sorted({0, 5, 10, 15, 20, 25, 30, 45, 50, 55})

PATH_EVENTS = Counter(
    {
        "WorkflowDetected": 1,
        "TaskSucceeded": 4,
        "TaskStarted": 1,
        "UpgradeStarted": 1,
        "TaskQueued": 1,
        "UpgradeSucceeded": 1,
    }
)


def seen_at(env: Env, second: float, name: str = "prod", timeout: float = 30) -> dict[str, Any]:
    """The status once the operator has mirrored the scenario at `second` (and CCE was reachable)."""
    env.at(second)
    moment = max(m for m in STEP_MOMENTS if m <= second)
    updated = (datetime.fromisoformat(env.epoch) + timedelta(seconds=moment)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return env.wait_status(
        lambda s: (
            (s.get("workflow") or {}).get("updated") == updated
            and next(c for c in s["conditions"] if c["type"] == "Ready")["reason"] != "CloudAPIUnavailable"
        ),
        name,
        timeout,
        f"second {second}",
    )
