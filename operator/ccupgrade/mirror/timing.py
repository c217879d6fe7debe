"""How far a running upgrade is, when it should end, and whether it is slower than it should be.

ETA method (also in docs/insight.md): past task runs are turned into samples: for each task that
succeeded with a start and an end, its run time (end - start) and its step time (end - the
previous task's end, so queueing before it counts). The running task should end at its start plus
the median run time of that task type. Once CCE reports the task's percentage p, the rest of that
median, (100 - p)%, counts from when p was first seen: a task running slower than before moves its
ETA later, a faster one earlier, and the estimate changes only when the percentage does. The
workflow should end at that moment plus the median step time of every task still to come; between
two tasks, at the last task's end plus those steps, so the estimate holds for the whole active
workflow instead of vanishing at each task's end. An
estimate that has passed shows as `overdue since` it and does not move with the clock (a moving
figure would rewrite status at every poll). Samples come from this cluster's own past workflows;
only when it has none for a task type, from other followed objects that upgraded between the same
versions. When any needed task type has no sample, the estimate is None and shows as `unknown`:
nothing is ever invented.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ccupgrade.models import Eta, Slowness, TaskProgress, TaskView, UpgradeWorkflow

RUNNING, SUCCESS = "Running", "Success"
NOT_STARTED = {"Init", "Queuing", None}
DEFAULT_STALL_AFTER = timedelta(minutes=15)
FAR_PAST_FACTOR = 2.0  # "far past its ETA": running for more than twice the expected run time


@dataclass(frozen=True)
class Sample:
    """One past task run: which versions, which task type, how long it ran and how long its step took."""

    from_version: str | None
    to_version: str | None
    task: str
    run: timedelta
    step: timedelta | None


def samples_of(workflows: Iterable[UpgradeWorkflow], exclude_uid: str | None = None) -> list[Sample]:
    """Samples from finished tasks of the given workflows, except the one being estimated."""
    found: list[Sample] = []
    for workflow in workflows:
        if exclude_uid is not None and workflow.metadata.uid == exclude_uid:
            continue
        previous_end: datetime | None = None
        for point in workflow.status.point_statuses:
            start, end = point.start_time, point.end_time
            if point.status == SUCCESS and start is not None and end is not None and end >= start:
                step = end - previous_end if previous_end is not None and end >= previous_end else end - start
                versions = (workflow.spec.cluster_version, workflow.spec.target_version)
                found.append(Sample(*versions, point.task_type, end - start, step))
            if end is not None:
                previous_end = end
    return found


def _median(values: list[timedelta]) -> timedelta | None:
    if not values:
        return None
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values))


@dataclass(frozen=True)
class Basis:
    """The samples an estimate may use: the cluster's own first, then its peers' for the same versions."""

    own: list[Sample]
    peers: list[Sample]

    def pick(self, task: str, from_version: str | None, to_version: str | None) -> tuple[str, list[Sample]]:
        """(basis name, samples) for a task's estimate: the cluster's own runs, else peers' on the same versions."""
        own = [s for s in self.own if s.task == task]
        if own:
            return "history", own
        peers = [
            s
            for s in self.peers
            if s.task == task and s.from_version == from_version and s.to_version == to_version and from_version
        ]
        return ("peers", peers) if peers else ("none", [])


def progress_text(tasks: list[TaskView], progress: TaskProgress | None) -> str | None:
    """`2/4` from the workflow, with the running task's own percentage when known: `2/4 · 63%`."""
    if not tasks:
        return None
    done = f"{sum(1 for t in tasks if t.status == SUCCESS)}/{len(tasks)}"
    if progress is None or progress.percent is None:
        return done
    return f"{done} · {progress.percent:.0f}%"


def track_progress(
    old: TaskProgress | None, task: TaskView, task_id: str | None, percent: float | None, now: datetime
) -> TaskProgress:
    """The new progress record: `since` moves only when the percentage (or the task) changes."""
    unchanged = old is not None and (old.task, old.task_id, old.percent) == (task.type, task_id, percent)
    since = old.since if unchanged and old is not None and old.since is not None else now
    return TaskProgress(task=task.type, task_id=task_id, percent=percent, since=since)


def eta_text(moment: datetime | None, now: datetime) -> str:
    """A UTC time (with the date when not today), `overdue since` one, or `unknown`.

    An absolute time, not "in 5m": it stays the same from poll to poll, so it costs no status write.
    """
    if moment is None:
        return "unknown"
    shown = moment.strftime("%H:%M UTC") if moment.date() == now.date() else moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"overdue since {shown}" if moment < now else shown


