"""When to poll which cluster, shared across the objects that name it, and what to do with the answer.

Other packages import these names from `ccupgrade.scheduler`, never from its modules (an
import-linter contract in pyproject.toml says so).
"""

from ccupgrade.scheduler.intervals import IntervalPolicy, parse_duration
from ccupgrade.scheduler.poller import Scheduler, SchedulerConfig, failure_of
from ccupgrade.scheduler.ports import (
    CredentialSource,
    NoObserver,
    ObjectGone,
    PollObserver,
    StatusRefused,
    StatusSink,
    TaskSource,
    WorkflowSource,
    WriteFailed,
)

__all__ = [
    "CredentialSource",
    "IntervalPolicy",
    "NoObserver",
    "ObjectGone",
    "PollObserver",
    "Scheduler",
    "SchedulerConfig",
    "StatusRefused",
    "StatusSink",
    "TaskSource",
    "WorkflowSource",
    "WriteFailed",
    "failure_of",
    "parse_duration",
]
