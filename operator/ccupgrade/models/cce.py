"""The CCE upgrade-workflow API's shapes, tolerant of what real responses do.

Real responses differ from the reference page: `items` may be one object instead of a list,
every field but `taskType` may be missing, timestamps come in Go's `time.String()` form,
`critical` is a string or a boolean, and new enum values appear. All of that is accepted here;
enum-like values stay plain strings so a value CCE adds tomorrow is mirrored, not rejected.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

# Go's time.Time.String(): "2023-11-24 08:39:15.894417 +0000 UTC", maybe with " m=+0.000123".
_GO_TIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[ T](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,9}))?"
    r"(?:\s*(?P<offset>Z|[+-]\d{2}:?\d{2}))?(?:\s+[A-Za-z]{1,5})?(?:\s+m=[+-][0-9.]+)?$"
)


def parse_timestamp(value: Any) -> datetime | None:
    """Any timestamp CCE sends, as an aware UTC datetime; None when absent or unreadable.

    Unreadable becomes None rather than an error: one garbled time must not hide a whole workflow.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    match = _GO_TIME.match(value.strip())
    if not match:
        return None
    frac = (match["frac"] or "0")[:6].ljust(6, "0")
    offset = match["offset"] or "+0000"
    if offset == "Z":
        offset = "+0000"
    offset = offset.replace(":", "")
    try:
        parsed = datetime.strptime(f"{match['date']} {match['time']}.{frac} {offset}", "%Y-%m-%d %H:%M:%S.%f %z")
    except ValueError:
        return None
    return parsed.astimezone(UTC)


def _text(value: Any) -> Any:
    """Scalars become strings (a numeric ID is still an ID); structures stay and fail validation."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return value


def _optional_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"true", "yes", "1"}:
            return True
        if lowered in {"false", "no", "0"}:
            return False
    return None


Text = Annotated[str, BeforeValidator(_text)]
Timestamp = Annotated[datetime | None, BeforeValidator(parse_timestamp)]
LooseBool = Annotated[bool | None, BeforeValidator(_optional_bool)]


def _none_as_empty(value: Any) -> Any:
    return {} if value is None else value


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class PointStatus(_Model):
    task_type: Text = Field(alias="taskType", min_length=1)
    task_id: Text | None = Field(default=None, alias="taskID")
    status: Text | None = None
    start_time: Timestamp = Field(default=None, alias="startTimeStamp")
    end_time: Timestamp = Field(default=None, alias="endTimeStamp")
    expire_time: Timestamp = Field(default=None, alias="expireTimeStamp")


class LineStatus(_Model):
    start_point: Text | None = Field(default=None, alias="startPoint")
    end_point: Text | None = Field(default=None, alias="endPoint")
    critical: LooseBool = None

    @field_validator("start_point", "end_point", mode="before")
    @classmethod
    def _task_type_of(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return value.get("taskType")
        return value


class WorkflowMetadata(_Model):
    uid: Text | None = None
    name: Text | None = None
    annotations: dict[str, Text] = Field(default_factory=dict)
    creation_timestamp: Timestamp = Field(default=None, alias="creationTimestamp")
    update_timestamp: Timestamp = Field(default=None, alias="updateTimestamp")

    @field_validator("annotations", mode="before")
    @classmethod
    def _annotations(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else {}


class WorkflowSpec(_Model):
    cluster_id: Text | None = Field(default=None, alias="clusterID")
    cluster_version: Text | None = Field(default=None, alias="clusterVersion")
    target_version: Text | None = Field(default=None, alias="targetVersion")


class WorkflowStatus(_Model):
    phase: Text | None = None
    point_statuses: list[PointStatus] = Field(default_factory=list, alias="pointStatuses")
    line_statuses: list[LineStatus] = Field(default_factory=list, alias="lineStatuses")

    @field_validator("point_statuses", "line_statuses", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class UpgradeWorkflow(_Model):
    kind: Text | None = None
    api_version: Text | None = Field(default=None, alias="apiVersion")
    metadata: Annotated[WorkflowMetadata, BeforeValidator(_none_as_empty)] = Field(default_factory=WorkflowMetadata)
    spec: Annotated[WorkflowSpec, BeforeValidator(_none_as_empty)] = Field(default_factory=WorkflowSpec)
    status: Annotated[WorkflowStatus, BeforeValidator(_none_as_empty)] = Field(default_factory=WorkflowStatus)


class UpgradeWorkflowList(_Model):
    kind: Text | None = None
    api_version: Text | None = Field(default=None, alias="apiVersion")
    items: list[UpgradeWorkflow] = Field(default_factory=list)

    @field_validator("items", mode="before")
    @classmethod
    def _items_as_list(cls, value: Any) -> Any:
        if value is None or value == {}:
            return []
        if isinstance(value, dict):
            return [value]  # the reference page's own example sends a single object
        return value
