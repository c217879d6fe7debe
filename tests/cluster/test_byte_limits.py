"""The API server counts bytes: a Chinese CCE error over 1,024 bytes, through the operator's own
Kubernetes side, posts as an Event and a status condition the real API server takes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ccupgrade.cce.errors import classify
from ccupgrade.kube.api import KubeApi, KubeApiError, path_of
from ccupgrade.kube.io import KubeIO
from ccupgrade.mirror import OutageWindows
from ccupgrade.mirror.core import failed
from ccupgrade.models import EVENT_MESSAGE_BYTES, GROUP, PLURAL, VERSION, ObjectRef, RecordedEvent, Watched
from ccupgrade.scheduler.poller import failure_of
from tests.support.kube import Kube, configuration_of, upgrade_body

pytestmark = pytest.mark.cluster

# CCE's Chinese regions answer in Chinese: 297 characters (3 bytes each) and a request ID make a
# CloudAPIError message of 1,030 bytes.
BODY = json.dumps(
    {"error_code": "CCE.01500001", "error_msg": "集群升级服务暂时不可用，请稍后重试。" * 16 + "请联系技术支持"}  # noqa: RUF001
).encode()
HEADERS = {"x-request-id": "5f0e7c1a-9b2d-4c3e-8f6a-1d2b3c4d5e6f"}


async def test_a_chinese_message_over_1024_bytes_posts(kube: Kube, crd: str, namespace: str) -> None:
    api = KubeApi(configuration_of(kube.kubeconfig))
    try:
        objects = path_of("apis", GROUP, VERSION, "namespaces", namespace, PLURAL)
        await api.create(
            objects,
            upgrade_body(),
        )
        watched = Watched.from_body(await api.get(objects + path_of("prod")))
        ref = ObjectRef(namespace, "prod", watched.ref.uid)
        error = classify(503, HEADERS, BODY, token_mode=False)
        long = "中" * 400 + str(error)  # over 1,024 bytes whatever the error's own text holds
        assert len(long.encode()) > EVENT_MESSAGE_BYTES

        # The limit is in bytes: the server refuses this message as it is (what lost the Event).
        events = path_of("api", "v1", "namespaces", namespace, "events")
        with pytest.raises(KubeApiError) as refused:
            await api.create(
                events,
                {
                    "metadata": {"name": "prod.raw"},
                    "involvedObject": {"kind": "CceClusterUpgrade", "name": "prod", "namespace": namespace},
                    "reason": "CloudAPIError",
                    "message": long,
                    "type": "Warning",
                    "source": {"component": "test"},
                    "reportingComponent": f"{GROUP}/operator",
                    "reportingInstance": "test",
                    "action": "Mirror",
                    "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                },
            )
        assert refused.value.status == 422

        io = KubeIO(api)
        at_once = OutageWindows(timedelta(0), timedelta(0))  # the outage's Event at its first failure
        result = failed(None, failure_of(error, "s"), watched.generation, datetime.now(UTC), at_once)
        stamped = [
            RecordedEvent(
                name=event.name_for(ref.name, ref.uid),
                type=event.type,
                reason=event.reason,
                message=long,
                event_time=datetime.now(UTC),
            )
            for event in result.events
        ]
        unvalidated = RecordedEvent.model_construct(**{**stamped[0].model_dump(), "name": "prod.unvalidated"})
        unvalidated.message = long
        status = result.status.model_copy(update={"event_journal": stamped})
        stored = await io.publish(watched, type(result)(status, result.events, True))
        assert stored is not None
        for record in [*stamped, unvalidated]:
            await io.post_event(ref, record)

        listed = await api.get(events)
        posted = {item["metadata"]["name"]: item["message"] for item in listed["items"]}
        assert set(posted) == {stamped[0].name, "prod.unvalidated"}
        for message in posted.values():
            assert len(message.encode()) <= EVENT_MESSAGE_BYTES
            assert long.startswith(message.removesuffix("…"))
        body = await api.get(objects + path_of("prod"))
        ready = next(c for c in body["status"]["conditions"] if c["type"] == "Ready")
        assert "集群升级服务" in ready["message"]
        assert body["status"]["eventJournal"][0]["message"] == posted[stamped[0].name]
    finally:
        await api.close()
