"""How long until the next poll: fast while an upgrade moves, slow when it is over, backing off on errors;
and where in its interval each group polls (its slot), so the polls of many clusters spread evenly."""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from datetime import timedelta

import durationpy

from ccupgrade.mirror import STALLED, find_condition
from ccupgrade.models import DEFAULT_RESYNC, DURATION_PATTERN, ConditionStatus, UpgradeStatus

_DURATION = re.compile(DURATION_PATTERN)
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def parse_duration(text: str) -> float:
    """A Go duration string (`30s`, `1m30s`, `1.5h`) in seconds; ValueError when it is not one.

    The syntax is the CRD's (`DURATION_PATTERN`: ms, s, m and h, no sign), so a flag takes what a
    spec field takes; durationpy does the arithmetic. It alone would also take `1d`, `-5s`, `0` or
    `500us` (tests/unit/test_durations.py lists them).
    """
    problem = ValueError(f"{text!r} is not a duration like 30s, 5m or 1h30m")
    if not _DURATION.fullmatch(text):
        raise problem
    try:
        return float(durationpy.from_str(text).total_seconds())
    except durationpy.DurationError as error:  # out of timedelta's range
        raise problem from error


@dataclass(frozen=True)
class IntervalPolicy:
    """How often each object's cluster is read, as a function of what the stored status says."""

    resync: timedelta = DEFAULT_RESYNC
    pending_factor: float = 4.0
    error_cap: float = 300.0
    jitter: float = 0.1
    credential_base: float = 60.0  # first wait after a credential was refused; doubles up to credential_cap
    credential_cap: float = 600.0

    def normal(self, poll_interval: float, status: UpgradeStatus | None) -> float:
        """The interval for the state the status shows, as if the last poll had worked."""
        resync = self.resync.total_seconds()
        phase = status.phase if status else None
        stalled = find_condition(status.conditions, STALLED) if status else None
        if phase in {"Success", "Cancel"}:
            return resync
        if phase == "Pending" or (stalled is not None and stalled.status == ConditionStatus.TRUE):
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


def slot_phase(index: int) -> float:
    """Where in its interval the `index`-th group polls, as a fraction of the interval.

    The golden-ratio sequence: any number of consecutive groups are spread nearly evenly (their
    gaps take at most three sizes), however many join later. Groups that join together (the first
    listing, an apply of many objects) would otherwise poll together for a long time, and jitter
    alone spreads them only slowly: in a 1,000-object benchmark half the objects were read within
    the same second of the 5 s interval, so a change every cluster made at once was seen in a
    burst that queued its status writes."""
    return (index * _GOLDEN) % 1.0


def next_slot(started: float, now: float, interval: float, phase: float) -> float:
    """The next poll of a group whose polls fall on `phase` (a fraction) of each `interval`.

    The slot nearest to one interval after this poll started, so a poll already on its slot polls
    again exactly one interval later, and one that is not (its first, or after a change of
    interval) moves there by at most half an interval, early or late (no more requests on average
    than a plain interval); never before `now` (a poll whose writes outlasted its slot skips it
    rather than catching up). An interval of 0 (`--resync 0s`) has no slots: now."""
    if interval <= 0:
        return now
    offset = phase * interval
    due = offset + round((started + interval - offset) / interval) * interval
    if due < now:
        due = offset + math.ceil((now - offset) / interval) * interval
    return due
