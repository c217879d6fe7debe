"""Per-endpoint request gate: a token bucket, a hold that a 429's Retry-After extends, and a bound
on the requests in flight.

Written here rather than taken from a library because all three must be one gate: a throttled
endpoint has to stop every caller, not only the one that saw the 429, and an endpoint that is
throttled or never answers may tie up only its own requests, never another endpoint's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# A wait is never shorter than this: a clock with coarse resolution would otherwise wake before
# the deadline, again and again, without moving.
_MIN_WAIT = 0.001


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
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(self.burst)
        self._updated = clock()
        self._hold_until = 0.0
        self._lock = asyncio.Lock()
        self._in_flight = asyncio.Semaphore(max(1, max_in_flight))

    def hold_until(self, deadline: float) -> None:
        """No request passes before `deadline` (monotonic seconds)."""
        self._hold_until = max(self._hold_until, deadline)

    async def acquire(self) -> None:
        """Waits out any hold, then for a token of the rate; callers are served in order."""
        async with self._lock:  # callers queue in order; the one at the head waits for its token
            while True:
                now = self._clock()
                if now < self._hold_until:
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

    def done(self) -> None:
        """The admitted request has finished (answered, failed or timed out)."""
        self._in_flight.release()


class GateRegistry:
    """One gate per endpoint host, created on first use with the configured rate and bound."""

    def __init__(
        self,
        rate: float = 50.0,
        burst: int = 20,
        max_in_flight: int = 20,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_in_flight = max_in_flight
        self._clock = clock
        self._gates: dict[str, EndpointGate] = {}

    def __call__(self, host: str) -> EndpointGate:
        """The gate of `host`; the same object for every caller."""
        gate = self._gates.get(host)
        if gate is None:
            gate = self._gates[host] = EndpointGate(
                self.rate, self.burst, clock=self._clock, max_in_flight=self.max_in_flight
            )
        return gate
