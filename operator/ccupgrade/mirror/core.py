"""mirror(): old status + what CCE said → new status + the Events that tell the difference.

Events come only from the difference between the stored status and the new one, so a restart
(which re-reads the stored status) re-emits nothing, and the same difference computed twice
yields Events with the same names.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ccupgrade.mirror import between, insight, timing
from ccupgrade.mirror import conditions as cond
from ccupgrade.mirror import status as view
from ccupgrade.mirror.event_intents import EventIntent, EventType, in_causal_order
from ccupgrade.mirror.select import select_workflow
from ccupgrade.models import DEFAULT_RESYNC, CloudOutage, Reason, TaskView, UpgradeSpec, UpgradeStatus, UpgradeWorkflow


@dataclass(frozen=True)
class OutageWindows:
    """When a CCE outage is news. It is announced (CloudAPIError) once its reads have failed for
    `announce_after`: a failed read or two is not news. It ends once CCE has answered without a
    failure for `recover_after` (the longest error backoff), so an endpoint that fails every other
    read is one outage: one Unknown, one Event each way, instead of a status write and an Event
    per failure and per recovery. Zero for both: every failure announced, every answer a recovery."""

    announce_after: timedelta = timedelta(minutes=1)
    recover_after: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class Observed:
    """CCE answered: every workflow the cluster has, the task details asked for, and peers' past task runs."""

    workflows: list[UpgradeWorkflow]
    details: insight.Details = field(default_factory=insight.Details)
    peers: list[timing.Sample] = field(default_factory=list)
    # The cluster's latest failed read the poller remembers (None: none, or none since it started):
    # an outage ends only once that is OutageWindows.recover_after old.
    last_failure: datetime | None = None
    between: between.BetweenData | None = None  # the between-upgrades calls' last answers (None: not read)


@dataclass(frozen=True)
class PollFailed:
    """CCE could not be read. `transient` keeps the last good status; otherwise the user must act."""

    transient: bool
    reason: Reason
    message: str


Outcome = Observed | PollFailed


@dataclass(frozen=True)
class Mirrored:
    """What one poll means for one object: its new status, the Events to post, whether a write is due."""

    status: UpgradeStatus
    events: list[EventIntent] = field(default_factory=list)
    changed: bool = False
    ended: list[TaskView] = field(default_factory=list)  # tasks seen ending in this poll (metrics)
    # The old and new status as JSON (UpgradeStatus.document()), made once to decide `changed` and
    # reused for the merge patch; None when the result was not made by this module.
    documents: tuple[dict[str, object], dict[str, object]] | None = field(default=None, compare=False, repr=False)


def _dump(status: UpgradeStatus | None) -> dict[str, object]:
    """What counts as a change. eventJournal is the write path's record of Events, not an observation."""
    return {} if status is None else status.document()


def _without_sync(document: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in document.items() if key != "lastSyncTime"}


def _versions(status: UpgradeStatus) -> str:
    return f"{status.cluster_version or '?'} to {status.target_version or '?'}"


def _verdict(status: UpgradeStatus, selector_note: str) -> cond.Verdict:
    phase = status.phase
    versions = _versions(status)
    current = view.describe(view.current_task(status.tasks, phase))
    if status.workflow is None:
        return cond.Verdict(
            cond.F, True, False, Reason.NO_WORKFLOW, f"CCE lists no upgrade workflow{selector_note} yet"
        )
    if phase == "Init":
        return cond.Verdict(
            cond.F, True, False, Reason.UPGRADE_INITIALIZING, f"Upgrade {versions} created; no task has started yet"
        )
    if phase == "Running":
        doing = f"task {current}" if current else "between tasks"
        return cond.Verdict(
            cond.F,
            True,
            False,
            Reason.UPGRADE_IN_PROGRESS,
            f"Upgrading {versions}: {doing}, {view.progress_of(status.tasks) or '0/0'} done",
        )
    if phase == "Pending":
        failed = view.failed_task(status.tasks)
        what = f"task {failed.type} failed" if failed else "a task failed"
        return cond.Verdict(
            cond.F,
            False,
            True,
            Reason.UPGRADE_TASK_FAILED,
            f"Upgrade {versions} is blocked: {what}; retry or cancel it in CCE",
        )
    if phase == "Success":
        return cond.Verdict(cond.T, False, False, Reason.UPGRADE_SUCCEEDED, f"Upgraded {versions}")
    if phase == "Cancel":
        return cond.Verdict(cond.F, False, True, Reason.UPGRADE_CANCELLED, f"Upgrade {versions} was cancelled")
    return cond.Verdict(
        cond.U,
        True,
        False,
        Reason.UNRECOGNIZED_PHASE,
        f"CCE reports phase {phase!r}, which this operator does not know; it is mirrored verbatim",
    )


