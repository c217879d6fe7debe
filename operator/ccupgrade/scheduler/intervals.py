"""How long until the next poll: fast while an upgrade moves, slow when it is over, backing off on errors."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import timedelta

from ccupgrade.mirror import conditions as cond
from ccupgrade.models.resource import UpgradeStatus

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """A Go duration string (`30s`, `1m30s`, `1.5h`) in seconds; ValueError when it is not one."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a duration like 30s, 5m or 1h30m")
    return float(sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts))


@dataclass(frozen=True)
class IntervalPolicy:
    resync: timedelta = timedelta(minutes=10)
    pending_factor: float = 4.0
    error_cap: float = 300.0
    jitter: float = 0.1

    def for_status(self, poll_interval: float, status: UpgradeStatus | None, failures: int) -> float:
        resync = self.resync.total_seconds()
        if failures > 0:
            return min(self.error_cap, poll_interval * 2.0 ** min(failures - 1, 16))
        phase = status.phase if status else None
        stalled = cond.find(status.conditions, cond.STALLED) if status else None
        if phase in {"Success", "Cancel"}:
            return resync
        if phase == "Pending" or (stalled is not None and stalled.status == cond.T):
            return min(resync, poll_interval * self.pending_factor)
        return poll_interval

    def jittered(self, seconds: float, rng: random.Random | None = None) -> float:
        """± jitter, so objects created together do not poll in lock-step forever."""
        spread = seconds * self.jitter
        return max(0.0, seconds + (rng or random).uniform(-spread, spread))
