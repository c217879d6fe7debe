"""A status the real API server refuses for good (422, the CRD's schema): the operator's writer
keeps the last good status, says why in Stalled, and still posts the refused result's Events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from ccupgrade.kube.api import KubeApi, path_of
from ccupgrade.kube.io import KubeIO
from ccupgrade.mirror import EventIntent, Mirrored
from ccupgrade.models import GROUP, PLURAL, VERSION, Condition, ConditionStatus, Reason, UpgradeStatus, Watched
from ccupgrade.scheduler.ports import NoObserver
from ccupgrade.scheduler.supervisor import Supervisor
from ccupgrade.scheduler.writes import Ticket, Writer
from tests.support.kube import Kube, configuration_of, upgrade_body

pytestmark = pytest.mark.cluster


def _refused_by_the_schema(watched: Watched) -> Mirrored:
    """A new status the CRD's schema refuses (a condition reason outside its pattern; made without
    validation, as a status from a newer operator than the installed CRD would be)."""
    bad = Condition.model_construct(
        type="Ready",
        status=ConditionStatus.FALSE,
        observed_generation=1,
        last_transition_time=datetime.now(UTC),
        reason="not a reason!",
        message="refused",
    )
    status = UpgradeStatus(phase="Pending", conditions=[bad])
    event = EventIntent("Warning", Reason.UPGRADE_BLOCKED, "Upgrade blocked: task PreCheck failed", "blocked/1")
    return Mirrored(status, [event], changed=True)


async def test_a_status_refused_with_422_keeps_the_last_good_one_and_posts_its_events(
    kube: Kube, crd: str, namespace: str
) -> None:
    api = KubeApi(configuration_of(kube.kubeconfig))
    supervisor = Supervisor()
    objects = path_of("apis", GROUP, VERSION, "namespaces", namespace, PLURAL)
    try:
        await api.create(
            objects,
            upgrade_body(),
        )
        writer = Writer(KubeIO(api), NoObserver(), supervisor, max_concurrent=2)
        watched = Watched.from_body(await api.get(objects + path_of("prod")))
        writer.store(watched)
        await writer.write(watched.ref, Ticket.of(watched), _refused_by_the_schema, fresh=True)

        events = path_of("api", "v1", "namespaces", namespace, "events")
        reasons: list[str] = []
        for _ in range(300):  # the posters wait for the status writes to settle (0.5 s)
            listed = await api.get(events)
            reasons = sorted(item["reason"] for item in listed["items"])
            if len(reasons) >= 2:
                break
            await asyncio.sleep(0.1)
        assert reasons == ["StatusRejected", "UpgradeBlocked"]

        body = await api.get(objects + path_of("prod"))
        status = body["status"]
        assert "phase" not in status  # the refused observation was not written
        stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
        assert (stalled["status"], stalled["reason"]) == ("True", "StatusRejected")
        assert "HTTP 422" in stalled["message"]
        assert [e["reason"] for e in status["eventJournal"]] == ["UpgradeBlocked", "StatusRejected"]
    finally:
        await supervisor.close()
        await api.close()
