"""The per-endpoint gate on fake time: the in-flight bound and the Retry-After hold belong to one endpoint."""

from __future__ import annotations

import asyncio

import pytest

from ccupgrade.cce.errors import EndpointHeld
from ccupgrade.cce.ratelimit import GateRegistry

pytestmark = pytest.mark.looptime


async def test_requests_in_flight_are_bounded_per_endpoint_and_a_hold_is_waited_out() -> None:
    loop = asyncio.get_running_loop()
    gates = GateRegistry(100.0, 100, max_in_flight=2, clock=loop.time)
    other = gates("other.example")
    entered: list[tuple[str, float]] = []

    async def request(gate_name: str, seconds: float) -> None:
        gate = gates(gate_name)
        await gate.admit()
        entered.append((gate_name, loop.time()))
        try:
            await asyncio.sleep(seconds)
        finally:
            gate.done()

    hanging = [asyncio.create_task(request("slow.example", 100)) for _ in range(3)]
    await asyncio.sleep(1)
    assert [t for name, t in entered if name == "slow.example"] == [0, 0]  # the third waits for a place
    await request("other.example", 1)  # another endpoint is not affected
    assert ("other.example", 1) in entered

    other.hold_until(loop.time() + 60)  # a Retry-After on the other endpoint...
    waiting = asyncio.create_task(request("other.example", 1))
    await asyncio.sleep(1)
    assert not waiting.done()
    await waiting  # ...is waited out, then the request goes
    assert entered[-1] == ("other.example", 62)
    await asyncio.gather(*hanging)
    assert [t for name, t in entered if name == "slow.example"] == [0, 0, 100]  # never held


async def test_a_long_hold_is_bounded_and_a_caller_it_would_keep_past_its_wait_fails_at_once() -> None:
    loop = asyncio.get_running_loop()
    gate = GateRegistry(100.0, 100, clock=loop.time, max_hold=300, max_wait=60)("held.example")
    gate.hold_for(3600)  # a 429 with Retry-After: 3600
    assert gate.held_for == 300
    with pytest.raises(EndpointHeld, match="throttled") as caught:
        await gate.admit()
    assert loop.time() == 0  # failed at once, without waiting
    assert caught.value.retry_after == 300
    await asyncio.sleep(250)  # 50 s left: within a caller's wait, so it waits and goes
    await gate.admit()
    gate.done()
    assert loop.time() == 300


async def test_callers_queued_behind_a_hold_that_grows_past_their_wait_fail_instead_of_waiting() -> None:
    loop = asyncio.get_running_loop()
    gate = GateRegistry(100.0, 100, clock=loop.time, max_wait=60)("held.example")
    gate.hold_for(30)
    waiting = [asyncio.create_task(gate.acquire()) for _ in range(3)]
    await asyncio.sleep(10)
    gate.hold_for(200)  # another 429, asking for longer, while they wait
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, EndpointHeld) for r in results)
    assert loop.time() <= 30
