"""Reads CCE's task detail endpoints through the workflow client's transport, auth, retries and errors.

Thin on purpose: paths, and bytes to models. Each call is separate so that one failing costs only
the part of status it feeds.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from ccupgrade.cce.client import CceClient, ClusterTarget
from ccupgrade.cce.errors import ParseError
from ccupgrade.cce.parser import parse
from ccupgrade.models import (
    ID_PATTERN,
    PreCheckTask,
    PreCheckTaskList,
    SnapshotTaskList,
    UpgradeInfo,
    UpgradePathList,
    UpgradeTask,
)

_TASK_ID = re.compile(ID_PATTERN)
UPGRADE_PATHS_PATH = "/api/v3/clusterupgradepaths"  # per endpoint: names no project or cluster


def cluster_path(target: ClusterTarget, version: str = "v3") -> str:
    """The cluster's base path in API `version` (snapshots are v3.1)."""
    return f"/api/{version}/projects/{target.project_id}/clusters/{target.cluster_id}"


def precheck_tasks_path(target: ClusterTarget) -> str:
    """The path of the cluster's pre-check tasks (one task is `<path>/<task ID>`)."""
    return f"{cluster_path(target)}/operation/precheck/tasks"


def upgrade_tasks_path(target: ClusterTarget) -> str:
    """The path of the cluster's upgrade tasks (one task is `<path>/<task ID>`)."""
    return f"{cluster_path(target)}/operation/upgrade/tasks"


def upgrade_info_path(target: ClusterTarget) -> str:
    """The path of the cluster's upgrade info (its version and the targets CCE offers)."""
    return f"{cluster_path(target)}/upgradeinfo"


def snapshot_tasks_path(target: ClusterTarget) -> str:
    """The path of the cluster's snapshot task list."""
    return f"{cluster_path(target, 'v3.1')}/operation/snapshot/tasks"


def task_segment(task_id: str) -> str:
    """A task ID from CCE as one path segment. It comes from CCE's answer, so it is not trusted:
    one that is not an ID (`..`, a slash, a query, control characters) is refused, never requested,
    and what passes is percent-encoded all the same."""
    if not _TASK_ID.fullmatch(task_id):
        raise ParseError(f"CCE reported task ID {task_id[:80]!r}, which is not an ID; not requested")
    return quote(task_id, safe="")


class TaskReader:
    """The task endpoints for one client; every call goes through CceClient's request machinery."""

    def __init__(self, client: CceClient) -> None:
        self.client = client

    async def _get(self, target: ClusterTarget, path: str) -> bytes:
        return await self.client.get(target, path)  # the one shared transport: gates, auth, retries

    async def get_precheck_task(self, target: ClusterTarget, task_id: str) -> PreCheckTask:
        """One pre-check task with its findings."""
        body = await self._get(target, f"{precheck_tasks_path(target)}/{task_segment(task_id)}")
        return parse(PreCheckTask, body, "pre-check task")

    async def get_upgrade_task(self, target: ClusterTarget, task_id: str) -> UpgradeTask:
        """One upgrade task with its progress."""
        body = await self._get(target, f"{upgrade_tasks_path(target)}/{task_segment(task_id)}")
        return parse(UpgradeTask, body, "upgrade task")

    async def list_snapshot_tasks(self, target: ClusterTarget) -> SnapshotTaskList:
        """The cluster's snapshot (backup) tasks."""
        return parse(SnapshotTaskList, await self._get(target, snapshot_tasks_path(target)), "snapshot task list")

    async def list_precheck_tasks(self, target: ClusterTarget) -> PreCheckTaskList:
        """Every pre-check of the cluster: those of workflows and those run from the console."""
        return parse(PreCheckTaskList, await self._get(target, precheck_tasks_path(target)), "pre-check task list")

    async def show_upgrade_info(self, target: ClusterTarget) -> UpgradeInfo:
        """The cluster's version (release, patch), the suggested patch and the target versions."""
        return parse(UpgradeInfo, await self._get(target, upgrade_info_path(target)), "upgrade info")

    async def list_upgrade_paths(self, target: ClusterTarget) -> UpgradePathList:
        """The endpoint's upgrade paths (the same for every cluster behind it), read with the target's credentials."""
        return parse(UpgradePathList, await self._get(target, UPGRADE_PATHS_PATH), "upgrade paths")
