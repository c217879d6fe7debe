"""The pure heart of the operator: (old status, CCE outcome, spec) → (new status, events).

No I/O and no clock reads: `now` comes in as an argument, so every result is reproducible.
Other packages import these names from `ccupgrade.mirror`, never from its modules (an
import-linter contract in pyproject.toml says so).
"""

from ccupgrade.mirror.between import BetweenData, newest_only
from ccupgrade.mirror.conditions import READY, RECONCILING, STALLED
from ccupgrade.mirror.conditions import find as find_condition
from ccupgrade.mirror.core import (
    Mirrored,
    Observed,
    OutageWindows,
    Outcome,
    PollFailed,
    failed,
    mirror,
    refused,
    suspended,
)
from ccupgrade.mirror.event_intents import EventIntent, EventType
from ccupgrade.mirror.insight import ENDED, DetailFailed, DetailKind, Details
from ccupgrade.mirror.insight import wanted as wanted_details
from ccupgrade.mirror.timing import Sample, samples_of

__all__ = [
    "ENDED",
    "READY",
    "RECONCILING",
    "STALLED",
    "BetweenData",
    "DetailFailed",
    "DetailKind",
    "Details",
    "EventIntent",
    "EventType",
    "Mirrored",
    "Observed",
    "OutageWindows",
    "Outcome",
    "PollFailed",
    "Sample",
    "failed",
    "find_condition",
    "mirror",
    "newest_only",
    "refused",
    "samples_of",
    "suspended",
    "wanted_details",
]
