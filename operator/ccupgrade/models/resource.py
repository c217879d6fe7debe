"""The CceClusterUpgrade resource. The CRD in crds/ is generated from these models (ccupgrade.crd)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

from ccupgrade.models.between_status import AvailableUpgrades
from ccupgrade.models.insight_status import Eta, PreCheckView, Slowness, TaskProgress
from ccupgrade.models.limits import LINES_CAP, TASKS_CAP, CceName, ConditionMessage, EventMessage

GROUP = "ccupgrade.dev"
VERSION = "v1alpha1"
KIND = "CceClusterUpgrade"
PLURAL = "cceclusterupgrades"
SINGULAR = "cceclusterupgrade"
SHORT_NAMES = ["ccupgrade", "ccupgrades"]

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
MIN_POLL_SECONDS = 5  # the shortest pollInterval (the CRD rule below) and --resync
DEFAULT_RESYNC = timedelta(minutes=10)  # --resync: the poll interval once an upgrade is over
DEFAULT_POLL_INTERVAL = "30s"  # spec.pollInterval when the object does not set it
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
ID_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9_-]{0,62}[A-Za-z0-9])?$"
REGION_PATTERN = r"^[a-z]{2,}(-[a-z]+)+-[0-9]+$"
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
# scheme://host[:port][/]: host made of DNS labels (1-63 characters, no empty label) and a port in
# 1-65535, so what the API server accepts is also what a URL parser and a resolver accept.
ENDPOINT_PATTERN = rf"^https?://{_LABEL}(\.{_LABEL})*(:{_PORT})?/?$"
REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


def _cel(rule: str, message: str, field_path: str | None = None) -> JsonDict:
    validation: JsonDict = {"rule": rule, "message": message}
    if field_path:
        validation["fieldPath"] = field_path
    return validation


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class CredentialsSecretRef(_Model):
    """The Secret holding the CCE credentials, in the object's namespace; its keys choose how to log in."""

    name: Annotated[
        str,
        Field(
            min_length=1,
            max_length=253,
            pattern=NAME_PATTERN,
            description=(
                "Secret in this object's namespace. Its keys choose the authentication: `token`; or "
                "`accessKey` + `secretKey` (+ `securityToken` for temporary keys); or `username` + "
                "`password` + `domainName`."
            ),
        ),
    ]


class WorkflowSelector(_Model):
    """Which of the cluster's upgrade workflows to follow: one by uid, or the newest to a version."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "!(has(self.uid) && has(self.targetVersion))",
                    "set at most one of workflow.uid and workflow.targetVersion",
                )
            ]
        }
    )
    uid: str | None = Field(default=None, min_length=1, max_length=64, description="Follow exactly this workflow.")
    target_version: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^v[0-9]+\.[0-9]+(\.[0-9]+)?(-[A-Za-z0-9.]+)?$",
        description="Follow the newest workflow upgrading to this version (for example v1.19.16-r80).",
    )


class UpgradeSpec(_Model):
    """Which CCE cluster to follow, where its API is, with which credentials and how often to poll."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "has(self.region) != has(self.endpoint)",
                    "set exactly one of region (for example ap-southeast-1) or endpoint",
                ),
                _cel(
                    f"duration(self.pollInterval) >= duration('{MIN_POLL_SECONDS}s')",
                    f"pollInterval must be at least {MIN_POLL_SECONDS}s",
                    ".pollInterval",
                ),
                _cel(
                    "duration(self.pollInterval) <= duration('24h')",
                    "pollInterval must be at most 24h",
                    ".pollInterval",
                ),
            ]
        }
    )
    region: str | None = Field(
        default=None,
        max_length=64,
        pattern=REGION_PATTERN,
        description="Huawei Cloud region; the CCE endpoint is derived from it.",
    )
    endpoint: str | None = Field(
        default=None,
        max_length=253,
        pattern=ENDPOINT_PATTERN,
        description="Custom CCE endpoint URL; accepted only if the operator's allow-list permits it.",
    )
    project_id: str = Field(max_length=64, pattern=ID_PATTERN, description="The account's project ID.")
    cluster_id: str = Field(max_length=64, pattern=ID_PATTERN, description="The CCE cluster ID.")
    credentials_secret_ref: CredentialsSecretRef = Field(description="Where the CCE credentials are.")
    workflow: WorkflowSelector | None = Field(
        default=None,
        description="Which upgrade workflow to follow; by default the newest by creation time.",
    )
    poll_interval: str = Field(
        default=DEFAULT_POLL_INTERVAL,
        pattern=DURATION_PATTERN,
        max_length=32,
        description="How often to poll while an upgrade is active (Go duration, at least 5s).",
    )
    suspend: bool = Field(default=False, description="Stop polling; the status stays as it is.")
    history_limit: int = Field(
        default=5, ge=0, le=50, description="How many previous workflows to keep in status.history."
    )
    stall_after: str = Field(
        default="15m",
        pattern=DURATION_PATTERN,
        max_length=32,
        description=(
            "A running task whose progress has not moved for this long, or that runs this long past twice "
            "its usual time, is reported slow (Warning Event UpgradeSlow; Ready stays False). Go duration."
        ),
    )


