"""Between upgrades: old status + upgrade info, upgrade paths and pre-check list → the `available` and
`latestPreCheck` parts of status, and their Events (UpgradeAvailable, PreCheckFailed).

Pure, like the rest of the mirror. The poller reads these calls only while no upgrade runs and
hands in the last answer of each (or DetailFailed); None means never read, and keeps what the status
has. A version is announced once: the versions announced are kept in status (bounded), so a restart
or a second replica computing the same difference announces nothing again. The first versions an
object sees are announced one poll after they were stored, so a CRD that prunes `available` (one
older than this field) costs no Events instead of repeating them at every poll.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from ccupgrade.mirror import findings
from ccupgrade.mirror.event_intents import EventIntent
from ccupgrade.mirror.insight import DetailFailed
from ccupgrade.models import (
    MAX_ANNOUNCED,
    MAX_TARGETS,
    AvailableUpgrades,
    PreCheckTask,
    PreCheckTaskList,
    PreCheckView,
    Reason,
    UpgradeInfo,
    UpgradePathList,
    UpgradeStatus,
)

VERSION_BYTES = 64  # a version string from CCE, at most
MAX_HOPS = 16  # upgrade paths followed at most this deep
_NEVER = datetime.min.replace(tzinfo=UTC)
_VERSION = re.compile(r"^v?(\d{1,6})\.(\d{1,6})(?:\.(\d{1,6}))?(?:-r(\d{1,6}))?")


@dataclass(frozen=True)
class BetweenData:
    """The last answer of each between-upgrades call (None: not read yet), and when the info was read."""

    info: UpgradeInfo | DetailFailed | None = None
    paths: UpgradePathList | DetailFailed | None = None
    prechecks: PreCheckTaskList | DetailFailed | None = None
    info_time: datetime | None = None


def version_key(version: str) -> tuple[int, int, int, int] | None:
    """(major, minor, patch, r) of v1.28.15-r20; v1.28 is (1, 28, -1, -1); None if it is no version."""
    match = _VERSION.match(version.strip())
    if match is None:
        return None
    major, minor, patch, release = match.groups()
    return int(major), int(minor), int(patch) if patch else -1, int(release) if release else -1


def _minor(version: str) -> tuple[int, int] | None:
    key = version_key(version)
    return None if key is None else (key[0], key[1])


def _clean(version: str) -> str:
    return findings.clip(version.strip(), VERSION_BYTES)


def current_version(info: UpgradeInfo) -> str | None:
    """release-patch (v1.28.15-r20), or the release alone when CCE gives no patch."""
    release = info.spec.version_info.release
    if not release:
        return None
    patch = info.spec.version_info.patch
    return _clean(f"{release}-{patch}" if patch else release)


def _suggested(info: UpgradeInfo) -> str | None:
    version = info.spec.version_info
    if not version.release or not version.suggest_patch or version.suggest_patch == version.patch:
        return None
    return _clean(f"{version.release}-{version.suggest_patch}")


def _targets(info: UpgradeInfo) -> list[str]:
    seen = dict.fromkeys(_clean(t) for t in info.spec.version_info.target_versions if t.strip())
    return list(seen)[:MAX_TARGETS]


def newest_reachable(current: str, targets: list[str], paths: UpgradePathList | None) -> tuple[str, int] | None:
    """The newest version reachable from `current`: CCE's targets are one step, the endpoint's paths
    lead on (a path's `version` matches by minor version, v1.28 for v1.28.15-r20). (version, steps)."""
    by_minor: dict[tuple[int, int], list[str]] = {}
    for path in paths.paths if paths is not None else []:
        minor = _minor(path.version)
        if minor is not None:
            by_minor.setdefault(minor, []).extend(_clean(t) for t in path.target_versions)
    start = _minor(current)
    first = list(targets) + (by_minor.get(start, []) if start is not None else [])
    steps: dict[str, int] = {}
    queue: deque[tuple[str, int]] = deque((t, 1) for t in first)
    visited: set[tuple[int, int]] = {start} if start is not None else set()
    while queue:
        version, depth = queue.popleft()
        if version in steps or version_key(version) is None:
            continue
        steps[version] = depth
        minor = _minor(version)
        if minor is None or minor in visited or depth >= MAX_HOPS:
            continue
        visited.add(minor)
        queue.extend((t, depth + 1) for t in by_minor.get(minor, []))
    if not steps:
        return None
    newest = max(steps, key=lambda v: (version_key(v) or (0, 0, 0, 0), -steps[v]))
    # The same version named more precisely (v1.31.4-r0 beside v1.31) counts the fewer steps.
    minor = _minor(newest)
    fewest = min(d for v, d in steps.items() if _minor(v) == minor)
    return newest, fewest


def _behind(current: str, newest: str | None) -> int:
    here, there = _minor(current), _minor(newest) if newest else None
    if here is None or there is None or here[0] != there[0]:
        return 0
    return max(0, there[1] - here[1])


def _available(old: AvailableUpgrades | None, data: BetweenData) -> tuple[AvailableUpgrades | None, list[str]]:
    """The new `available` part, and the versions offered now (for the announcements)."""
    errors: list[str] = []
    if isinstance(data.paths, DetailFailed):
        errors.append(f"upgrade paths unavailable: {data.paths.message}")
    paths = data.paths if isinstance(data.paths, UpgradePathList) else None
    if isinstance(data.info, UpgradeInfo):
        current = current_version(data.info)
        targets = _targets(data.info)
        suggested = _suggested(data.info)
        offered = ([suggested] if suggested else []) + targets
        newest: str | None = None
        steps: int | None = None
        reach = newest_reachable(current, targets, paths) if current else None
        if reach is not None:
            newest, steps = reach
        if isinstance(data.paths, DetailFailed) and old is not None and old.newest_version:
            newest, steps = old.newest_version, old.steps_to_newest  # the last good answer, with the error
        fresh = AvailableUpgrades(
            current_version=current,
            suggested_patch=suggested,
            target_versions=targets or None,
            newest_version=newest,
            steps_to_newest=steps,
            minor_versions_behind=_behind(current, newest) if current else None,
            checked_time=data.info_time,
            announced=old.announced if old is not None else None,
            error="; ".join(errors) or None,
        )
        return fresh, offered
    if isinstance(data.info, DetailFailed):
        errors.insert(0, f"upgrade info unavailable: {data.info.message}")
    if old is None and not errors:
        return None, []
    base = old or AvailableUpgrades()
    return _updated(base, error="; ".join(errors) or None), []


_M = TypeVar("_M", AvailableUpgrades, PreCheckView)


def _updated(model: _M, **update: object) -> _M:
    """`model` with `update`, validated (model_copy is not): a new string gets its type's byte bound
    and cleaning (CceName, CceText)."""
    return type(model).model_validate({**model.model_dump(), **update})


def _announce(
    available: AvailableUpgrades, offered: list[str], cluster_id: str
) -> tuple[AvailableUpgrades, list[EventIntent]]:
    announced = list(available.announced or [])
    new = [v for v in offered if v not in announced]
    current = available.current_version or "?"
    events = [
        EventIntent(
            "Normal",
            Reason.UPGRADE_AVAILABLE,
            f"Upgrade available for cluster {cluster_id}: {current} -> {version}"
            + (" (suggested patch)" if version == available.suggested_patch else ""),
            f"available/{version}",
        )
        for version in new
    ]
    if not new:
        return available, []
    # What is offered now stays remembered first, so the bound never forgets a version still on offer.
    keep = list(dict.fromkeys([*(v for v in offered), *announced]))[:MAX_ANNOUNCED]
    return available.model_copy(update={"announced": keep}), events


def newest_only(listed: PreCheckTaskList) -> PreCheckTaskList:
    """The list as the mirror uses it: its newest task alone (what a cache needs to keep)."""
    task = _newest(listed)
    return listed.model_copy(update={"items": [task] if task is not None else []})


def _newest(listed: PreCheckTaskList) -> PreCheckTask | None:
    if not listed.items:
        return None
    indexed = list(enumerate(listed.items))
    # Newest by creation time; CCE's own order breaks ties (and stands in for missing times).
    return max(indexed, key=lambda it: (it[1].metadata.creation_timestamp or _NEVER, it[0]))[1]


def _latest_pre_check(old: PreCheckView | None, data: BetweenData, now: datetime) -> PreCheckView | None:
    if isinstance(data.prechecks, DetailFailed):
        base = old or PreCheckView()
        return _updated(base, error=f"pre-check list unavailable: {data.prechecks.message}")
    if not isinstance(data.prechecks, PreCheckTaskList):
        return old
    task = _newest(data.prechecks)
    if task is None:
        # CCE lists none (now): the latest one known stays, so the same finding listed again later is
        # recognised by its task ID, not announced a second time.
        return None if old is None else _updated(old, error=None)
    view = findings.precheck_view(task)
    if view.task_id:
        view = view.model_copy(update={"task_id": findings.clip(view.task_id, 128)})
    expired = view.phase in findings.PASSED and view.expire_time is not None and view.expire_time <= now
    target = _clean(task.spec.target_version) if task.spec.target_version else None
    return view.model_copy(
        update={"target_version": target, "created": task.metadata.creation_timestamp, "expired": expired or None}
    )


def _pre_check_events(old: PreCheckView | None, new: PreCheckView | None, status: UpgradeStatus) -> list[EventIntent]:
    if new is None or new.phase != "Failed" or not new.counts or not new.task_id:
        return []
    if old is not None and old.task_id == new.task_id and old.phase == "Failed" and old.counts:
        return []
    if status.pre_check is not None and status.pre_check.task_id == new.task_id:
        return []  # the followed workflow's own pre-check: announced with the workflow
    target = f" to {new.target_version}" if new.target_version else ""
    return [
        EventIntent(
            "Warning",
            Reason.PRE_CHECK_FAILED,
            f"Pre-check {new.task_id} for an upgrade{target} failed: {findings.summary(new)} (no workflow)",
            f"precheck-failed/latest/{new.task_id}",
        )
    ]


def derive(
    old: UpgradeStatus, new: UpgradeStatus, data: BetweenData | None, cluster_id: str, now: datetime
) -> list[EventIntent]:
    """Fills `new.available` and `new.latest_pre_check` from `data` (None: kept from `old`); returns their Events.

    What `old` says of another cluster (spec.clusterId changed) is not carried over: the parts start
    afresh, as for a new object. A status that does not say its cluster (older, or a CRD that prunes
    the field) is taken to be of this one."""
    described = old.available.cluster_id if old.available is not None else None
    if described is not None and described != cluster_id:
        old = old.model_copy(update={"available": None, "latest_pre_check": None})
    if data is None:
        new.available, new.latest_pre_check = old.available, old.latest_pre_check
        return []
    available, offered = _available(old.available, data)
    if available is not None:
        available = available.model_copy(update={"cluster_id": cluster_id})  # spec-validated already
    events: list[EventIntent] = []
    if available is not None and offered and old.available is None:
        # First sight: stored first, announced at the next poll, once the stored status shows that
        # the API server keeps `available` (a CRD from before this field prunes it, and would make
        # every poll look like a first sight: an Event per version per poll).
        available = available.model_copy(update={"announced": []})
    elif available is not None and offered:
        available, events = _announce(available, offered, cluster_id)
    new.available = available
    new.latest_pre_check = _latest_pre_check(old.latest_pre_check, data, now)
    return events + _pre_check_events(old.latest_pre_check, new.latest_pre_check, new)


def ready_note(status: UpgradeStatus) -> str:
    """What an object with no workflow says in Ready's message: the version it runs and what is next."""
    available = status.available
    if status.workflow is not None or available is None or not available.current_version:
        return ""
    if available.newest_version and available.newest_version != available.current_version:
        steps = available.steps_to_newest or 1
        return (
            f"the cluster runs {available.current_version}; newest reachable {available.newest_version} "
            f"in {steps} upgrade{'s' if steps != 1 else ''}"
        )
    return f"the cluster runs {available.current_version}; no newer version is offered"
