"""Data shapes: the CCE API's (tolerant) and the CceClusterUpgrade resource's (strict).

Other packages import these names from `ccupgrade.models`, never from its modules (an
import-linter contract in pyproject.toml says so).
"""

from ccupgrade.models.cce import PointStatus, UpgradeWorkflow, UpgradeWorkflowList
from ccupgrade.models.insight import Eta, Finding, FindingCount, PreCheckView, Slowness, TaskProgress
from ccupgrade.models.limits import (
    CCE_NAME_BYTES,
    CCE_TEXT_BYTES,
    CONDITION_MESSAGE_BYTES,
    EVENT_FIELD_BYTES,
    EVENT_MESSAGE_BYTES,
    MAX_STATUS_BYTES,
    ConditionMessage,
    EventMessage,
    clip_utf8,
)
from ccupgrade.models.reasons import Reason
from ccupgrade.models.resource import (
    DURATION_PATTERN,
    GROUP,
    KIND,
    MAX_RECORDED_EVENTS,
    MIN_POLL_SECONDS,
    PLURAL,
    PRINTER_COLUMNS,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    CceClusterUpgrade,
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
from ccupgrade.models.text import printable
from ccupgrade.models.watched import ObjectRef, PollKey, Watched

__all__ = [
    "CCE_NAME_BYTES",
    "CCE_TEXT_BYTES",
    "CONDITION_MESSAGE_BYTES",
    "DURATION_PATTERN",
    "EVENT_FIELD_BYTES",
    "EVENT_MESSAGE_BYTES",
    "GROUP",
    "KIND",
    "MAX_RECORDED_EVENTS",
    "MAX_STATUS_BYTES",
    "MIN_POLL_SECONDS",
    "PLURAL",
    "PRINTER_COLUMNS",
    "SHORT_NAMES",
    "SINGULAR",
    "VERSION",
    "CceClusterUpgrade",
    "Condition",
    "ConditionMessage",
    "ConditionStatus",
    "Eta",
    "EventMessage",
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
    "clip_utf8",
    "printable",
]