def under_way(tasks: list[TaskView]) -> bool:
    """Whether the workflow has an ETA to show: a task runs; or one has begun (or is queued), none
    failed and not all have succeeded. Between two tasks too, so the ETA column does not go empty
    and back at each task's end (each flicker also a status write)."""
    statuses = [t.status for t in tasks]
    if RUNNING in statuses:
        return True
    begun = any(s not in {"Init", None} for s in statuses)
    return begun and "Failed" not in statuses and any(s != SUCCESS for s in statuses)


def estimate(
    tasks: list[TaskView],
    from_version: str | None,
    to_version: str | None,
    basis: Basis,
    now: datetime,
    progress: TaskProgress | None = None,
) -> Eta:
    """The running task's and the workflow's end, from past samples only (see the module's docstring)."""
    running = next((t for t in tasks if t.status == RUNNING), None)
    remaining_from = 0
    task_end: datetime | None = None
    used = 0
    kinds: set[str] = set()
    anchor: datetime | None = now
    if running is not None:
        remaining_from = tasks.index(running) + 1
        kind, samples = basis.pick(running.type, from_version, to_version)
        run = _median([s.run for s in samples])
        if run is not None and running.start_time is not None:
            task_end = running.start_time + run
            if (
                progress is not None
                and progress.task == running.type
                and progress.percent is not None
                and progress.since is not None
            ):  # the rest of the usual run time, from when CCE last reported a new percentage
                seen = max(progress.since, running.start_time)  # never before the task began (clock skew)
                task_end = seen + run * (1 - progress.percent / 100)
            used += len(samples)
            kinds.add(kind)
            anchor = task_end
        else:
            anchor = None
    else:
        # Between tasks: the next one's step counts from the last task's end (a step includes the
        # queueing before it), not from now, so the estimate does not move with the clock.
        started = [i for i, t in enumerate(tasks) if t.status not in NOT_STARTED]
        remaining_from = (max(started) + 1) if started else 0
        ends = [t.end_time for t in tasks[:remaining_from] if t.end_time is not None]
        anchor = max(ends) if ends else None
    workflow_end = anchor
    for task in tasks[remaining_from:]:
        if task.status not in NOT_STARTED or workflow_end is None:
            continue
        kind, samples = basis.pick(task.type, from_version, to_version)
        step = _median([s.step for s in samples if s.step is not None])
        if step is None:
            workflow_end = None
            break
        workflow_end += step
        used += len(samples)
        kinds.add(kind)
    if running is None and not any(t.status in NOT_STARTED for t in tasks[remaining_from:]):
        workflow_end = None  # nothing left to estimate: no ETA rather than the last task's end
    method = "peers" if "peers" in kinds else ("history" if kinds else "none")
    shown = workflow_end or task_end
    return Eta(
        task=running.type if running else None,
        task_end=task_end,
        workflow_end=workflow_end,
        basis=method,
        samples=used,
        text=eta_text(shown, now),
    )


def slowness(
    old: Slowness | None,
    running: TaskView | None,
    progress: TaskProgress | None,
    eta: Eta | None,
    stall_after: timedelta,
    now: datetime,
) -> Slowness | None:
    """Slow when the percentage has not moved for `stall_after`, or the task runs far past its ETA.

    Kept (with its first `since`) while the same task stays slow, so the Event is raised once.
    """
    if running is None:
        return None
    reason: str | None = None
    if (
        progress is not None
        and progress.task == running.type
        and progress.percent is not None
        and progress.percent < 100
        and progress.since is not None
        and now - progress.since >= stall_after
    ):
        reason = (
            f"task {running.type} has stayed at {progress.percent:.0f}% since {_clock(progress.since)} "
            f"(longer than {_minutes(stall_after)})"
        )
    elif eta is not None and eta.task == running.type and eta.task_end is not None and running.start_time is not None:
        expected = eta.task_end - running.start_time
        elapsed = now - running.start_time
        if elapsed > expected * FAR_PAST_FACTOR and now - eta.task_end >= stall_after:
            reason = (
                f"task {running.type} has run since {_clock(running.start_time)}, more than {FAR_PAST_FACTOR:g}x "
                f"the {_minutes(expected)} it took before (expected end {_clock(eta.task_end)})"
            )
    if reason is None:
        return None
    if old is not None and old.task == running.type and old.task_id == running.id:
        return old.model_copy(update={"message": reason})
    return Slowness(task=running.type, task_id=running.id, since=now, message=reason)


def _clock(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _minutes(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
