"""Every condition and Event reason the operator writes: the one place they are defined.

The values are a stable API: alert rules, Argo CD and kstatus checks, event routers and users'
scripts match on them, so a value never changes. The comment beside each member is its meaning in
the generated reference (ccupgrade.reference); the conditions and troubleshooting pages list the
same reasons (tests/unit/test_reasons.py keeps them equal to this enum, one table per group).
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """A condition's or an Event's `reason` (CamelCase, as the API conventions ask).

    A StrEnum: each member *is* its string, so it goes into conditions, Event bodies, Event
    names and metrics labels unchanged, and compares equal to a reason read back from the API.
    """

    # -- the upgrade's state: Ready / Reconciling / Stalled, one per CCE phase ------------------
    UPGRADE_INITIALIZING = "UpgradeInitializing"  # phase Init: created, no task started (Reconciling)
    UPGRADE_IN_PROGRESS = "UpgradeInProgress"  # phase Running: a task runs (Reconciling)
    UPGRADE_TASK_FAILED = "UpgradeTaskFailed"  # phase Pending: a task failed, CCE waits (Stalled)
    UPGRADE_SUCCEEDED = "UpgradeSucceeded"  # phase Success: Ready True; also the Event when it happens
    UPGRADE_CANCELLED = "UpgradeCancelled"  # phase Cancel (Stalled); also the Warning Event
    UNRECOGNIZED_PHASE = "UnrecognizedPhase"  # a phase CCE added later: mirrored verbatim, Ready Unknown
    NO_WORKFLOW = "NoWorkflow"  # CCE lists no workflow (matching spec.workflow) yet (Reconciling)
    CLOUD_API_UNAVAILABLE = "CloudAPIUnavailable"  # CCE down, slow or garbled: Ready Unknown, the rest kept
    SUSPENDED = "Suspended"  # spec.suspend: Reconciling and Stalled False, nothing polled

    # -- configuration problems: Ready False, Stalled True, and one Warning Event each ----------
    SECRET_NOT_FOUND = "SecretNotFound"  # the credentials Secret does not exist
    INVALID_CREDENTIALS = "InvalidCredentials"  # the Secret lacks keys or holds unusable ones
    ENDPOINT_NOT_ALLOWED = "EndpointNotAllowed"  # spec.endpoint is not on --allowed-endpoints
    INVALID_SPEC = "InvalidSpec"  # the object bypassed the schema (older CRD) or its endpoint does not parse
    AUTHENTICATION_FAILED = "AuthenticationFailed"  # CCE/IAM refused the credentials (backed off per credential)
    PERMISSION_DENIED = "PermissionDenied"  # the credentials may not read this cluster's workflows
    CLUSTER_NOT_FOUND = "ClusterNotFound"  # CCE knows no such project/cluster
    REQUEST_REJECTED = "RequestRejected"  # CCE rejected the request as malformed (another 4xx)
    CONFIGURATION_ERROR = "ConfigurationError"  # any other CCE client error the user must fix
    STATUS_REJECTED = "StatusRejected"  # the API server refuses the new status for good (or it is too large)

    # -- Events only: one per real change of the followed workflow --------------------------
    WORKFLOW_DETECTED = "WorkflowDetected"  # first sight of a workflow (new object, new workflow, restart)
    UPGRADE_STARTED = "UpgradeStarted"  # the phase became Running
    UPGRADE_RESUMED = "UpgradeResumed"  # Running again after Pending (a retried task)
    UPGRADE_BLOCKED = "UpgradeBlocked"  # Warning: the phase became Pending
    PHASE_CHANGED = "PhaseChanged"  # any other phase change (a phase this version does not know)
    TASK_QUEUED = "TaskQueued"  # a task became Queuing
    TASK_STARTED = "TaskStarted"  # a task became Running
    TASK_SUCCEEDED = "TaskSucceeded"  # a task became Success
    TASK_FAILED = "TaskFailed"  # Warning: a task became Failed
    TASK_STATUS_CHANGED = "TaskStatusChanged"  # a task took a status this version does not know
    PRE_CHECK_FAILED = "PreCheckFailed"  # Warning: the pre-check ended Failed; lists the first findings
    PRE_CHECK_EXPIRED = "PreCheckExpired"  # Warning: the passed pre-check expired before the upgrade started
    UPGRADE_SLOW = "UpgradeSlow"  # Warning, once per stall: the running task is slower than its ETA or stuck
    CLOUD_API_ERROR = "CloudAPIError"  # Warning, once per outage that lasted (mirror.OutageWindows)
    CLOUD_API_RECOVERED = "CloudAPIRecovered"  # CCE answered steadily again after CloudAPIError
    UPGRADE_AVAILABLE = "UpgradeAvailable"  # CCE offers a version (target or suggested patch) not announced before
