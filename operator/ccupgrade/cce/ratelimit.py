"""Per-endpoint request gate: a token bucket plus a hold that a 429's Retry-After extends.

Written here rather than taken from a library because both must be one gate: a throttled
endpoint has to stop every caller, not only the one that saw the 429.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class EndpointGate:
    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
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

    def hold_until(self, deadline: float) -> None:
        """No request passes before `deadline` (monotonic seconds)."""
        self._hold_until = max(self._hold_until, deadline)

    @property
    def held_for(self) -> float:
        return max(0.0, self._hold_until - self._clock())

    async def acquire(self) -> None:
        async with self._lock:  # callers queue in order; the one at the head waits for its token
            while True:
                now = self._clock()
                if now < self._hold_until:
                    await self._sleep(self._hold_until - now)
                    continue
                self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await self._sleep((1.0 - self._tokens) / self.rate)


class GateRegistry:
    """One gate per endpoint host, created on first use with the configured rate."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._gates: dict[str, EndpointGate] = {}

    def __call__(self, host: str) -> EndpointGate:
        gate = self._gates.get(host)
        if gate is None:
            gate = self._gates[host] = EndpointGate(self.rate, self.burst)
        return gate