def _selector_note(spec: UpgradeSpec) -> str:
    if spec.workflow and spec.workflow.uid:
        return f" with uid {spec.workflow.uid}"
    if spec.workflow and spec.workflow.target_version:
        return f" to {spec.workflow.target_version}"
    return f" for cluster {spec.cluster_id}"


def _observed_status(workflows: list[UpgradeWorkflow], spec: UpgradeSpec, generation: int | None) -> UpgradeStatus:
    chosen, others = select_workflow(workflows, spec.workflow)
    history = [view.history_entry(w) for w in others[: spec.history_limit]]
    if chosen is None:
        return UpgradeStatus(observed_generation=generation, history=history)
    tasks = view.tasks_of(chosen)
    return UpgradeStatus(
        observed_generation=generation,
        phase=chosen.status.phase,
        workflow=view.workflow_ref(chosen),
        cluster_version=chosen.spec.cluster_version,
        target_version=chosen.spec.target_version,
        progress=view.progress_of(tasks),
        current_task=view.describe(view.current_task(tasks, chosen.status.phase)),
        tasks=tasks,
        lines=view.lines_of(chosen),
        history=history,
    )


_TASK_EVENTS: dict[str, tuple[EventType, Reason, str]] = {
    "Queuing": ("Normal", Reason.TASK_QUEUED, "is queued"),
    "Running": ("Normal", Reason.TASK_STARTED, "started"),
    "Success": ("Normal", Reason.TASK_SUCCEEDED, "succeeded"),
    "Failed": ("Warning", Reason.TASK_FAILED, "failed"),
}


def _task_events(old: UpgradeStatus, new: UpgradeStatus, uid: str) -> list[EventIntent]:
    before = {view.task_key(t): t.status for t in old.tasks}
    events = []
    for task in new.tasks:
        previous = before.get(view.task_key(task), "Init")
        if task.status is None or task.status == previous:
            continue
        kind, reason, verb = _TASK_EVENTS.get(
            task.status, ("Normal", Reason.TASK_STATUS_CHANGED, f"is now {task.status}")
        )
        message = f"Task {task.type} {verb} (workflow {uid}, upgrade {_versions(new)})"
        if task.status == "Failed":
            message += "; see the task's log in the CCE console"
        key = f"task/{uid}/{view.task_key(task)}/{task.status}/{_stamp(task)}/{_revision(old)}"
        events.append(EventIntent(kind, reason, message, key))
    return events


def _stamp(task: TaskView) -> str:
    moments = (task.start_time, task.end_time)
    return "/".join(m.isoformat() if m else "" for m in moments)


def _phase_event(old: UpgradeStatus, new: UpgradeStatus, uid: str) -> EventIntent | None:
    if old.phase == new.phase:
        return None
    versions = _versions(new)
    key = f"phase/{uid}/{old.phase}/{new.phase}/{_revision(old)}"
    if new.phase == "Running":
        reason = Reason.UPGRADE_RESUMED if old.phase == "Pending" else Reason.UPGRADE_STARTED
        return EventIntent(
            "Normal",
            reason,
            f"Upgrade {versions} {'resumed' if reason == Reason.UPGRADE_RESUMED else 'started'} (workflow {uid})",
            key,
        )
    if new.phase == "Pending":
        failed = view.failed_task(new.tasks)
        what = f"task {failed.type} failed" if failed else "a task failed"
        return EventIntent(
            "Warning", Reason.UPGRADE_BLOCKED, f"Upgrade {versions} is blocked: {what} (workflow {uid})", key
        )
    if new.phase == "Success":
        return EventIntent(
            "Normal", Reason.UPGRADE_SUCCEEDED, f"Cluster upgraded from {versions} (workflow {uid})", key
        )
    if new.phase == "Cancel":
        return EventIntent(
            "Warning", Reason.UPGRADE_CANCELLED, f"Upgrade {versions} was cancelled (workflow {uid})", key
        )
    return EventIntent(
        "Normal", Reason.PHASE_CHANGED, f"Workflow {uid} went from phase {old.phase} to {new.phase}", key
    )


