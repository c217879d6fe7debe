"""KubeIO acts on the API server's answers by their error class: a missing or forbidden Secret, an
Event already posted, a status write to a deleted object or over a moved resourceVersion."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ccupgrade.cce import CredentialsError, SecretNotFound
from ccupgrade.kube.api import KubeApiError, api_error
from ccupgrade.kube.io import KubeIO
from ccupgrade.mirror import Mirrored
from ccupgrade.models import RecordedEvent, UpgradeStatus
from ccupgrade.scheduler.ports import ObjectGone, WriteFailed
from tests.support.scheduler_fakes import FakeApiServer


class _RefusingApi:
    """Stands in for KubeApi: every call answers with `error`, except a GET after the first PATCH
    (the re-read after a 409), which returns `stored`."""

    def __init__(self, error: KubeApiError, stored: dict[str, Any] | None = None) -> None:
        self.error = error
        self.stored = stored
        self.calls: list[str] = []

    async def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        self.calls.append("GET")
        if self.stored is not None and "PATCH" in self.calls:
            return self.stored
        raise self.error

    async def create(self, path: str, body: dict[str, Any]) -> None:
        self.calls.append("POST")
        raise self.error

    async def merge_patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append("PATCH")
        raise self.error


def _error(status: int) -> KubeApiError:
    return api_error(status, '{"kind":"Status","message":"refused"}')


@pytest.mark.parametrize(("status", "raised"), [(404, SecretNotFound), (403, CredentialsError)])
async def test_a_secret_that_is_missing_or_forbidden_is_a_configuration_error(status: int, raised: type) -> None:
    with pytest.raises(raised):
        await KubeIO(_RefusingApi(_error(status))).credentials("ns", "creds")


async def test_another_refusal_of_a_secret_read_is_raised_as_it_came() -> None:
    with pytest.raises(KubeApiError) as caught:
        await KubeIO(_RefusingApi(_error(500))).credentials("ns", "creds")
    assert caught.value.status == 500


def _event() -> RecordedEvent:
    return RecordedEvent(name="a.1", type="Normal", reason="Started", message="m", event_time=datetime.now(UTC))


@pytest.mark.parametrize("status", [409, 404])
async def test_an_event_already_posted_or_without_its_namespace_is_done(status: int) -> None:
    watched = FakeApiServer().apply("a")
    api = _RefusingApi(_error(status))
    await KubeIO(api).post_event(watched.ref, _event())
    assert api.calls == ["POST"]


async def test_an_event_the_server_cannot_take_now_is_retried() -> None:
    watched = FakeApiServer().apply("a")
    with pytest.raises(WriteFailed):
        await KubeIO(_RefusingApi(_error(503))).post_event(watched.ref, _event())


async def test_a_status_write_to_a_deleted_object_is_object_gone_once_a_read_confirms_it() -> None:
    watched = FakeApiServer().apply("a")
    api = _RefusingApi(_error(404))
    result = Mirrored(UpgradeStatus(phase="Running"), changed=True)
    with pytest.raises(ObjectGone):
        await KubeIO(api).publish(watched, result)
    assert api.calls == ["PATCH", "GET"]


async def test_a_status_write_over_a_moved_version_returns_the_object_as_re_read() -> None:
    watched = FakeApiServer().apply("a")
    body = {
        "metadata": {"name": "a", "namespace": "ns", "uid": "uid-a", "generation": 2, "resourceVersion": "99"},
        "spec": {"region": "ap-southeast-1", "projectId": "p", "clusterId": "c", "credentialsSecretRef": {"name": "s"}},
    }
    api = _RefusingApi(_error(409), stored=body)
    stored = await KubeIO(api).publish(watched, Mirrored(UpgradeStatus(phase="Running"), changed=True))
    assert api.calls == ["PATCH", "GET"]
    assert stored is not None
    assert stored.resource_version == "99"
