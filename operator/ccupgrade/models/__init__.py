"""Data shapes: the CCE API's (tolerant) and the CceClusterUpgrade resource's (strict).

Other packages import these names from `ccupgrade.models`, never from its modules (an
import-linter contract in pyproject.toml says so).
"""

from ccupgrade.models.cce import PointStatus, UpgradeWorkflow, UpgradeWorkflowList
from ccupgrade.models.insight import Eta, Finding, FindingCount, PreCheckView, Slowness, TaskProgress
from ccupgrade.models.reasons import Reason
from ccupgrade.models.resource import (
    DURATION_PATTERN,
    GROUP,
    ID_PATTERN,
    KIND,
    MAX_RECORDED_EVENTS,
    MIN_POLL_SECONDS,
    PLURAL,
    PRINTER_COLUMNS,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    CceClusterUpgrade,
    CloudOutage,
    Condition,
    ConditionStatus,
    HistoryEntry,
    LineView,
    RecordedEvent,
    TaskView,
    UpgradeSpec,
    UpgradeStatus,
    WorkflowRef,
    WorkflowSelector,
)
from ccupgrade.models.tasks import (
    PreCheckItem,
    PreCheckTask,
    SnapshotTask,
    SnapshotTaskList,
    UpgradeTask,
)
from ccupgrade.models.watched import ObjectRef, PollKey, Watched

__all__ = [
    "DURATION_PATTERN",
    "GROUP",
    "ID_PATTERN",
    "KIND",
    "MAX_RECORDED_EVENTS",
    "MIN_POLL_SECONDS",
    "PLURAL",
    "PRINTER_COLUMNS",
    "SHORT_NAMES",
    "SINGULAR",
    "VERSION",
    "CceClusterUpgrade",
    "CloudOutage",
    "Condition",
    "ConditionStatus",
    "Eta",
    "Finding",
    "FindingCount",
    "HistoryEntry",
    "LineView",
    "ObjectRef",
    "PointStatus",
    "PollKey",
    "PreCheckItem",
    "PreCheckTask",
    "PreCheckView",
    "Reason",
    "RecordedEvent",
    "Slowness",
    "SnapshotTask",
    "SnapshotTaskList",
    "TaskProgress",
    "TaskView",
    "UpgradeSpec",
    "UpgradeStatus",
    "UpgradeTask",
    "UpgradeWorkflow",
    "UpgradeWorkflowList",
    "Watched",
    "WorkflowRef",
    "WorkflowSelector",
]
