"""A status write answered 404: KubeIO reads the object to tell "gone" (the scheduler forgets it)
from "there, but the write was refused" (a CRD without the status subresource), which must not
make the operator drop an object that exists."""

from __future__ import annotations

from typing import Any

import pytest

from ccupgrade.kube.api import api_error
from ccupgrade.kube.io import KubeIO
from ccupgrade.mirror import PollFailed, failed
from ccupgrade.models.watched import Watched
from ccupgrade.scheduler import ObjectGone
from tests.support.mirror_walk import T0

BODY: dict[str, Any] = {
    "metadata": {"name": "a", "namespace": "ns", "uid": "uid-a", "generation": 1, "resourceVersion": "7"},
    "spec": {
        "region": "ap-southeast-1",
        "projectId": "p",
        "clusterId": "c",
        "credentialsSecretRef": {"name": "s"},
    },
}


class _Api:
    """Stands in for KubeApi: every status PATCH answers `patch_status`; a GET answers `stored`."""

    def __init__(self, patch_status: int, stored: dict[str, Any] | None) -> None:
        self.patch_status = patch_status
        self.stored = stored
        self.gets = 0

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        raise api_error(self.patch_status, "{}")

    async def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        self.gets += 1
        if self.stored is None:
            raise api_error(404, "{}")
        return self.stored


def _result() -> Any:
    return failed(None, PollFailed(True, "CloudAPIUnavailable", "down"), 1, T0)


@pytest.mark.parametrize(
    "stored",
    [None, {**BODY, "metadata": {**BODY["metadata"], "uid": "uid-new"}}],
    ids=["deleted", "re-created"],
)
async def test_a_404_confirmed_by_a_read_is_object_gone(stored: dict[str, Any] | None) -> None:
    api = _Api(404, stored)
    kube = KubeIO(api)
    with pytest.raises(ObjectGone):
        await kube.publish(Watched.from_body(BODY), _result())
    assert api.gets == 1


async def test_a_404_on_an_object_that_exists_is_refused_not_gone(caplog: pytest.LogCaptureFixture) -> None:
    api = _Api(404, BODY)
    kube = KubeIO(api)
    assert await kube.publish(Watched.from_body(BODY), _result()) is None
    assert "although the object exists" in caplog.text


async def test_a_conflict_whose_reread_finds_nothing_is_object_gone() -> None:
    api = _Api(409, None)
    kube = KubeIO(api)
    with pytest.raises(ObjectGone):
        await kube.publish(Watched.from_body(BODY), _result())
