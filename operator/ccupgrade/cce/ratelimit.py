"""Per-endpoint request gate: a token bucket, a hold that a 429's Retry-After extends, and a bound
on the requests in flight.

Written here rather than taken from a library because all three must be one gate: a throttled
endpoint has to stop every caller, not only the one that saw the 429, and an endpoint that is
throttled or never answers may tie up only its own requests, never another endpoint's.

Both waits a Retry-After causes are bounded: the hold itself (`max_hold`: an answer asking for an
hour must not freeze every cluster on the endpoint for an hour), and a caller's wait for it
(`max_wait`): a caller that would wait longer fails at once with `EndpointHeld`, a transient
error its objects' conditions show, instead of waiting without a word.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from ccupgrade.cce.errors import EndpointHeld

# A wait is never shorter than this: a clock with coarse resolution would otherwise wake before
# the deadline, again and again, without moving.
_MIN_WAIT = 0.001
MAX_HOLD = 300.0  # s: the longest a Retry-After closes an endpoint (the longest error backoff, too)
MAX_WAIT = 60.0  # s: the longest a request waits for a hold to end (the client's max_retry_after)


class EndpointGate:
    """One endpoint's admission: its rate and burst, a Retry-After hold, and its requests in flight."""

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_in_flight: int = 20,
        max_hold: float = MAX_HOLD,
        max_wait: float = MAX_WAIT,
        name: str = "the endpoint",
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.name = name
        self.max_hold = max_hold
        self.max_wait = max_wait
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(self.burst)
        self._updated = clock()
        self._hold_until = 0.0
        self._lock = asyncio.Lock()
        self._in_flight = asyncio.Semaphore(max(1, max_in_flight))
        self._admitted = 0  # requests between admit() and done()

    def hold_until(self, deadline: float) -> None:
        """No request passes before `deadline` (this gate's clock), or `max_hold` from now if sooner."""
        self._hold_until = max(self._hold_until, min(deadline, self._clock() + self.max_hold))

    def hold_for(self, seconds: float) -> None:
        """No request passes for `seconds` (a Retry-After), at most `max_hold`."""
        self.hold_until(self._clock() + seconds)

    @property
    def held_for(self) -> float:
        """Seconds until the hold ends (0.0 if there is none)."""
        return max(0.0, self._hold_until - self._clock())

    async def acquire(self) -> None:
        """Waits out a hold that ends within `max_wait`, then for a token of the rate; callers are
        served in order. A hold that ends later raises `EndpointHeld` at once: waiting would only
        take the caller past its limit without a request sent."""
        deadline = self._clock() + self.max_wait
        async with self._lock:  # callers queue in order; the one at the head waits for its token
            while True:
                now = self._clock()
                if now < self._hold_until:
                    if self._hold_until > deadline:
                        raise EndpointHeld(
                            f"throttled: CCE asked for a pause (Retry-After) on {self.name} that outlasts "
                            f"a request's {self.max_wait:g}s wait for it; no request sent",
                            retry_after=self._hold_until - now,
                        )
                    await self._sleep(max(_MIN_WAIT, self._hold_until - now))
                    continue
                self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await self._sleep(max(_MIN_WAIT, (1.0 - self._tokens) / self.rate))

    async def admit(self) -> None:
        """Waits for a token (and any hold), then for a free in-flight place; pair with `done()`.

        The token comes first, so a request waiting out a Retry-After or the rate holds no place."""
        await self.acquire()
        await self._in_flight.acquire()
        self._admitted += 1

    def done(self) -> None:
        """The admitted request has finished (answered, failed or timed out)."""
        self._admitted -= 1
        self._in_flight.release()

    @property
    def idle(self) -> bool:
        """Nothing waits or runs here and no hold is pending: dropping it loses nothing."""
        return not self._lock.locked() and self._admitted == 0 and self.held_for == 0.0


class GateRegistry:
    """One gate per endpoint host, created on first use with the configured rate and bound."""

    def __init__(
        self,
        rate: float = 50.0,
        burst: int = 20,
        max_in_flight: int = 20,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_hold: float = MAX_HOLD,
        max_wait: float = MAX_WAIT,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_in_flight = max_in_flight
        self.max_hold = max_hold
        self.max_wait = max_wait
        self._clock = clock
        self._gates: dict[str, EndpointGate] = {}
        self._unused: set[str] = set()  # forgotten while busy: dropped once idle

    def forget(self, host: str) -> None:
        """No poll uses `host` any more: its gate goes once it is idle (a pending Retry-After hold
        is kept until it has passed, so a re-created gate cannot send early)."""
        self._unused.add(host)
        self._drop_idle()

    def _drop_idle(self) -> None:
        for host in [h for h in self._unused if (gate := self._gates.get(h)) is None or gate.idle]:
            self._unused.discard(host)
            self._gates.pop(host, None)

    def __call__(self, host: str) -> EndpointGate:
        """The gate of `host`; the same object for every caller."""
        self._unused.discard(host)
        gate = self._gates.get(host)
        if gate is None:
            self._drop_idle()  # the gates forgotten while busy, now that a gate is made anyway
            gate = self._gates[host] = EndpointGate(
                self.rate,
                self.burst,
                clock=self._clock,
                max_in_flight=self.max_in_flight,
                max_hold=self.max_hold,
                max_wait=self.max_wait,
                name=host,
            )
        return gate
