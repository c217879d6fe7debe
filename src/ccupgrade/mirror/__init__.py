"""The pure heart of the operator: (old status, CCE outcome, spec) → (new status, events).

No I/O and no clock reads: `now` comes in as an argument, so every result is reproducible.
"""

from ccupgrade.mirror.core import Mirrored, Observed, PollFailed, mirror
from ccupgrade.mirror.events import EventIntent

__all__ = ["EventIntent", "Mirrored", "Observed", "PollFailed", "mirror"]
