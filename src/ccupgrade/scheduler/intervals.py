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
    """How often each object's cluster is read, as a function of what the stored status says."""

    resync: timedelta = timedelta(minutes=10)
    pending_factor: float = 4.0
    error_cap: float = 300.0
    jitter: float = 0.1
    credential_base: float = 60.0  # first wait after a credential was refused; doubles up to credential_cap
    credential_cap: float = 600.0

    def normal(self, poll_interval: float, status: UpgradeStatus | None) -> float:
        """The interval for the state the status shows, as if the last poll had worked."""
        resync = self.resync.total_seconds()
        phase = status.phase if status else None
        stalled = cond.find(status.conditions, cond.STALLED) if status else None
        if phase in {"Success", "Cancel"}:
            return resync
        if phase == "Pending" or (stalled is not None and stalled.status == cond.T):
            return min(resync, poll_interval * self.pending_factor)
        return poll_interval

    def for_status(self, poll_interval: float, status: UpgradeStatus | None, failures: int) -> float:
        """After `failures` failed polls in a row the wait doubles up to `error_cap`, but it is never
        shorter than the normal interval for the last good state: a cloud API that is failing must
        not get more requests than one that works (a finished object stays at its resync)."""
        normal = self.normal(poll_interval, status)
        if failures <= 0:
            return normal
        return max(normal, min(self.error_cap, poll_interval * 2.0 ** min(failures - 1, 16)))

    def credential_backoff(self, failures: int) -> float:
        """How long a refused credential is left alone: CCE locks an AK/SK after a few bad attempts."""
        return min(self.credential_cap, self.credential_base * 2.0 ** min(max(failures - 1, 0), 16))

    def jittered(self, seconds: float, rng: random.Random | None = None) -> float:
        """± jitter, so objects created together do not poll in lock-step forever."""
        spread = seconds * self.jitter
        return max(0.0, seconds + (rng or random).uniform(-spread, spread))
