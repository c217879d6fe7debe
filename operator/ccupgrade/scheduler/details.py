"""The task details a cluster poll fetches besides the workflow list, and the past task runs of
every followed cluster (the ETA's `peers`).

Cost rule: a detail is fetched only while the task it describes runs (a running pre-check, Cluster
or Snapshot task), plus an ended pre-check's final result once; that result is kept here, so a
blocked or finished upgrade costs the workflow list alone. Each call fails on its own: its part of
status says why, the rest is mirrored as usual.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Hashable

from ccupgrade.cce import CceError, ClusterTarget
from ccupgrade.mirror import ENDED, DetailFailed, DetailKind, Details, Sample, samples_of, wanted_details
from ccupgrade.models import PreCheckTask, SnapshotTask, UpgradeTask, UpgradeWorkflow
from ccupgrade.scheduler.ports import TaskSource

log = logging.getLogger("ccupgrade.scheduler")


class DetailFetcher:
    """Fetches what `wanted_details` asks for, all of one poll's calls at once."""

    def __init__(self, reader: TaskSource, remember: int = 2000) -> None:
        self.reader = reader
        self.remember = remember
        # Final pre-check results by (cluster, task ID), oldest first: a task ID another cluster
        # also reports (CCE's answers are not trusted to be unique) never shows that cluster's result.
        self._ended: OrderedDict[tuple[Hashable, str], PreCheckTask] = OrderedDict()
        self._known: dict[Hashable, dict[str, str | None]] = {}  # their phases per cluster (not rebuilt per poll)

    def __len__(self) -> int:
        return len(self._ended)

    def _keep(self, cluster: Hashable, task_id: str, task: PreCheckTask) -> None:
        if task.status.phase in ENDED:
            self._ended[(cluster, task_id)] = task
            self._ended.move_to_end((cluster, task_id))
            self._known.setdefault(cluster, {})[task_id] = task.status.phase
            while len(self._ended) > self.remember:
                (owner, old), _ = self._ended.popitem(last=False)
                known = self._known.get(owner, {})
                known.pop(old, None)
                if not known:
                    self._known.pop(owner, None)

    def forget(self, cluster: Hashable) -> None:
        """Drops a cluster's ended pre-check results (it is no longer followed)."""
        for task_id in self._known.pop(cluster, {}):
            self._ended.pop((cluster, task_id), None)

    async def fetch(self, target: ClusterTarget, workflows: list[UpgradeWorkflow]) -> Details:
        """The task details the workflows' active tasks need; each call fails on its own, as a DetailFailed."""
        cluster = (target.endpoint.host, target.project_id, target.cluster_id)
        details = Details()
        known = self._known.get(cluster, {})
        calls = [call for workflow in workflows for call in wanted_details(workflow, known)]
        for workflow in workflows:  # ended pre-checks fetched before: handed in again, at no cost
            for point in workflow.status.point_statuses:
                kept = self._ended.get((cluster, point.task_id or ""))
                if kept is not None and point.task_type == "PreCheck" and kept.status.phase == point.status:
                    details.precheck[point.task_id or ""] = kept
        if not calls:
            return details
        results = await asyncio.gather(*(self._one(target, kind, task_id) for kind, task_id in calls))
        for (kind, task_id), result in zip(calls, results, strict=True):
            if kind == "precheck" and isinstance(result, PreCheckTask | DetailFailed):
                details.precheck[task_id] = result
                if isinstance(result, PreCheckTask):
                    self._keep(cluster, task_id, result)
            elif kind == "upgrade" and isinstance(result, UpgradeTask | DetailFailed):
                details.upgrade[task_id] = result
            elif kind == "snapshot" and isinstance(result, SnapshotTask | DetailFailed):
                details.snapshot[task_id] = result
        return details

    async def _one(
        self, target: ClusterTarget, kind: DetailKind, task_id: str
    ) -> PreCheckTask | UpgradeTask | SnapshotTask | DetailFailed:
        try:
            if kind == "precheck":
                return await self.reader.get_precheck_task(target, task_id)
            if kind == "upgrade":
                return await self.reader.get_upgrade_task(target, task_id)
            listed = await self.reader.list_snapshot_tasks(target)  # CCE has no call for one snapshot task
            found = next((s for s in listed.items if s.metadata.uid == task_id), None)
            if found is None:
                return DetailFailed(f"CCE lists no snapshot task {task_id}")
            return found
        except CceError as exc:
            log.info("%s detail of task %s unavailable: %s", kind, task_id, exc)
            return DetailFailed(exc.summary)  # the same text per failure: status is not rewritten per poll


class PeerBook:
    """Past task runs of every followed cluster, so one with no history of its own can borrow an ETA.

    Every poll records its cluster's runs and asks for everyone else's: the runs are kept in one
    flat list, rebuilt only when some cluster's runs changed, and a cluster's peers are that list
    without its own span (two slices; walking every cluster's list at every poll was 3 % of the
    operator's CPU in a 5,000-object burst)."""

    def __init__(self, per_cluster: int = 200) -> None:
        self.per_cluster = per_cluster
        self._samples: dict[Hashable, list[Sample]] = {}
        self._flat: list[Sample] | None = None  # every cluster's runs in dict order; None: rebuild
        self._spans: dict[Hashable, tuple[int, int]] = {}  # each cluster's place in `_flat`

    def record(self, cluster: Hashable, workflows: list[UpgradeWorkflow]) -> None:
        """Keeps a cluster's latest task runs (at most `per_cluster`) for other clusters' estimates."""
        samples = samples_of(workflows)[-self.per_cluster :]
        if self._samples.get(cluster) != samples:
            self._samples[cluster] = samples
            self._flat = None

    def forget(self, cluster: Hashable) -> None:
        """Drops a cluster's task runs (it is no longer followed)."""
        if self._samples.pop(cluster, None) is not None:
            self._flat = None

    def peers_of(self, cluster: Hashable) -> list[Sample]:
        """Every other cluster's recorded task runs."""
        if self._flat is None:
            self._flat, self._spans = [], {}
            for key, samples in self._samples.items():
                self._spans[key] = (len(self._flat), len(self._flat) + len(samples))
                self._flat.extend(samples)
        start, end = self._spans.get(cluster, (0, 0))
        return self._flat[:start] + self._flat[end:]