class ConditionStatus(StrEnum):
    """A condition's status, as metav1.Condition allows it."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(_Model):
    """metav1.Condition, as the API conventions define it."""

    type: str = Field(max_length=316, description="Ready, Reconciling or Stalled.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="The .metadata.generation this condition was computed from."
    )
    last_transition_time: datetime = Field(description="When status last changed.")
    reason: str = Field(min_length=1, max_length=1024, pattern=REASON_PATTERN, description="CamelCase cause.")
    message: ConditionMessage = Field(default="", max_length=32768, description="What happened, for humans.")


class WorkflowRef(_Model):
    """The workflow being followed: its CCE ID and timestamps."""

    uid: CceName | None = Field(default=None, description="The workflow's ID in CCE.")
    created: datetime | None = Field(default=None, description="When CCE created the workflow.")
    updated: datetime | None = Field(default=None, description="When CCE last updated the workflow.")


class TaskView(_Model):
    """One task of the followed workflow, as CCE reports it."""

    type: CceName = Field(description="PreCheck, Snapshot, Cluster, PostCheck, Rollback, or as CCE says.")
    id: CceName | None = Field(default=None, description="The task's ID in CCE.")
    status: CceName | None = Field(default=None, description="Init, Queuing, Running, Success, Failed, or as CCE says.")
    start_time: datetime | None = Field(default=None, description="When the task started.")
    end_time: datetime | None = Field(default=None, description="When the task ended.")
    expire_time: datetime | None = Field(default=None, description="When the task's result expires.")


class LineView(_Model):
    """One edge of the workflow graph: a task that runs after another."""

    from_: CceName = Field(alias="from", description="The task type this edge starts at.")
    to: CceName = Field(description="The task type this edge ends at.")
    critical: bool | None = Field(
        default=None, description="While a critical line has not run, the upgrade cannot be cancelled."
    )


class HistoryEntry(_Model):
    """A workflow no longer followed (an earlier upgrade), as it last was."""

    uid: CceName | None = Field(default=None, description="The workflow's ID in CCE.")
    phase: CceName | None = Field(default=None, description="Its last phase.")
    cluster_version: CceName | None = Field(default=None, description="The version it upgraded from.")
    target_version: CceName | None = Field(default=None, description="The version it upgraded to.")
    created: datetime | None = Field(default=None, description="When CCE created it.")
    updated: datetime | None = Field(default=None, description="When CCE last updated it.")


class RecordedEvent(_Model):
    """One Event of the status's last change, written with the status before the Event is posted.

    A restarted operator re-posts these (same name: 409 when already there), so an Event is not
    lost when the operator dies between the status write and its Events."""

    name: str = Field(max_length=253, description="The Event's name (deterministic).")
    type: str = Field(max_length=16, description="Normal or Warning.")
    reason: str = Field(max_length=128, description="The Event's reason.")
    message: EventMessage = Field(max_length=1024, description="The Event's message.")
    event_time: datetime = Field(description="The Event's eventTime (microseconds; orders the Events).")


MAX_RECORDED_EVENTS = 32


class CloudOutage(_Model):
    """A CCE outage as this object saw it, from its first failed read until CCE has answered
    steadily again. Ready is Unknown from the first failure; a CloudAPIError Event announces the
    outage only once it has lasted, and CloudAPIRecovered follows only an announced one. A CCE
    that fails every other read is one outage, not one per failure."""

    since: datetime = Field(description="When the reads began to fail.")
    announced: bool = Field(default=False, description="Whether a CloudAPIError Event announced it.")


class UpgradeStatus(_Model):
    """The followed upgrade workflow mirrored from CCE, with kstatus conditions."""

    observed_generation: int | None = Field(default=None, description="The generation last acted on.")
    phase: CceName | None = Field(
        default=None,
        description="The workflow phase verbatim from CCE (Init, Running, Pending, Success, Cancel).",
    )
    workflow: WorkflowRef | None = Field(default=None, description="The workflow being followed.")
    cluster_version: CceName | None = Field(default=None, description="The version being upgraded from.")
    target_version: CceName | None = Field(default=None, description="The version being upgraded to.")
    progress: CceName | None = Field(
        default=None,
        description="Succeeded tasks over all tasks, with the running task's own percentage when CCE gives one: "
        "2/4 · 63%.",
    )
    current_task: CceName | None = Field(default=None, description="The task running now (or the one that failed).")
    tasks: Annotated[list[TaskView], TASKS_CAP] = Field(default_factory=list, description="Every task of the workflow.")
    lines: Annotated[list[LineView], LINES_CAP] = Field(
        default_factory=list, description="The edges of the workflow graph."
    )
    history: list[HistoryEntry] = Field(
        default_factory=list, description="Previous workflows, newest first, at most spec.historyLimit."
    )
    pre_check: PreCheckView | None = Field(
        default=None, description="The PreCheck task in detail: its findings that matter, and whether it expired."
    )
    task_progress: TaskProgress | None = Field(
        default=None, description="The running Cluster or Snapshot task's own progress."
    )
    eta: Eta | None = Field(default=None, description="When the running task and the workflow should end.")
    slow: Slowness | None = Field(default=None, description="Set while the running task is slower than it should be.")
    available: AvailableUpgrades | None = Field(
        default=None,
        description="Between upgrades: the cluster's version, the targets CCE offers and the newest reachable "
        "(read only while no upgrade runs).",
    )
    latest_pre_check: PreCheckView | None = Field(
        default=None,
        description="The cluster's newest pre-check, also one run from the console with no workflow (read only "
        "while no upgrade runs).",
    )
    last_sync_time: datetime | None = Field(default=None, description="When CCE was last read successfully.")
    cloud_outage: CloudOutage | None = Field(
        default=None, description="Set while CCE fails or has failed lately (Ready is then Unknown)."
    )
    conditions: list[Condition] = Field(default_factory=list, description="Ready, Reconciling and Stalled.")
    event_journal: list[RecordedEvent] | None = Field(
        default=None,
        max_length=MAX_RECORDED_EVENTS,
        description="The Events of the last change that may not be posted yet (re-posted after a restart).",
    )

    # kubectl and the CRD generator read these; they are not fields.
    list_map_keys: ClassVar[dict[str, list[str]]] = {"conditions": ["type"]}

    def document(self) -> dict[str, object]:
        """The status as stored (JSON, camelCase, no nulls) but for `eventJournal`: what the mirror
        compares to decide a change, and what the status write patches (the journal is added there)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"event_journal"})


