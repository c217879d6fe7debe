"""A CCE workflow as the status fields that show it."""

from __future__ import annotations

from ccupgrade.models import HistoryEntry, LineView, PointStatus, TaskView, UpgradeWorkflow, WorkflowRef

RUNNING, QUEUING, SUCCESS, FAILED = "Running", "Queuing", "Success", "Failed"


def task_key(task: TaskView) -> str:
    """What identifies a task across polls: its ID, or its type when CCE gives no ID."""
    return task.id or task.type


def tasks_of(workflow: UpgradeWorkflow) -> list[TaskView]:
    """status.tasks: every point of the workflow, in CCE's order."""
    return [_task(point) for point in workflow.status.point_statuses]


def _task(point: PointStatus) -> TaskView:
    return TaskView(
        type=point.task_type,
        id=point.task_id,
        status=point.status,
        start_time=point.start_time,
        end_time=point.end_time,
        expire_time=point.expire_time,
    )


def lines_of(workflow: UpgradeWorkflow) -> list[LineView]:
    """status.lines: the edges of the workflow graph, left out when CCE names neither end."""
    return [
        LineView(from_=line.start_point or "", to=line.end_point or "", critical=line.critical)
        for line in workflow.status.line_statuses
        if line.start_point or line.end_point
    ]


def progress_of(tasks: list[TaskView]) -> str | None:
    """`succeeded/all` (`2/4`), or None for a workflow without tasks."""
    if not tasks:
        return None
    return f"{sum(1 for t in tasks if t.status == SUCCESS)}/{len(tasks)}"


def failed_task(tasks: list[TaskView]) -> TaskView | None:
    """The first failed task, which is what blocks a Pending workflow."""
    return next((t for t in tasks if t.status == FAILED), None)


def current_task(tasks: list[TaskView], phase: str | None) -> TaskView | None:
    """The task a human wants to see: the failed one when blocked, else the running, else the queued."""
    if phase == "Pending":
        failed = failed_task(tasks)
        if failed is not None:
            return failed
    for wanted in (RUNNING, QUEUING):
        found = next((t for t in tasks if t.status == wanted), None)
        if found is not None:
            return found
    return None


def describe(task: TaskView | None) -> str | None:
    """`Type (Status)`, as status.currentTask shows a task."""
    return None if task is None else f"{task.type} ({task.status or 'unknown'})"


def workflow_ref(workflow: UpgradeWorkflow) -> WorkflowRef:
    """status.workflow: which workflow is followed, with CCE's timestamps."""
    return WorkflowRef(
        uid=workflow.metadata.uid,
        created=workflow.metadata.creation_timestamp,
        updated=workflow.metadata.update_timestamp,
    )


def history_entry(workflow: UpgradeWorkflow) -> HistoryEntry:
    """One status.history entry: a workflow no longer followed, as it last was."""
    return HistoryEntry(
        uid=workflow.metadata.uid,
        phase=workflow.status.phase,
        cluster_version=workflow.spec.cluster_version,
        target_version=workflow.spec.target_version,
        created=workflow.metadata.creation_timestamp,
        updated=workflow.metadata.update_timestamp,
    )