# What first sight of a workflow posts besides WorkflowDetected: what a user watching would need
# to hear about the state it is already in. Running: UpgradeStarted (an upgrade is under way now).
# Pending: TaskFailed for each failed task and UpgradeBlocked, the same Warnings as when the failure
# is seen happening. Cancel: UpgradeCancelled (Warning): the object is Stalled and Warning-based
# tools are how users hear of that. Success and Init: nothing more; a success that happened before
# the operator looked is not news, and Ready=True already says so.
_FIRST_SIGHT_PHASES = {"Running", "Pending", "Cancel"}


def _first_sight_events(old: UpgradeStatus, new: UpgradeStatus, uid: str) -> list[EventIntent]:
    message = f"Following upgrade workflow {uid}: {_versions(new)}, phase {new.phase}"
    if old.workflow is not None and old.workflow.uid:
        message += f" (workflow {old.workflow.uid} moved to history)"
    events = [EventIntent("Normal", Reason.WORKFLOW_DETECTED, message, f"detected/{uid}/{_revision(old)}")]
    if new.phase not in _FIRST_SIGHT_PHASES:
        return events
    # Compared with nothing: the tasks and phase in `old` belong to another workflow (or none).
    blank = old.model_copy(update={"tasks": [], "phase": None})
    if new.phase == "Pending":
        events += [e for e in _task_events(blank, new, uid) if e.reason == Reason.TASK_FAILED]
    phase = _phase_event(blank, new, uid)
    if phase is not None:
        events.append(phase)
    return events


def _workflow_events(old: UpgradeStatus, new: UpgradeStatus) -> list[EventIntent]:
    """In causal order: an upgrade starts (or resumes) before its tasks move, and ends after them."""
    if new.workflow is None or new.workflow.uid is None:
        return []
    uid = new.workflow.uid
    if old.workflow is None or old.workflow.uid != uid:
        return _first_sight_events(old, new, uid)
    events = _task_events(old, new, uid)
    phase = _phase_event(old, new, uid)
    if phase is None:
        return events
    return [phase, *events] if new.phase == "Running" else [*events, phase]


def _ready_since(old: UpgradeStatus) -> str:
    ready = cond.find(old.conditions, cond.READY)
    return ready.last_transition_time.isoformat() if ready else "never"


def _revision(old: UpgradeStatus) -> str:
    """What makes a transition unique: the stored status it starts from.

    lastSyncTime moves with every observed change and Ready's transition time with every verdict
    change; both are read from the stored status, so a retry after a crash computes the same key
    while a transition that really happens again (a flapping task) gets a new one.
    """
    synced = old.last_sync_time.isoformat() if old.last_sync_time else "never"
    return f"{synced}/{_ready_since(old)}"


def _recorded_moment(old: UpgradeStatus) -> datetime | None:
    """The latest moment the stored status records: where this poll's Events sort after."""
    moments = [c.last_transition_time for c in old.conditions]
    if old.last_sync_time is not None:
        moments.append(old.last_sync_time)
    return max(moments, default=None)


def _outage_of(old: UpgradeStatus, now: datetime) -> CloudOutage | None:
    """The outage the stored status is in. A status written before outages were recorded says so
    by Ready alone; its CloudAPIError was posted at once, so that outage counts as announced.

    A start later than `now` was stored by a replica whose clock is ahead: it counts as `now` (as
    the Event stage does not follow an Event time ahead of its clock), or the outage would be
    announced only once this clock has caught up, with a start in the future."""
    outage = old.cloud_outage
    if outage is None:
        ready = cond.find(old.conditions, cond.READY)
        if ready is None or ready.reason != Reason.CLOUD_API_UNAVAILABLE:
            return None
        outage = CloudOutage(since=ready.last_transition_time, announced=True)
    if outage.since > now:
        return outage.model_copy(update={"since": now})
    return outage


