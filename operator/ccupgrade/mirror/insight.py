"""Insight: old insight status + task details CCE gave this poll → new insight status + its Events.

Pure, like the rest of the mirror. The poller decides which details to fetch (`wanted`) and hands
in what came back; a detail whose call failed arrives as DetailFailed and degrades only its own
part of status (last good values kept, `error` set), never the workflow mirror.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import durationpy

from ccupgrade.mirror import findings, timing
from ccupgrade.mirror.event_intents import EventIntent
from ccupgrade.models import (
    Eta,
    PreCheckTask,
    PreCheckView,
    Reason,
    Slowness,
    SnapshotTask,
    TaskProgress,
    TaskView,
    UpgradeSpec,
    UpgradeTask,
    UpgradeWorkflow,
)

DetailKind = Literal["precheck", "upgrade", "snapshot"]
ENDED = {"Success", "Failed"}
PROGRESS_KIND: dict[str, DetailKind] = {"Cluster": "upgrade", "Snapshot": "snapshot"}


@dataclass(frozen=True)
class DetailFailed:
    """The call for one detail failed; `message` says why (an error's str, no secrets)."""

    message: str


@dataclass(frozen=True)
class Details:
    """What the task endpoints said this poll, by task ID. Absent means not asked."""

    precheck: dict[str, PreCheckTask | DetailFailed] = field(default_factory=dict)
    upgrade: dict[str, UpgradeTask | DetailFailed] = field(default_factory=dict)
    snapshot: dict[str, SnapshotTask | DetailFailed] = field(default_factory=dict)


@dataclass(frozen=True)
class Insight:
    """The insight parts of status."""

    pre_check: PreCheckView | None = None
    task_progress: TaskProgress | None = None
    eta: Eta | None = None
    slow: Slowness | None = None


@dataclass(frozen=True)
class Settings:
    """The per-object knobs of the insight parts, read from the spec by settings_for()."""

    stall_after: timedelta = timing.DEFAULT_STALL_AFTER
    findings_cap: int = findings.DEFAULT_CAP


def settings_for(spec: UpgradeSpec) -> Settings:
    """The spec's stall threshold (the CRD's pattern admits only Go durations; a bad one falls back)."""
    try:
        stall_after = durationpy.from_str(spec.stall_after)
    except (ValueError, TypeError):  # DurationError is a ValueError
        stall_after = timing.DEFAULT_STALL_AFTER
    return Settings(stall_after=stall_after)


def wanted(workflow: UpgradeWorkflow, known_precheck: dict[str, str | None]) -> list[tuple[DetailKind, str]]:
    """The detail calls one active workflow needs now: only for the task they describe.

    A running Cluster or Snapshot task: its progress. A running pre-check: its findings so far. An
    ended pre-check: its final result, once (`known_precheck` maps task IDs to the phase already
    fetched), so a blocked or finished upgrade costs nothing extra per poll.
    """
    if workflow.status.phase in {"Success", "Cancel"}:
        return []
    calls: list[tuple[DetailKind, str]] = []
    for point in workflow.status.point_statuses:
        if not point.task_id:
            continue
        if point.task_type == "PreCheck":
            if point.status == "Running" or (
                point.status in ENDED and known_precheck.get(point.task_id) != point.status
            ):
                calls.append(("precheck", point.task_id))
        elif point.task_type in PROGRESS_KIND and point.status == "Running":
            calls.append((PROGRESS_KIND[point.task_type], point.task_id))
    return calls


def _versions(from_version: str | None, to_version: str | None) -> str:
    return f"{from_version or '?'} to {to_version or '?'}"


def _pre_check(
    old: PreCheckView | None, point: TaskView | None, fetched: PreCheckTask | DetailFailed | None, cap: int
) -> PreCheckView | None:
    if point is None:
        return None
    same = old is not None and old.task_id == point.id
    if isinstance(fetched, PreCheckTask):
        view = findings.precheck_view(fetched, cap)
        return view.model_copy(
            update={"task_id": view.task_id or point.id, "expire_time": view.expire_time or point.expire_time}
        )
    if isinstance(fetched, DetailFailed):
        base = old if same and old is not None else PreCheckView(task_id=point.id, phase=point.status)
        return base.model_copy(update={"error": f"pre-check detail unavailable: {fetched.message}"})
    if same and old is not None:
        return old
    if point.status in {None, "Init", "Queuing"}:
        return None
    return PreCheckView(task_id=point.id, phase=point.status, expire_time=point.expire_time)


def _progress(
    old: TaskProgress | None, running: TaskView | None, details: Details, now: datetime
) -> TaskProgress | None:
    if running is None or running.type not in PROGRESS_KIND or not running.id:
        return None
    kind = PROGRESS_KIND[running.type]
    fetched = (details.upgrade if kind == "upgrade" else details.snapshot).get(running.id)
    same = old is not None and old.task == running.type and old.task_id == running.id
    if isinstance(fetched, DetailFailed):
        base = old if same and old is not None else TaskProgress(task=running.type, task_id=running.id)
        return base.model_copy(update={"error": f"task detail unavailable: {fetched.message}"})
    if fetched is None:
        return old if same else None
    return timing.track_progress(old if same else None, running, running.id, fetched.status.percent, now)


def derive(
    old: Insight,
    tasks: list[TaskView],
    workflow_uid: str | None,
    versions: tuple[str | None, str | None],
    details: Details,
    basis: timing.Basis,
    settings: Settings,
    now: datetime,
    *,
    active: bool = True,
) -> tuple[Insight, list[EventIntent]]:
    """The new insight and the Events that tell its difference from the old one. `active`: the
    workflow's phase is Init or Running (a cancelled or finished one has nothing to estimate)."""
    running = next((t for t in tasks if t.status == "Running"), None)
    precheck_point = next((t for t in tasks if t.type == "PreCheck"), None)
    fetched = details.precheck.get(precheck_point.id) if precheck_point and precheck_point.id else None
    pre_check = _pre_check(old.pre_check, precheck_point, fetched, settings.findings_cap)
    if pre_check is not None:
        started = any(t.type not in {"PreCheck"} and t.status not in timing.NOT_STARTED for t in tasks)
        expired = findings.is_expired(pre_check, started, now)
        pre_check = pre_check.model_copy(update={"expired": True if expired else None})
    progress = _progress(old.task_progress, running, details, now)
    estimated = active and timing.under_way(tasks)
    eta = timing.estimate(tasks, *versions, basis, now, progress) if estimated else None
    slow = timing.slowness(old.slow, running, progress, eta, settings.stall_after, now)
    new = Insight(pre_check, progress, eta, slow)
    return new, _events(old, new, workflow_uid, versions)


def _events(old: Insight, new: Insight, uid: str | None, versions: tuple[str | None, str | None]) -> list[EventIntent]:
    events: list[EventIntent] = []
    upgrade = _versions(*versions)
    before, after = old.pre_check, new.pre_check
    if after is not None and after.phase == "Failed" and after.counts:
        announced = (
            before is not None and before.task_id == after.task_id and before.phase == "Failed" and before.counts
        )
        if not announced:
            events.append(
                EventIntent(
                    "Warning",
                    Reason.PRE_CHECK_FAILED,
                    f"Pre-check for upgrade {upgrade} failed: {findings.summary(after)} (workflow {uid})",
                    f"precheck-failed/{uid}/{after.task_id}",
                )
            )
    if after is not None and after.expired and not (before is not None and before.expired):
        when = after.expire_time.isoformat() if after.expire_time else "?"
        events.append(
            EventIntent(
                "Warning",
                Reason.PRE_CHECK_EXPIRED,
                f"The pre-check result for upgrade {upgrade} expired at {when} before the upgrade ran; "
                "run the pre-check again before continuing",
                f"precheck-expired/{uid}/{after.task_id}",
            )
        )
    if new.slow is not None and (
        old.slow is None or old.slow.task_id != new.slow.task_id or old.slow.since != new.slow.since
    ):
        events.append(
            EventIntent(
                "Warning",
                Reason.UPGRADE_SLOW,
                f"Upgrade {upgrade} is slow: {new.slow.message} (workflow {uid}); it is still running",
                f"slow/{uid}/{new.slow.task_id or new.slow.task}/{new.slow.since.isoformat()}",
            )
        )
    return events


def ready_note(insight: Insight, phase: str | None) -> str:
    """What the Ready message adds: the percentage and ETA while running, slowness, failed checks."""
    notes: list[str] = []
    if phase == "Running":
        if insight.task_progress is not None and insight.task_progress.percent is not None:
            notes.append(f"{insight.task_progress.task} at {insight.task_progress.percent:.0f}%")
        if insight.eta is not None:
            notes.append(f"ETA {insight.eta.text}")
        if insight.slow is not None:
            notes.append(f"slow: {insight.slow.message}")
    pre = insight.pre_check
    if pre is not None and pre.phase == "Failed" and pre.counts:
        notes.append(f"pre-check failed: {findings.summary(pre)}")
    if pre is not None and pre.expired:
        notes.append("the pre-check result has expired; run it again")
    return "; ".join(notes)
