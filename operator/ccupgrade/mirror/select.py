"""Which workflow an object follows, out of all a cluster has had."""

from __future__ import annotations

from datetime import UTC, datetime

from ccupgrade.models import UpgradeWorkflow, WorkflowSelector

_EPOCH = datetime.min.replace(tzinfo=UTC)


def newest_first(workflows: list[UpgradeWorkflow]) -> list[UpgradeWorkflow]:
    """By creation time, then update time, then uid: a total order, so the choice is stable."""
    return sorted(
        workflows,
        key=lambda w: (
            w.metadata.creation_timestamp or _EPOCH,
            w.metadata.update_timestamp or _EPOCH,
            w.metadata.uid or "",
        ),
        reverse=True,
    )


def select_workflow(
    workflows: list[UpgradeWorkflow], selector: WorkflowSelector | None
) -> tuple[UpgradeWorkflow | None, list[UpgradeWorkflow]]:
    """(the followed workflow or None, every other workflow newest first)."""
    ordered = newest_first(workflows)
    chosen: UpgradeWorkflow | None = None
    if selector is not None and selector.uid:
        chosen = next((w for w in ordered if w.metadata.uid == selector.uid), None)
    elif selector is not None and selector.target_version:
        chosen = next((w for w in ordered if w.spec.target_version == selector.target_version), None)
    elif ordered:
        chosen = ordered[0]
    return chosen, [w for w in ordered if w is not chosen]