class CceClusterUpgrade(_Model):
    """Follows one CCE cluster's upgrade workflow and mirrors it into status."""

    api_version: str = Field(default=f"{GROUP}/{VERSION}")
    kind: str = Field(default=KIND)
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: UpgradeSpec
    status: UpgradeStatus | None = None


PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Cluster", "type": "string", "jsonPath": ".spec.clusterId"},
    {"name": "Target", "type": "string", "jsonPath": ".status.targetVersion"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Progress", "type": "string", "jsonPath": ".status.progress"},
    {"name": "ETA", "type": "string", "jsonPath": ".status.eta.text"},
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    # The version the followed workflow upgrades from: after a successful upgrade the cluster runs
    # Target, not this, so it is not called "Current".
    {"name": "From", "type": "string", "jsonPath": ".status.clusterVersion", "priority": 1},
    # Between upgrades: what the cluster runs and the newest version it can reach.
    {"name": "Version", "type": "string", "jsonPath": ".status.available.currentVersion", "priority": 1},
    {"name": "Newest", "type": "string", "jsonPath": ".status.available.newestVersion", "priority": 1},
    {"name": "Task", "type": "string", "jsonPath": ".status.currentTask", "priority": 1},
    {
        "name": "Message",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].message',
        "priority": 1,
    },
]
