"""Events the mirror asks for. Each carries a dedupe key so its Kubernetes name is deterministic:
the same transition computed twice (a retry, a restart after a crash) names the same Event."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class EventIntent:
    type: EventType
    reason: str
    message: str
    dedupe_key: str

    def name_for(self, object_name: str, object_uid: str) -> str:
        digest = hashlib.sha256(f"{object_uid}\0{self.reason}\0{self.dedupe_key}".encode()).hexdigest()[:20]
        return f"{object_name[:200]}.{digest}"
