"""CCE's task detail endpoints the operator reads: one pre-check task, one upgrade task, the snapshot tasks.

The shapes follow the official SDKs' models (huaweicloudsdkcce v3: PrecheckClusterTask,
PreCheckItemStatus, UpgradeTaskResponseBody, SnapshotTask), with the tolerance the workflow models
have: unknown fields are ignored, enum-like values (kind, level, phase, group) stay plain strings so
a value CCE adds later is shown verbatim, and timestamps keep their time of day (the SDK parses them
into dates and drops it). One malformed item in a list is dropped and logged; it never costs the
rest of the body.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from ccupgrade.models.cce import Text, Timestamp

log = logging.getLogger("ccupgrade.cce")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


def _none_as_empty(value: Any) -> Any:
    return {} if value is None else value


def tolerant_items(model: type[BaseModel], value: Any, where: str) -> list[Any]:
    """Each item validated on its own: a bad one is dropped (and logged), the others are kept."""
    if value is None or value == {}:
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        log.warning("CCE sent %s as a JSON %s, not a list; ignoring it", where, type(value).__name__)
        return []
    kept: list[Any] = []
    for index, raw in enumerate(value):
        try:
            kept.append(model.model_validate(raw))
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            place = ".".join(str(p) for p in first["loc"]) or "item"
            log.warning("dropping %s[%d] from CCE's answer: %s: %s", where, index, place, first["msg"])
    return kept


_NUMBER = re.compile(r"^\s*(?P<num>[0-9]+(?:\.[0-9]+)?)\s*%?\s*$")
_FRACTION = re.compile(r"^\s*(?P<done>[0-9]+)\s*/\s*(?P<total>[0-9]+)\s*$")


def parse_percent(value: Any) -> float | None:
    """A task's `progress` as a percentage 0-100: "63", "63%", 63, 63.5 or "5/8"; None if unreadable.

    The SDK types it as a string without saying its form, so every plausible form is read.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        match = _NUMBER.match(value)
        fraction = _FRACTION.match(value)
        if match:
            number = float(match["num"])
        elif fraction and int(fraction["total"]) > 0:
            number = 100.0 * int(fraction["done"]) / int(fraction["total"])
        else:
            return None
    else:
        return None
    if number != number or number < 0:  # NaN or negative
        return None
    return min(number, 100.0)


# -- pre-check ---------------------------------------------------------------------------------------


class NodeInfo(_Model):
    """The node a node-level pre-check stage is about."""

    uid: Text | None = None
    name: Text | None = None
    status: Text | None = None
    node_type: Text | None = Field(default=None, alias="nodeType")


class AddonRisk(_Model):
    """An add-on a pre-check item concerns."""

    addon_template_name: Text | None = Field(default=None, alias="addonTemplateName")
    alias: Text | None = None


class NodeRisk(_Model):
    """A node a pre-check item concerns (by ID)."""

    node_id: Text | None = Field(default=None, alias="NodeID")


class DeprecatedApiRisk(_Model):
    """A call to a deprecated API: its path and the client (user agent) that made it."""

    url: Text | None = None
    user_agent: Text | None = Field(default=None, alias="userAgent")


class RiskSource(_Model):
    """What a pre-check item concerns: add-ons, nodes and deprecated API calls; one malformed entry is left out."""

    addon_risks: list[AddonRisk] = Field(default_factory=list, alias="addonRisks")
    node_risks: list[NodeRisk] = Field(default_factory=list, alias="nodeRisks")
    deprecated_api_risks: list[DeprecatedApiRisk] = Field(default_factory=list, alias="deprecatedAPIRisks")

    @field_validator("deprecated_api_risks", mode="before")
    @classmethod
    def _deprecated(cls, value: Any) -> Any:
        return tolerant_items(DeprecatedApiRisk, value, "riskSource.deprecatedAPIRisks")

    @field_validator("addon_risks", mode="before")
    @classmethod
    def _addons(cls, value: Any) -> Any:
        return tolerant_items(AddonRisk, value, "riskSource.addonRisks")

    @field_validator("node_risks", mode="before")
    @classmethod
    def _nodes(cls, value: Any) -> Any:
        return tolerant_items(NodeRisk, value, "riskSource.nodeRisks")


class PreCheckItem(_Model):
    """One check: `kind` Exception (must be fixed) or Risk (may be skipped); `level` Info/Warning/Fatal."""

    name: Text = Field(min_length=1)
    kind: Text | None = None
    group: Text | None = None
    level: Text | None = None
    phase: Text | None = None
    message: Text | None = None
    risk_source: Annotated[RiskSource, BeforeValidator(_none_as_empty)] = Field(
        default_factory=RiskSource, alias="riskSource"
    )
    error_codes: list[Text] = Field(default_factory=list, alias="errorCodes")

    @field_validator("error_codes", mode="before")
    @classmethod
    def _codes(cls, value: Any) -> Any:
        if value is None:
            return []
        if not isinstance(value, list):
            return [value]
        return [v for v in value if isinstance(v, str | int)]


