"""The simulator's control API answers a caller's mistake with 400 and a reason, never with a 500."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.cce.conftest import CLUSTER, PROJECT, Sim

BAD_BODIES = [
    pytest.param(b"[]", id="bare-empty-list"),
    pytest.param(b'[{"kind": "status"}]', id="bare-list-of-faults"),
    pytest.param(b'"status"', id="string"),
    pytest.param(b"{", id="not-json"),
]


async def _call(sim: Sim, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, f"{sim.url}/_sim{path}", data=body, headers={"Content-Type": "application/json"}
        ) as response,
    ):
        return response.status, await response.json()


@pytest.mark.parametrize("body", BAD_BODIES)
@pytest.mark.parametrize("path", ["/faults", f"/clusters/{PROJECT}/{CLUSTER}/faults"])
async def test_faults_document_that_is_not_an_object_is_a_400(sim: Sim, path: str, body: bytes) -> None:
    status, answer = await _call(sim, "PUT", path, body)
    assert status == 400, answer
    assert "invalid faults document" in answer["error"]
    assert not sim.state.global_faults.faults
    assert not sim.state.faults.get((PROJECT, CLUSTER), None)


async def test_faults_document_with_an_unknown_field_or_bad_fault_is_a_400(sim: Sim) -> None:
    for body in (b'{"fault": []}', b'{"faults": [{"kind": "earthquake"}]}', b'{"faults": {"kind": "status"}}'):
        status, answer = await _call(sim, "PUT", "/faults", body)
        assert status == 400, (body, answer)
    status, answer = await _call(sim, "PUT", "/faults", b'{"faults": [{"kind": "status", "times": 1}]}')
    assert (status, answer) == (200, {"faults": 1})


@pytest.mark.parametrize("body", BAD_BODIES)
@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", f"/clusters/{PROJECT}/other-cluster"), ("POST", f"/clusters/{PROJECT}/{CLUSTER}/time"), ("POST", "/time")],
)
async def test_other_control_documents_that_are_not_objects_are_a_400(
    sim: Sim, method: str, path: str, body: bytes
) -> None:
    status, answer = await _call(sim, method, path, body)
    assert status == 400, answer
    assert answer["error"]


async def test_bad_values_in_control_documents_are_a_400(sim: Sim) -> None:
    status, _ = await _call(sim, "PUT", f"/clusters/{PROJECT}/other-cluster", b'{"speed": "fast"}')
    assert status == 400
    status, _ = await _call(sim, "POST", f"/clusters/{PROJECT}/{CLUSTER}/time", b'{"advance": "later"}')
    assert status == 400
    status, _ = await _call(sim, "POST", f"/clusters/{PROJECT}/{CLUSTER}/time", b'{"advance": 5}')
    assert status == 200