def failed(
    old: UpgradeStatus | None,
    failure: PollFailed,
    generation: int | None,
    now: datetime,
    windows: OutageWindows = OutageWindows(),
) -> Mirrored:
    """The status after a failed poll: transient keeps everything but Ready; otherwise Stalled."""
    old = old or UpgradeStatus()
    events: list[EventIntent] = []
    if failure.transient:
        reconciling = cond.find(old.conditions, cond.RECONCILING)
        stalled = cond.find(old.conditions, cond.STALLED)
        kept = [c for c in (reconciling, stalled) if c is not None]
        if not kept:  # nothing known yet: say we are still trying
            kept = cond.apply_verdict(
                [], cond.Verdict(cond.U, True, False, failure.reason, failure.message), generation, now
            )[1:]
        ready = cond.set_condition(old.conditions, cond.READY, cond.U, failure.reason, failure.message, generation, now)
        outage = _outage_of(old, now) or CloudOutage(since=now)
        if not outage.announced and now - outage.since >= windows.announce_after:
            outage = outage.model_copy(update={"announced": True})
            events.append(
                EventIntent(
                    "Warning",
                    Reason.CLOUD_API_ERROR,
                    f"CCE API unavailable since {outage.since.isoformat()}, keeping the last known status: "
                    f"{failure.message}",
                    f"cloud-error/{outage.since.isoformat()}",
                )
            )
        status = old.model_copy(update={"conditions": [ready, *kept], "cloud_outage": outage})
    else:
        verdict = cond.Verdict(cond.F, False, True, failure.reason, failure.message)
        previous = cond.find(old.conditions, cond.STALLED)
        status = old.model_copy(
            update={
                "observed_generation": generation,
                "conditions": cond.apply_verdict(old.conditions, verdict, generation, now),
            }
        )
        if previous is None or previous.reason != failure.reason or previous.status != cond.T:
            events.append(EventIntent("Warning", failure.reason, failure.message, f"config/{_revision(old)}"))
    before, after = _dump(old), _dump(status)
    return Mirrored(status, in_causal_order(events, _recorded_moment(old)), after != before, documents=(before, after))


def refused(old: UpgradeStatus | None, message: str, generation: int | None, now: datetime) -> Mirrored:
    """The status to write when the API server refuses the new one for good (or it is over the
    status bound): the last good observation stays, Stalled says why, and one Warning Event."""
    old = old or UpgradeStatus()
    verdict = cond.Verdict(cond.U, False, True, Reason.STATUS_REJECTED, message)
    previous = cond.find(old.conditions, cond.STALLED)
    status = old.model_copy(update={"conditions": cond.apply_verdict(old.conditions, verdict, generation, now)})
    events: list[EventIntent] = []
    if previous is None or previous.reason != Reason.STATUS_REJECTED or previous.status != cond.T:
        events.append(EventIntent("Warning", Reason.STATUS_REJECTED, message, f"status-rejected/{_revision(old)}"))
    before, after = _dump(old), _dump(status)
    return Mirrored(status, in_causal_order(events, _recorded_moment(old)), after != before, documents=(before, after))


def _ended(previous: UpgradeStatus, new: UpgradeStatus) -> list[TaskView]:
    """Tasks of the followed workflow that ended since the stored status (not on first sight)."""
    if previous.workflow is None or new.workflow is None or previous.workflow.uid != new.workflow.uid:
        return []
    before = {view.task_key(t): t.status for t in previous.tasks}
    return [t for t in new.tasks if t.status in insight.ENDED and before.get(view.task_key(t)) != t.status]


ACTIVE_PHASES = frozenset({"Init", "Running"})  # CCE's phases of a workflow under way (Pending: a task failed)


def _insight_of(status: UpgradeStatus) -> insight.Insight:
    return insight.Insight(status.pre_check, status.task_progress, status.eta, status.slow)


def _with_insight(
    previous: UpgradeStatus, new: UpgradeStatus, outcome: Observed, spec: UpgradeSpec, now: datetime
) -> list[EventIntent]:
    """Fills the insight parts of `new` (pre-check, task progress, ETA, slowness); returns their Events."""
    if new.workflow is None:
        return []
    uid = new.workflow.uid
    same = previous.workflow is not None and previous.workflow.uid == uid
    old = _insight_of(previous) if same else insight.Insight()
    basis = timing.Basis(own=timing.samples_of(outcome.workflows, exclude_uid=uid), peers=outcome.peers)
    derived, events = insight.derive(
        old,
        new.tasks,
        uid,
        (new.cluster_version, new.target_version),
        outcome.details,
        basis,
        insight.settings_for(spec),
        now,
        active=new.phase in ACTIVE_PHASES,
    )
    new.pre_check, new.task_progress, new.eta, new.slow = (
        derived.pre_check,
        derived.task_progress,
        derived.eta,
        derived.slow,
    )
    new.progress = timing.progress_text(new.tasks, derived.task_progress)
    return events