def _items(value: Any, where: str) -> list[Any]:
    return tolerant_items(PreCheckItem, value, where)


class CheckGroup(_Model):
    """clusterCheckStatus / addonCheckStatus: a phase and the items."""

    phase: Text | None = None
    items: list[PreCheckItem] = Field(default_factory=list, alias="itemsStatus")

    @field_validator("items", mode="before")
    @classmethod
    def _tolerant(cls, value: Any) -> Any:
        return _items(value, "itemsStatus")


class NodeStage(_Model):
    """The pre-check items of one node."""

    node: Annotated[NodeInfo, BeforeValidator(_none_as_empty)] = Field(default_factory=NodeInfo, alias="nodeInfo")
    items: list[PreCheckItem] = Field(default_factory=list, alias="itemsStatus")

    @field_validator("items", mode="before")
    @classmethod
    def _tolerant(cls, value: Any) -> Any:
        return _items(value, "nodeStageStatus.itemsStatus")


class NodeCheckGroup(_Model):
    """The node part of a pre-check: its phase and one stage per node."""

    phase: Text | None = None
    stages: list[NodeStage] = Field(default_factory=list, alias="nodeStageStatus")

    @field_validator("stages", mode="before")
    @classmethod
    def _tolerant(cls, value: Any) -> Any:
        return tolerant_items(NodeStage, value, "nodeStageStatus")


class TaskMetadata(_Model):
    """A task's ID and timestamps."""

    uid: Text | None = None
    creation_timestamp: Timestamp = Field(default=None, alias="creationTimestamp")
    update_timestamp: Timestamp = Field(default=None, alias="updateTimestamp")


class PreCheckSpec(_Model):
    """Which cluster a pre-check ran for and for which upgrade."""

    cluster_id: Text | None = Field(default=None, alias="clusterID")
    cluster_version: Text | None = Field(default=None, alias="clusterVersion")
    target_version: Text | None = Field(default=None, alias="targetVersion")


class PreCheckStatus(_Model):
    """A pre-check's phase, expiry, message and its cluster, add-on and node checks."""

    phase: Text | None = None
    expire_time: Timestamp = Field(default=None, alias="expireTimeStamp")
    message: Text | None = None
    cluster: Annotated[CheckGroup, BeforeValidator(_none_as_empty)] = Field(
        default_factory=CheckGroup, alias="clusterCheckStatus"
    )
    addons: Annotated[CheckGroup, BeforeValidator(_none_as_empty)] = Field(
        default_factory=CheckGroup, alias="addonCheckStatus"
    )
    nodes: Annotated[NodeCheckGroup, BeforeValidator(_none_as_empty)] = Field(
        default_factory=NodeCheckGroup, alias="nodeCheckStatus"
    )


class PreCheckTask(_Model):
    """ShowPreCheckResponse / PrecheckClusterTask."""

    kind: Text | None = None
    api_version: Text | None = Field(default=None, alias="apiVersion")
    metadata: Annotated[TaskMetadata, BeforeValidator(_none_as_empty)] = Field(default_factory=TaskMetadata)
    spec: Annotated[PreCheckSpec, BeforeValidator(_none_as_empty)] = Field(default_factory=PreCheckSpec)
    status: Annotated[PreCheckStatus, BeforeValidator(_none_as_empty)] = Field(default_factory=PreCheckStatus)


# -- upgrade tasks -------------------------------------------------------------------------------------


class UpgradeTaskSpec(_Model):
    """The versions an upgrade task moves between."""

    version: Text | None = None
    target_version: Text | None = Field(default=None, alias="targetVersion")
    items: Any = None  # opaque in the API ("upgrade task attached information"): kept as sent


class ProgressStatus(_Model):
    """UpgradeTaskStatus / SnapshotStatus: phase, progress and completion time."""

    phase: Text | None = None
    progress_raw: Text | None = Field(default=None, alias="progress")
    completion_time: Timestamp = Field(default=None, alias="completionTime")

    @property
    def percent(self) -> float | None:
        """The task's own progress as a number (CCE sends `63`, `63%` or `2/4`), or None if it is none of those."""
        return parse_percent(self.progress_raw)


class UpgradeTask(_Model):
    """UpgradeTaskResponseBody / ShowUpgradeClusterTaskResponse."""

    kind: Text | None = None
    api_version: Text | None = Field(default=None, alias="apiVersion")
    metadata: Annotated[TaskMetadata, BeforeValidator(_none_as_empty)] = Field(default_factory=TaskMetadata)
    spec: Annotated[UpgradeTaskSpec, BeforeValidator(_none_as_empty)] = Field(default_factory=UpgradeTaskSpec)
    status: Annotated[ProgressStatus, BeforeValidator(_none_as_empty)] = Field(default_factory=ProgressStatus)


# -- master snapshot tasks -----------------------------------------------------------------------------


class SnapshotItem(_Model):
    """SnapshotSpecItems: one sub-task (type master-backup, master-backup-rollback, or as CCE says)."""

    id: Text | None = None
    type: Text | None = None
    status: Text | None = None
    creation_timestamp: Timestamp = Field(default=None, alias="creationTimestamp")
    update_timestamp: Timestamp = Field(default=None, alias="updateTimestamp")
    message: Text | None = None


