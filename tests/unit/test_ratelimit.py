"""The per-endpoint gate on fake time: the in-flight bound and the Retry-After hold belong to one endpoint."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from ccupgrade.cce.client import CceClient, ClusterTarget
from ccupgrade.cce.credentials import PasswordCredentials, TokenCredentials
from ccupgrade.cce.endpoints import Endpoint
from ccupgrade.cce.errors import EndpointHeld
from ccupgrade.cce.ratelimit import GateRegistry
from tests.support.scheduler_fakes import FakeSession, listing

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


async def test_a_retry_after_holds_the_gate_its_answer_came_through() -> None:
    """CCE at https://cce.example.com:443 passes the gate `cce.example.com` (the Host header); a
    429 from IAM while fetching a token holds IAM's gate, not CCE's."""
    loop = asyncio.get_running_loop()
    throttle = {"cce": 1, "iam": 1}

    def answer(url: str) -> tuple[int, dict[str, str], bytes]:
        which = "iam" if "/v3/auth/tokens" in url else "cce"
        if throttle[which]:
            throttle[which] -= 1
            return 429, {"Retry-After": "30"}, b'{"error_code": "APIGW.0308", "error_msg": "Too many requests"}'
        if which == "iam":
            return 201, {"X-Subject-Token": "tok"}, b"{}"
        return 200, {}, listing(20).encode()

    session = FakeSession(answer)
    client = CceClient(cast(Any, session), gates=GateRegistry(100.0, 100, clock=loop.time))
    endpoint = Endpoint("https://cce.example.com:443", "https://iam.example.com:443")
    await client.list_upgrade_workflows(ClusterTarget(endpoint, "p", "c", TokenCredentials("t")))
    assert [round(t) for t, _ in session.requests] == [0, 30]  # the retry waited the Retry-After out
    session.requests.clear()
    started = loop.time()
    password = ClusterTarget(endpoint, "p", "c", PasswordCredentials("u", "pw", "d"))
    token = ClusterTarget(endpoint, "p", "c", TokenCredentials("t"))
    await asyncio.gather(client.list_upgrade_workflows(password), client.list_upgrade_workflows(token))
    at = {(url.split("/")[2], round(t - started)) for t, url in session.requests}
    assert ("cce.example.com:443", 0) in at  # the token call was not held by IAM's 429
    assert ("iam.example.com:443", 30) in at  # IAM was asked again after its Retry-After
