"""CceClusterUpgrade objects in each state, shaped as the operator writes them (the Argo CD
fixtures of an end-to-end run), with realistic task times relative to `now`."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

import yaml

from tests.support.integrations import HEALTH_DIR

FIXTURES = HEALTH_DIR / "testdata"
STATES = (
    "running",
    "pending",
    "success",
    "cancel",
    "init",
    "cloud-unreachable",
    "secret-missing",
    "suspended",
    "no-status",
)


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


# minutes before now: (start, end) per task type; None = not started / not ended
_TIMES: dict[str, dict[str, tuple[float | None, float | None]]] = {
    "running": {"PreCheck": (24, 21), "Snapshot": (21, 13), "Cluster": (13, None), "PostCheck": (None, None)},
    "pending": {"PreCheck": (52, 49), "Snapshot": (49, 40), "Cluster": (40, 31), "PostCheck": (None, None)},
    "success": {"PreCheck": (75, 72), "Snapshot": (72, 64), "Cluster": (64, 38), "PostCheck": (38, 35)},
    "cancel": {"PreCheck": (30, 27), "Snapshot": (27, 22)},
    "cloud-unreachable": {"PreCheck": (24, 21), "Snapshot": (21, 13), "Cluster": (13, None)},
    "suspended": {},
    "init": {},
}


def state(name: str, now: datetime, object_name: str | None = None) -> dict[str, Any]:
    """The fixture for `name`, named `object_name`, with its times moved to around `now`."""
    obj: dict[str, Any] = copy.deepcopy(yaml.safe_load((FIXTURES / f"{name}.yaml").read_text()))
    obj["metadata"] = {"name": object_name or name}
    status = obj.get("status")
    if not status:
        obj.pop("status", None)
        return obj
    times = _TIMES.get(name, {})
    for task in status.get("tasks") or []:
        start, end = times.get(task["type"], (None, None))
        for key, minutes in (("startTime", start), ("endTime", end)):
            if minutes is None:
                task.pop(key, None)
            else:
                task[key] = _stamp(now - timedelta(minutes=minutes))
        if "expireTime" in task:
            task["expireTime"] = _stamp(now + timedelta(days=1))
    begun = max((m for m, _ in times.values() if m is not None), default=2)
    if status.get("workflow"):
        status["workflow"]["created"] = _stamp(now - timedelta(minutes=begun + 1))
        status["workflow"]["updated"] = _stamp(now - timedelta(seconds=40))
    status["lastSyncTime"] = _stamp(now - timedelta(seconds=20 if name != "cloud-unreachable" else 600))
    for condition in status.get("conditions") or []:
        condition["lastTransitionTime"] = _stamp(now - timedelta(minutes=3))
    if name == "success":  # a previous upgrade of the same cluster, as status.history keeps it
        status["history"] = [
            {
                "uid": "9a3c1e52-77d0-4c35-a0a3-8e4f5b6c7d81",
                "phase": "Success",
                "clusterVersion": "v1.27.16-r10",
                "targetVersion": "v1.28.15-r20",
            }
        ]
    progress, eta = status.get("taskProgress"), status.get("eta")
    if progress:  # the running task's percentage last moved two minutes ago
        progress["since"] = _stamp(now - timedelta(minutes=2))
    if eta and eta.get("taskEnd"):
        task_end, workflow_end = now + timedelta(minutes=14), now + timedelta(minutes=17)
        eta.update(taskEnd=_stamp(task_end), workflowEnd=_stamp(workflow_end), text=workflow_end.strftime("%H:%M UTC"))
        for condition in status.get("conditions") or []:  # the fixture's times are normalized away
            condition["message"] = condition["message"].replace("ETA 00:00 UTC", f"ETA {eta['text']}")
    for i, entry in enumerate(status.get("history") or []):
        entry["created"] = _stamp(now - timedelta(days=30 * (i + 1)))
        entry["updated"] = _stamp(now - timedelta(days=30 * (i + 1), hours=-1))
    return obj
