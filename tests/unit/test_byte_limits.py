"""Strings meet the API server's limits in BYTES: a CCE answer in Chinese makes an Event message
that fits 1,024 bytes, cut on a character boundary, wherever it is made or posted."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ccupgrade.cce.errors import classify
from ccupgrade.kube.io import KubeIO
from ccupgrade.mirror import OutageWindows
from ccupgrade.mirror.conditions import READY, U, set_condition
from ccupgrade.mirror.core import failed
from ccupgrade.models import (
    CONDITION_MESSAGE_BYTES,
    EVENT_MESSAGE_BYTES,
    Condition,
    ObjectRef,
    Reason,
    RecordedEvent,
    clip_utf8,
)
from ccupgrade.scheduler.poller import failure_of
from tests.support.scheduler_fakes import FakeApiServer, FakeCce, fails, scheduler_for

# A CCE 5xx as its Chinese regions answer it: 297 characters, 3 bytes each (891 bytes).
CHINESE_BODY = json.dumps(
    {"error_code": "CCE.01500001", "error_msg": "集群升级服务暂时不可用，请稍后重试。" * 16 + "请联系技术支持"}  # noqa: RUF001
).encode()
REQUEST_ID = {"x-request-id": "5f0e7c1a-9b2d-4c3e-8f6a-1d2b3c4d5e6f"}
# Characters of 4 bytes (CJK extension B, used in names): 300 of them are 1,200 bytes.
WIDE_BODY = json.dumps({"error_code": "CCE.01500001", "error_msg": "𠮷" * 400}).encode()

AT_ONCE = OutageWindows(timedelta(0), timedelta(0))


def _fits(text: str, limit: int) -> None:
    assert len(text.encode()) <= limit


@pytest.mark.parametrize(
    "text",
    [
        "集群升级服务暂时不可用" * 200,  # 3 bytes a character
        "a" + "😀" * 400,  # 4 bytes, misaligned by one
        "é" * 1000,  # 2 bytes
        "x" * 1023 + "中",  # the limit falls inside the last character
        "אבג\u202e" * 300,  # right-to-left text and an override
    ],
)
def test_a_cut_fits_the_bytes_on_a_character_boundary(text: str) -> None:
    clipped = clip_utf8(text, EVENT_MESSAGE_BYTES)
    _fits(clipped, EVENT_MESSAGE_BYTES)
    assert clipped.endswith("…")
    assert text.startswith(clipped[:-1])
    assert len(clipped.encode()) > EVENT_MESSAGE_BYTES - 4 - 3  # nothing more than a character cut too much


def test_text_within_the_limit_is_kept_as_is() -> None:
    for text in ("", "ok", "中" * 341, "x" * 1024):
        assert clip_utf8(text, EVENT_MESSAGE_BYTES) == text
    assert clip_utf8("bad \ud800 surrogate", 100) == "bad ? surrogate"  # UTF-8 cannot carry it


def test_a_chinese_cce_error_makes_event_and_condition_messages_within_their_bytes() -> None:
    """The reproduction: a CCE 5xx with a 297-character Chinese body made a CloudAPIError message of
    436 characters / 1,030 bytes (the API server refused it with 422: the Event was lost)."""
    for body in (CHINESE_BODY, WIDE_BODY):
        error = classify(500, REQUEST_ID, body, token_mode=False)
        failure = failure_of(error, "s")
        result = failed(None, failure, 1, datetime(2026, 1, 1, tzinfo=UTC), OutageWindows(timedelta(0), timedelta(0)))
        (event,) = result.events
        assert event.reason == Reason.CLOUD_API_ERROR
        assert len(event.message.encode()) > 960  # what the mirror says: unbounded
        record = RecordedEvent(
            name="n", type=event.type, reason=event.reason, message=event.message, event_time=datetime.now(UTC)
        )
        _fits(record.message, EVENT_MESSAGE_BYTES)  # the model bounds it, wherever it is made
    assert len(event.message.encode()) > EVENT_MESSAGE_BYTES
    huge = set_condition([], READY, U, Reason.CLOUD_API_UNAVAILABLE, "中" * 20000, 1, datetime.now(UTC))
    _fits(huge.message, CONDITION_MESSAGE_BYTES)
    condition = Condition.model_validate({**huge.model_dump(by_alias=True), "message": "中" * 20000})
    _fits(condition.message, CONDITION_MESSAGE_BYTES)


@pytest.mark.looptime
async def test_every_event_the_scheduler_posts_fits_1024_bytes() -> None:
    cce = FakeCce({"c1": fails(classify(503, REQUEST_ID, WIDE_BODY, token_mode=False))})
    server = FakeApiServer()
    scheduler = scheduler_for(cce, server, outage=AT_ONCE)  # the outage's Event at its first failure
    scheduler.upsert(server.apply("a"))
    task = asyncio.create_task(scheduler.run())
    try:
        for _ in range(600):
            if server.events:
                break
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [event.reason for _, event in server.events] == ["CloudAPIError"]
    for _, event in server.events:
        _fits(event.message, EVENT_MESSAGE_BYTES)
        assert event.message.endswith("…")


class _CreatingApi:
    """Stands in for KubeApi: keeps what is created, and refuses what the API server would refuse."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert len(body["message"].encode()) <= EVENT_MESSAGE_BYTES, "422: message too long"
        assert len(body["reportingInstance"].encode()) <= 128, "422: reportingInstance too long"
        self.created.append(body)
        return body


async def test_kube_io_posts_a_message_over_the_bytes_cut_to_them() -> None:
    """The last line of defence: a RecordedEvent made without validation is still posted bounded."""
    api = _CreatingApi()
    io = KubeIO(api)
    io._instance = "节点" * 100  # a hostname is ASCII; the bound holds whatever it is
    long = "中" * 500
    record = RecordedEvent.model_construct(
        name="a.1", type="Warning", reason="CloudAPIError", message=long, event_time=datetime.now(UTC)
    )
    await io.post_event(ObjectRef("ns", "a", "uid-a"), record)
    (body,) = api.created
    assert body["message"].startswith("中" * 300)
