"""Events the mirror asks for. Each carries a dedupe key so its Kubernetes name is deterministic:
the same transition computed twice (a retry, a restart after a crash) names the same Event.

Names also sort in causal order (`sequence`): listings that order by the one-second
`lastTimestamp` (`kubectl get events --sort-by=.lastTimestamp`, `kubectl describe`, `kubectl
events`) keep the API server's order among ties, and the server lists by name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from ccupgrade.models import Reason

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class EventIntent:
    """An Event the mirror asks for; the I/O layer posts it under `name_for`, so a repeat finds it there."""

    type: EventType
    reason: Reason
    message: str
    dedupe_key: str
    sequence: str = ""  # fixed-width hex; see in_causal_order()

    def name_for(self, object_name: str, object_uid: str) -> str:
        """The Event's name: causal sequence, then a digest of the object, reason and dedupe key (deterministic)."""
        digest = hashlib.sha256(f"{object_uid}\0{self.reason}\0{self.dedupe_key}".encode()).hexdigest()[:20]
        return f"{object_name[:200]}.{self.sequence}{digest}"


def in_causal_order(events: list[EventIntent], since: datetime | None) -> list[EventIntent]:
    """Numbers the events of one poll so their names sort as they are listed (causal order).

    `since` is the latest moment the stored status records (its lastSyncTime or a condition's
    lastTransitionTime), so it is the same when a retry recomputes the same transition, and later
    for every later poll: 14 hex digits of its microseconds, then 2 of the event's position.
    """
    base = 0 if since is None else int(since.timestamp() * 1_000_000)
    return [replace(event, sequence=f"{base:014x}{index:02x}") for index, event in enumerate(events[:256])]
