"""When a failed Kubernetes write is tried again: status writes (`writes.Writer`) and Event posts
(`events.EventStage`) back off alike."""

from __future__ import annotations

import random

RETRY_BASE = 1.0  # s before the first retry
RETRY_CAP = 60.0  # s between retries at most


def retry_delay(failures: int, rng: random.Random) -> float:
    """Seconds before retrying a failed Kubernetes write: 1, 2, 4… up to 60 s, jittered by half."""
    ceiling = min(RETRY_CAP, RETRY_BASE * 2.0 ** min(failures - 1, 16))
    return rng.uniform(ceiling / 2, ceiling)