class SnapshotSpec(_Model):
    """The sub-tasks of a master snapshot task; one malformed item is left out."""

    items: list[SnapshotItem] = Field(default_factory=list)

    @field_validator("items", mode="before")
    @classmethod
    def _tolerant(cls, value: Any) -> Any:
        return tolerant_items(SnapshotItem, value, "spec.items")


class SnapshotTask(_Model):
    """One master snapshot (backup) task, taken before the control plane is upgraded."""

    kind: Text | None = None
    api_version: Text | None = Field(default=None, alias="apiVersion")
    metadata: Annotated[TaskMetadata, BeforeValidator(_none_as_empty)] = Field(default_factory=TaskMetadata)
    spec: Annotated[SnapshotSpec, BeforeValidator(_none_as_empty)] = Field(default_factory=SnapshotSpec)
    status: Annotated[ProgressStatus, BeforeValidator(_none_as_empty)] = Field(default_factory=ProgressStatus)


class SnapshotListStatus(_Model):
    """When the cluster's masters were last backed up."""

    latest_backup_time: Timestamp = Field(default=None, alias="latestBackupTime")


class SnapshotTaskList(_Model):
    """ListClusterMasterSnapshotTasksResponse (served under /api/v3.1)."""

    kind: Text | None = None
    api_version: Text | None = Field(default=None, alias="apiVersion")
    items: list[SnapshotTask] = Field(default_factory=list)
    status: Annotated[SnapshotListStatus, BeforeValidator(_none_as_empty)] = Field(default_factory=SnapshotListStatus)

    @field_validator("items", mode="before")
    @classmethod
    def _tolerant(cls, value: Any) -> Any:
        return tolerant_items(SnapshotTask, value, "items")


class PreCheckTaskList(_Model):
    """ListPreCheckTasksResponse: every pre-check of the cluster, from workflows or run on their own."""

    kind: Text | None = None
    api_version: Text | None = Field(default=None, alias="apiVersion")
    items: list[PreCheckTask] = Field(default_factory=list)

    @field_validator("items", mode="before")
    @classmethod
    def _tolerant(cls, value: Any) -> Any:
        return tolerant_items(PreCheckTask, value, "items")


# -- between upgrades: the cluster's version and the endpoint's upgrade paths ----------------------------


def _strings(value: Any) -> Any:
    """A list of version strings: scalars kept (as text), anything else left out; one string is a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        return []
    return [str(v) for v in value if isinstance(v, str | int | float) and not isinstance(v, bool)]


class VersionInfo(_Model):
    """UpgradeVersionInfo: the release and patch the cluster runs, the suggested patch, the targets."""

    release: Text | None = None
    patch: Text | None = None
    suggest_patch: Text | None = Field(default=None, alias="suggestPatch")
    target_versions: Annotated[list[str], BeforeValidator(_strings)] = Field(
        default_factory=list, alias="targetVersions"
    )


class LastUpgrade(_Model):
    """UpgradeInfoStatus: the last upgrade's phase, progress and end."""

    phase: Text | None = None
    progress: Text | None = None
    completion_time: Timestamp = Field(default=None, alias="completionTime")


class UpgradeInfoSpec(_Model):
    """UpgradeInfoSpec: the version part and the last upgrade (feature gates are not read)."""

    version_info: Annotated[VersionInfo, BeforeValidator(_none_as_empty)] = Field(
        default_factory=VersionInfo, alias="versionInfo"
    )
    last_upgrade: Annotated[LastUpgrade, BeforeValidator(_none_as_empty)] = Field(
        default_factory=LastUpgrade, alias="lastUpgradeInfo"
    )


class UpgradeInfo(_Model):
    """ShowClusterUpgradeInfoResponse."""

    kind: Text | None = None
    api_version: Text | None = Field(default=None, alias="apiVersion")
    spec: Annotated[UpgradeInfoSpec, BeforeValidator(_none_as_empty)] = Field(default_factory=UpgradeInfoSpec)


class UpgradePath(_Model):
    """UpgradePath: from `version` (v1.28, or v1.19.16-r20 for old releases) to each target version."""

    version: Text = Field(min_length=1)
    platform_version: Text | None = Field(default=None, alias="platformVersion")
    target_versions: Annotated[list[str], BeforeValidator(_strings)] = Field(
        default_factory=list, alias="targetVersions"
    )


class UpgradePathList(_Model):
    """ListClusterUpgradePathsResponse (per endpoint, not per cluster); a malformed path is left out."""

    kind: Text | None = None
    api_version: Text | None = Field(default=None, alias="apiVersion")
    paths: list[UpgradePath] = Field(default_factory=list, alias="upgradePaths")

    @field_validator("paths", mode="before")
    @classmethod
    def _tolerant(cls, value: Any) -> Any:
        return tolerant_items(UpgradePath, value, "upgradePaths")
