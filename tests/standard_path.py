"""The `standard` scenario as the end-to-end and node tests walk it: the moments its workflow
changes at, and the Events one walk from its first moment to its end posts (0 -> 31 -> 46 -> 56)."""

from collections import Counter

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