def mirror(
    old: UpgradeStatus | None,
    outcome: Outcome,
    spec: UpgradeSpec,
    generation: int | None,
    now: datetime,
    resync: timedelta = DEFAULT_RESYNC,
    windows: OutageWindows = OutageWindows(),
) -> Mirrored:
    """The new status and Events for one object after a poll: pure and deterministic in its inputs.

    A failed read goes to `failed`, which keeps the last good observation; Events come only from
    the difference to `old`, so the same inputs (a retry, a restart) give the same Events, same names.
    """
    previous = old or UpgradeStatus()
    if isinstance(outcome, PollFailed):
        return failed(previous, outcome, generation, now, windows)

    new = _observed_status(outcome.workflows, spec, generation)
    insight_events = _with_insight(previous, new, outcome, spec, now)
    between_events = between.derive(previous, new, outcome.between, spec.cluster_id, now)
    verdict = _verdict(new, _selector_note(spec))
    note = insight.ready_note(_insight_of(new), new.phase) or between.ready_note(new)
    if note:
        verdict = replace(verdict, message=f"{verdict.message}; {note}")
    new.conditions = cond.apply_verdict(previous.conditions, verdict, generation, now)
    events = [*_workflow_events(previous, new), *insight_events, *between_events]
    outage = _outage_of(previous, now)
    recent = outcome.last_failure is not None and now - outcome.last_failure < windows.recover_after
    if outage is not None and recent:
        # CCE answers again, but failed lately: the outage goes on (the data is mirrored as usual).
        # Ready keeps saying so, unchanged, so that a flapping CCE costs no write per answer.
        ready = cond.find(previous.conditions, cond.READY)
        unavailable = ready is not None and ready.reason == Reason.CLOUD_API_UNAVAILABLE
        message = ready.message if ready is not None and unavailable else "CCE API answers again after failing lately"
        unknown = cond.set_condition(
            previous.conditions, cond.READY, cond.U, Reason.CLOUD_API_UNAVAILABLE, message, generation, now
        )
        new.conditions = [unknown, *new.conditions[1:]]
        new.cloud_outage = outage
    elif outage is not None and outage.announced:
        events.insert(
            0,
            EventIntent(
                "Normal",
                Reason.CLOUD_API_RECOVERED,
                "CCE API reachable again; status is current",
                f"cloud-recovered/{outage.since.isoformat()}",
            ),
        )

    # lastSyncTime proves liveness, but rewriting it every poll would cost a write per poll:
    # it moves only when something else changes or once per resync period.
    new.last_sync_time = now
    before, after = _dump(previous), _dump(new)
    changed = _without_sync(after) != _without_sync(before)
    if changed or previous.last_sync_time is None or now - previous.last_sync_time >= resync:
        changed = True
    else:
        new.last_sync_time = previous.last_sync_time
        after = before  # the same document: nothing else changed
    return Mirrored(
        new,
        in_causal_order(events, _recorded_moment(previous)),
        changed,
        _ended(previous, new),
        documents=(before, after),
    )


def suspended(old: UpgradeStatus | None, generation: int | None, now: datetime) -> Mirrored:
    """spec.suspend: nothing is polled; the status says so and keeps the rest of the last observation.

    Suspended is at rest on purpose, so nothing is in progress and nothing failed: Reconciling and
    Stalled are False (reason Suspended), and Ready is kept only when True (a finished upgrade stays
    Ready). A Ready that is not True is withdrawn while suspended: nothing would ever move it, and
    kstatus (Flux) would read it as InProgress until its timeout. Without it kstatus says Current,
    Argo CD says Suspended, and `kubectl wait --for=condition=Ready` keeps waiting (it never passes
    for an upgrade that has not finished). The first poll after resuming sets Ready again.
    """
    previous = old or UpgradeStatus()
    ready = cond.find(previous.conditions, cond.READY)
    kept_ready = [ready] if ready is not None and ready.status == cond.T else []
    message = "Polling is suspended by spec.suspend; the status shows the last observation"
    others = cond.apply_verdict(
        previous.conditions, cond.Verdict(cond.U, False, False, Reason.SUSPENDED, message), generation, now
    )[1:]
    status = previous.model_copy(update={"observed_generation": generation, "conditions": [*kept_ready, *others]})
    before, after = _dump(previous), _dump(status)
    return Mirrored(status, [], after != before, documents=(before, after))
