"""Bad spec input gets InvalidSpec with Stalled=True and a Warning, never a traceback: the schema
rejects what it can, and what it cannot (objects stored under an older schema) is caught in code."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from ccupgrade import crd
from ccupgrade.cce.credentials import TokenCredentials, from_secret_data
from ccupgrade.cce.endpoints import AllowList
from ccupgrade.cce.errors import CredentialsError, InvalidEndpoint
from ccupgrade.mirror.core import failed
from ccupgrade.models.resource import UpgradeSpec
from ccupgrade.models.watched import Watched
from ccupgrade.scheduler.poller import Scheduler, SchedulerConfig, failure_of

SPEC_SCHEMA = crd.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
BASE = {"projectId": "p", "clusterId": "c", "credentialsSecretRef": {"name": "s"}}
OUT_OF_RANGE = [
    "https://x.corp:99999",
    "https://x.corp:65536",
    "https://x.corp:0",
    "http://a..b",
    "http://" + "a" * 64 + ".corp",
]
FINE = [
    "https://x.corp:65535",
    "https://x.corp:1",
    "http://127.0.0.1:8443",
    "https://cce.internal/",
    "https://cce.ap-southeast-1.myhuaweicloud.com",
]


@pytest.mark.parametrize("endpoint", OUT_OF_RANGE)
def test_schema_and_model_reject_bad_ports_and_hosts(endpoint: str) -> None:
    assert not jsonschema.Draft7Validator(SPEC_SCHEMA).is_valid({**BASE, "endpoint": endpoint})
    with pytest.raises(ValidationError):
        UpgradeSpec.model_validate({**BASE, "endpoint": endpoint})


@pytest.mark.parametrize("endpoint", FINE)
def test_schema_and_model_accept_valid_endpoints(endpoint: str) -> None:
    assert jsonschema.Draft7Validator(SPEC_SCHEMA).is_valid({**BASE, "endpoint": endpoint})
    assert UpgradeSpec.model_validate({**BASE, "endpoint": endpoint}).endpoint == endpoint


def test_an_object_stored_under_an_older_schema_is_invalid_spec() -> None:
    body = {
        "metadata": {"name": "x", "namespace": "n", "uid": "u", "generation": 1},
        "spec": {**BASE, "endpoint": "https://x.corp:99999"},
    }
    watched = Watched.from_body(body)
    assert watched.spec is None
    assert watched.spec_error is not None
    assert watched.spec_error.startswith("spec.endpoint")


@pytest.mark.parametrize("endpoint", OUT_OF_RANGE)
def test_allow_list_raises_a_typed_error_not_value_error(endpoint: str) -> None:
    with pytest.raises(InvalidEndpoint, match="spec.endpoint"):
        AllowList.parse("*").custom(endpoint)


def test_invalid_endpoint_maps_to_invalid_spec_stalled_with_a_warning() -> None:
    failure = failure_of(InvalidEndpoint("spec.endpoint 'https://x.corp:99999' is not a valid URL"), "s")
    assert (failure.transient, failure.reason) == (False, "InvalidSpec")
    result = failed(None, failure, 1, datetime(2026, 11, 27, tzinfo=UTC))
    conditions = {c.type: (c.status, c.reason) for c in result.status.conditions}
    assert conditions["Stalled"] == ("True", "InvalidSpec")
    assert conditions["Ready"] == ("False", "InvalidSpec")
    assert [(e.type, e.reason) for e in result.events] == [("Warning", "InvalidSpec")]


class _NoCce:
    async def list_upgrade_workflows(self, target: Any) -> Any:
        raise AssertionError("an invalid endpoint must not be called")


class _Secrets:
    async def credentials(self, namespace: str, secret_name: str) -> Any:
        raise AssertionError("credentials are not read for an invalid endpoint")

    def forget(self, namespace: str, secret_name: str) -> None:
        pass


class _Sink:
    def __init__(self) -> None:
        self.results: list[Any] = []

    async def publish(self, watched: Watched, result: Any) -> Watched | None:
        self.results.append(result)
        return None

    async def post_event(self, ref: Any, event: Any) -> None:
        pass

    async def event_names(self, namespace: str) -> set[str]:
        return set()


async def _first_write(watched: Watched, secrets: Any) -> _Sink:
    """Runs a scheduler over `watched` until it writes a result (2 s at most), then stops it."""
    sink = _Sink()
    scheduler = Scheduler(
        client=_NoCce(), credentials=secrets, sink=sink, config=SchedulerConfig(allow_list=AllowList.parse("*"))
    )
    scheduler.upsert(watched)
    task = asyncio.create_task(scheduler.run())
    for _ in range(100):
        await asyncio.sleep(0.02)
        if sink.results:
            break
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return sink


async def test_endpoint_error_that_passes_the_model_is_invalid_spec_not_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A spec that reached the scheduler with a port out of range (built without validation, as an
    older model version would have accepted it) gives InvalidSpec and logs no traceback."""
    spec = UpgradeSpec.model_validate({**BASE, "endpoint": "https://x.corp"})
    spec = spec.model_copy(update={"endpoint": "https://x.corp:99999"})  # model_copy does not validate
    watched = Watched.from_body(
        {
            "metadata": {"name": "x", "namespace": "n", "uid": "u", "generation": 1},
            "spec": {**BASE, "endpoint": "https://x.corp"},
        }
    )
    watched = dataclasses.replace(watched, spec=spec)
    with caplog.at_level(logging.DEBUG):
        sink = await _first_write(watched, _Secrets())
    assert sink.results, "the scheduler wrote no status"
    stalled = next(c for c in sink.results[0].status.conditions if c.type == "Stalled")
    assert (stalled.status, stalled.reason) == ("True", "InvalidSpec")
    assert "port" in stalled.message.lower() or "Port" in stalled.message
    assert not [r for r in caplog.records if r.exc_info], "no traceback in the log"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"token": "abc\ndef"}, "token"),
        ({"accessKey": "AK\r1", "secretKey": "sk"}, "accessKey"),
        ({"accessKey": "AK", "secretKey": "sk", "securityToken": "st\x00x"}, "securityToken"),
        ({"token": b"\xff\xfe"}, "token"),
    ],
)
def test_secret_values_that_cannot_go_into_a_header_are_invalid_credentials(data: dict[str, Any], key: str) -> None:
    """aiohttp raises a bare ValueError for a control character in a header: it must be a typed error."""
    encoded = {k: v if isinstance(v, bytes) else base64.b64encode(v.encode()).decode() for k, v in data.items()}
    with pytest.raises(CredentialsError, match=key):
        from_secret_data("s", encoded)
    failure = failure_of(CredentialsError(f"Secret key {key!r} contains a control character"), "s")
    assert (failure.transient, failure.reason) == (False, "InvalidCredentials")


