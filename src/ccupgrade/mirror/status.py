"""A CCE workflow as the status fields that show it."""

from __future__ import annotations

from ccupgrade.models.cce import PointStatus, UpgradeWorkflow
from ccupgrade.models.resource import HistoryEntry, LineView, TaskView, WorkflowRef

RUNNING, QUEUING, SUCCESS, FAILED = "Running", "Queuing", "Success", "Failed"


def task_key(task: TaskView) -> str:
    return task.id or task.type


def tasks_of(workflow: UpgradeWorkflow) -> list[TaskView]:
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
    return [
        LineView(from_=line.start_point or "", to=line.end_point or "", critical=line.critical)
        for line in workflow.status.line_statuses
        if line.start_point or line.end_point
    ]


def progress_of(tasks: list[TaskView]) -> str | None:
    if not tasks:
        return None
    return f"{sum(1 for t in tasks if t.status == SUCCESS)}/{len(tasks)}"


def failed_task(tasks: list[TaskView]) -> TaskView | None:
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
    return None if task is None else f"{task.type} ({task.status or 'unknown'})"


def workflow_ref(workflow: UpgradeWorkflow) -> WorkflowRef:
    return WorkflowRef(
        uid=workflow.metadata.uid,
        created=workflow.metadata.creation_timestamp,
        updated=workflow.metadata.update_timestamp,
    )


def history_entry(workflow: UpgradeWorkflow) -> HistoryEntry:
    return HistoryEntry(
        uid=workflow.metadata.uid,
        phase=workflow.status.phase,
        cluster_version=workflow.spec.cluster_version,
        target_version=workflow.spec.target_version,
        created=workflow.metadata.creation_timestamp,
        updated=workflow.metadata.update_timestamp,
    )
