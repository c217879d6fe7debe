"""Reads CCE's task detail endpoints through the workflow client's transport, auth, retries and errors.

Thin on purpose: paths, and bytes to models. Each call is separate so that one failing costs only
the part of status it feeds.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ccupgrade.cce.client import CceClient, ClusterTarget
from ccupgrade.cce.errors import ParseError
from ccupgrade.models.tasks import (
    PreCheckTask,
    PreCheckTaskList,
    SnapshotTaskList,
    UpgradeInfo,
    UpgradeTask,
    UpgradeTaskList,
)

_M = TypeVar("_M", bound=BaseModel)


def cluster_path(target: ClusterTarget, version: str = "v3") -> str:
    return f"/api/{version}/projects/{target.project_id}/clusters/{target.cluster_id}"


def precheck_tasks_path(target: ClusterTarget) -> str:
    return f"{cluster_path(target)}/operation/precheck/tasks"


def upgrade_tasks_path(target: ClusterTarget) -> str:
    return f"{cluster_path(target)}/operation/upgrade/tasks"


def upgrade_info_path(target: ClusterTarget) -> str:
    return f"{cluster_path(target)}/upgradeinfo"


def snapshot_tasks_path(target: ClusterTarget) -> str:
    return f"{cluster_path(target, 'v3.1')}/operation/snapshot/tasks"


def parse(model: type[_M], body: bytes | str, what: str) -> _M:
    """Bytes to a model, or one ParseError naming what was wrong (never echoing the body)."""
    try:
        document: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        position = f" at position {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ParseError(f"{what} response is not valid JSON{position}") from None
    if not isinstance(document, dict):
        raise ParseError(f"{what} response is a JSON {type(document).__name__}, not an object")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "response"
        raise ParseError(f"unexpected {what} response: {where}: {first['msg']}") from None


class TaskReader:
    """The task endpoints for one client; every call goes through CceClient's request machinery."""

    def __init__(self, client: CceClient) -> None:
        self.client = client

    async def _get(self, target: ClusterTarget, path: str) -> bytes:
        return await self.client._call(target, path)  # the one shared transport: gates, auth, retries

    async def list_precheck_tasks(self, target: ClusterTarget) -> PreCheckTaskList:
        return parse(PreCheckTaskList, await self._get(target, precheck_tasks_path(target)), "pre-check task list")

    async def get_precheck_task(self, target: ClusterTarget, task_id: str) -> PreCheckTask:
        body = await self._get(target, f"{precheck_tasks_path(target)}/{task_id}")
        return parse(PreCheckTask, body, "pre-check task")

    async def list_upgrade_tasks(self, target: ClusterTarget) -> UpgradeTaskList:
        return parse(UpgradeTaskList, await self._get(target, upgrade_tasks_path(target)), "upgrade task list")

    async def get_upgrade_task(self, target: ClusterTarget, task_id: str) -> UpgradeTask:
        body = await self._get(target, f"{upgrade_tasks_path(target)}/{task_id}")
        return parse(UpgradeTask, body, "upgrade task")

    async def get_upgrade_info(self, target: ClusterTarget) -> UpgradeInfo:
        return parse(UpgradeInfo, await self._get(target, upgrade_info_path(target)), "upgrade info")

    async def list_snapshot_tasks(self, target: ClusterTarget) -> SnapshotTaskList:
        return parse(SnapshotTaskList, await self._get(target, snapshot_tasks_path(target)), "snapshot task list")