def test_a_trailing_line_break_is_still_fine() -> None:
    credentials = from_secret_data("s", {"token": base64.b64encode(b"abc\n").decode()})
    assert credentials == TokenCredentials("abc")


class _NonAsciiSecret(_Secrets):
    """A Secret whose `.data` holds text that is not base64 at all (non-ASCII)."""

    async def credentials(self, namespace: str, secret_name: str) -> Any:
        return from_secret_data(secret_name, {"token": "tökén"})


def test_non_ascii_secret_data_is_invalid_credentials_not_a_value_error() -> None:
    """base64 raises a bare ValueError (not binascii.Error) for non-ASCII text: it must be typed."""
    with pytest.raises(CredentialsError, match="'token' is not valid base64"):
        from_secret_data("s", {"token": "tökén"})


async def test_a_secret_that_cannot_be_decoded_is_invalid_credentials_not_invalid_spec() -> None:
    """The scheduler catches typed errors only: a bad Secret is InvalidCredentials, never a
    ValueError read as a bad spec.endpoint."""
    metadata = {"name": "x", "namespace": "n", "uid": "u", "generation": 1}
    watched = Watched.from_body({"metadata": metadata, "spec": {**BASE, "endpoint": "https://x.corp"}})
    sink = await _first_write(watched, _NonAsciiSecret())
    assert sink.results, "the scheduler wrote no status"
    stalled = next(c for c in sink.results[0].status.conditions if c.type == "Stalled")
    assert (stalled.status, stalled.reason) == ("True", "InvalidCredentials")
    assert "not valid base64" in stalled.message
