"""Reads what CCE says between upgrades: upgrade info and the pre-check list per cluster, the upgrade
paths per endpoint, at a cost CCE does not notice.

Cost rule: only after the cluster's workflow list was read (so never while its credential is backed
off or its endpoint refuses) and only while none of its workflows is active; the info and the
pre-check list at most once per resync per cluster, shared by every object (and every Secret) that
names the cluster; the paths at most once an hour per endpoint. Every poll hands the mirror the last
answers, so an object that joins later sees them at once. Each call fails on its own (DetailFailed),
and is not retried before its next turn.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from ccupgrade.cce import CceError, ClusterTarget
from ccupgrade.mirror import BetweenData, DetailFailed, newest_only
from ccupgrade.models import PreCheckTaskList, UpgradeInfo, UpgradePathList, UpgradeWorkflow

log = logging.getLogger("ccupgrade.scheduler")
PATHS_EVERY = 3600.0  # seconds between two reads of an endpoint's upgrade paths
SLACK = 0.95  # a poll at its slot one resync later is due, though it may start a little early
AT_REST = frozenset({"Success", "Cancel"})
_T = TypeVar("_T")
ClusterKey = tuple[str, str, str]  # endpoint host, project, cluster (as the poller's)


class BetweenReader(Protocol):
    """The three CCE calls (`TaskReader` in production)."""

    async def show_upgrade_info(self, target: ClusterTarget) -> UpgradeInfo:
        """The cluster's version and targets."""
        ...

    async def list_precheck_tasks(self, target: ClusterTarget) -> PreCheckTaskList:
        """The cluster's pre-checks."""
        ...

    async def list_upgrade_paths(self, target: ClusterTarget) -> UpgradePathList:
        """The endpoint's upgrade paths."""
        ...


def active(workflows: list[UpgradeWorkflow]) -> bool:
    """Whether an upgrade is under way (or blocked): any workflow that has not ended."""
    return any(w.status.phase not in AT_REST for w in workflows)


@dataclass
class _Cluster:
    data: BetweenData = field(default_factory=BetweenData)
    read_at: float | None = None  # monotonic: when the last read started (also while it runs)


@dataclass
class _Paths:
    answer: UpgradePathList | DetailFailed | None = None
    read_at: float | None = None


class BetweenFetcher:
    """Keeps the last between-upgrades answers per cluster and per endpoint, and reads them when due."""

    def __init__(
        self,
        reader: BetweenReader,
        resync: float,
        *,
        paths_every: float = PATHS_EVERY,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.reader = reader
        self.resync = resync
        self.paths_every = paths_every
        self._clock = clock
        self._wall = wall
        self._clusters: dict[ClusterKey, _Cluster] = {}
        self._paths: dict[str, _Paths] = {}

    def _due(self, read_at: float | None, every: float) -> bool:
        return read_at is None or self._clock() - read_at >= every * SLACK

    async def fetch(
        self, cluster_key: ClusterKey, target: ClusterTarget, workflows: list[UpgradeWorkflow]
    ) -> BetweenData:
        """The last answers for the cluster (`cluster_key`: endpoint host, project, cluster); read
        first if due and no upgrade is active. The caller holds the cluster (and its endpoint) until
        this returns, and `forget`s them only afterwards: what this stores is never left behind."""
        endpoint = cluster_key[0]
        cluster = self._clusters.setdefault(cluster_key, _Cluster())
        if active(workflows) or not self._due(cluster.read_at, self.resync):
            return self._with_paths(cluster.data, endpoint)
        cluster.read_at = self._clock()  # claimed now: another group of the same cluster does not read too
        paths = self._paths.setdefault(endpoint, _Paths())
        read_paths = self._due(paths.read_at, self.paths_every)
        if read_paths:
            paths.read_at = self._clock()
        started = self._wall()
        info_call = self._one("upgrade info", self.reader.show_upgrade_info(target))
        precheck_call = self._one("pre-check list", self.reader.list_precheck_tasks(target))
        if read_paths:
            info, prechecks, paths.answer = await asyncio.gather(
                info_call, precheck_call, self._one("upgrade paths", self.reader.list_upgrade_paths(target))
            )
        else:
            info, prechecks = await asyncio.gather(info_call, precheck_call)
        if isinstance(prechecks, PreCheckTaskList):
            prechecks = newest_only(prechecks)  # kept until the next read: the mirror reads no other
        cluster.data = BetweenData(info, None, prechecks, started)
        return self._with_paths(cluster.data, endpoint)

    def _with_paths(self, data: BetweenData, endpoint: str) -> BetweenData:
        paths = self._paths.get(endpoint)
        return replace(data, paths=paths.answer if paths is not None else None)

    async def _one(self, what: str, call: Awaitable[_T]) -> _T | DetailFailed:
        try:
            return await call
        except CceError as exc:
            log.info("%s unavailable: %s", what, exc)  # with the request ID, for CCE's support
            return DetailFailed(exc.summary)  # the same text per failure: status is not rewritten per poll

    def forget(self, cluster_key: ClusterKey) -> None:
        """Drops a cluster's answers: no poll group holds the cluster any more."""
        self._clusters.pop(cluster_key, None)

    def forget_paths(self, endpoint: str) -> None:
        """Drops an endpoint's upgrade paths: no poll group holds a cluster on it any more."""
        self._paths.pop(endpoint, None)

    def __len__(self) -> int:
        return len(self._clusters)
