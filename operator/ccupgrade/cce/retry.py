"""When a failed CCE call is tried again within one poll, and after how long.

Only what can heal by itself (5xx, timeouts, dropped connections, 429) is retried, a bounded
number of times with full-jitter backoff. A 429's Retry-After closes the endpoint's gate for every
caller; one longer than `max_retry_after` is raised, not slept in a call.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ccupgrade.cce.errors import Throttled, TransientError
from ccupgrade.cce.ratelimit import EndpointGate


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with full jitter; a Retry-After is waited out by the endpoint's gate."""

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_retry_after: float = 60.0

    def delay(self, error: TransientError, attempt: int, gate: EndpointGate) -> float | None:
        """Seconds to sleep before retry number `attempt` (1-based), or None to give up and raise."""
        if isinstance(error, Throttled) and error.retry_after is not None:
            # Every caller of this endpoint waits, not only this one (for at most the gate's max_hold).
            gate.hold_for(error.retry_after)
            if error.retry_after > self.max_retry_after or attempt > self.max_retries:
                return None
            return 0.0  # the gate does the waiting
        if attempt > self.max_retries:
            return None
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)  # full jitter: retries from many callers spread out
